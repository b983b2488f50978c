// PassManager: executes pipelines and fixed-point groups, runs graph passes on each method and
// module passes once, checks the IR after each, and calls the instrumentations around them.
#include "passes/core/pass_manager.h"

#include <chrono>

#include "passes/core/error.h"
#include "passes/core/interrupt.h"
#include "passes/core/ir_check.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

std::shared_ptr<torch::jit::Graph> methodGraph(const torch::jit::Module& module,
                                               const std::string& method) {
  if (auto m = module.find_method(method)) {
    return m->graph();
  }
  std::string names;
  for (const auto& m : module.get_methods()) names += (names.empty() ? "" : ", ") + m.name();
  throw Error("the model has no method '" + method + "' (it has: " + names + ")");
}

RunResult PassManager::run(torch::jit::Module& module, const std::vector<std::string>& methods) {
  for (const std::string& m : methods) methodGraph(module, m);  // fail early on a bad name
  RunResult result;
  executed_ = 0;
  auto start = Clock::now();
  eachInstrumentation(result, [&](PassInstrumentation& i) { i.beforeRun(module, methods); });
  runElements(pipeline_.elements, 0, module, methods, result);
  result.totalMs = msSince(start);
  return result;
}

bool PassManager::runElements(std::vector<PipelineElement>& elements, int64_t iteration,
                              torch::jit::Module& module, const std::vector<std::string>& methods,
                              RunResult& result) {
  bool changed = false;
  for (PipelineElement& e : elements) {
    if (!e.isGroup()) {
      changed |= runPass(*e.pass, iteration, module, methods, result);
      continue;
    }
    bool converged = false;
    for (int64_t i = 1; i <= e.maxIterations; ++i) {
      if (!runElements(e.group, i, module, methods, result)) {
        converged = true;
        break;
      }
      changed = true;
    }
    if (!converged) {
      result.warnings.push_back(e.str() + " still changed the graph after " +
                                std::to_string(e.maxIterations) +
                                " iterations; raise max-iterations if this is expected");
    }
  }
  return changed;
}

template <typename Hook>
void PassManager::eachInstrumentation(RunResult& result, Hook&& hook) {
  auto start = Clock::now();
  for (auto& inst : instrumentations_) hook(*inst);
  result.hooksMs += msSince(start);
}

bool PassManager::runPass(Pass& pass, int64_t iteration, torch::jit::Module& module,
                          const std::vector<std::string>& methods, RunResult& result) {
  if (executed_ >= passLimit_) return false;
  checkInterrupt();
  PassRunInfo info{executed_++, iteration};
  PassRecord rec;
  rec.index = info.index;
  rec.name = pass.name();
  rec.spec = pass.str();
  rec.iteration = iteration;
  eachInstrumentation(result,
                      [&](PassInstrumentation& i) { i.beforePass(pass, info, module, methods); });

  Statistics stats;
  bool threw = false;
  std::string failure = runAndCheck(pass, module, methods, rec, stats, result.warnings, threw);
  if (!failure.empty()) {
    bool recovered = false;
    eachInstrumentation(result, [&](PassInstrumentation& i) {
      recovered = i.onFailure(pass, info, failure, module) || recovered;
    });
    if (!recovered) throw PassFailure(failure, info.index, rec.name, rec.spec, threw);
    rec.changed = false;
    rec.failed = true;
    rec.error = failure;
    result.warnings.push_back(failure + "; skipped (keep-going): the model is as before it");
  }
  rec.stats = stats.all();
  eachInstrumentation(
      result, [&](PassInstrumentation& i) { i.afterPass(pass, info, rec, module, methods); });
  result.passes.push_back(rec);
  return rec.changed;
}

std::string PassManager::runAndCheck(Pass& pass, torch::jit::Module& module,
                                     const std::vector<std::string>& methods, PassRecord& rec,
                                     Statistics& stats, std::vector<std::string>& warnings,
                                     bool& threw) {
  if (pass.kind() == Pass::Kind::Module) {
    std::vector<std::string> said;
    ModulePassContext ctx{methods, stats, said};
    auto start = Clock::now();
    try {
      rec.changed = static_cast<ModulePass&>(pass).run(module, ctx);
    } catch (const std::exception& e) {
      threw = true;
      return "pass '" + pass.name() + "' failed: " + describeException(e);
    }
    rec.ms = msSince(start);
    for (const std::string& w : said) warnings.push_back("pass '" + pass.name() + "': " + w);
    for (const std::string& method : methods) {
      if (!module.find_method(method)) {
        return "pass '" + pass.name() + "' left no method '" + method + "' in the model";
      }
      std::string defect = check(pass, module, method, rec);
      if (!defect.empty()) return defect;
    }
    return "";
  }
  for (const std::string& method : methods) {
    checkInterrupt();
    std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
    PassContext ctx{module, method, methods, stats};
    auto start = Clock::now();
    try {
      rec.changed |= static_cast<GraphPass&>(pass).run(graph, ctx);
    } catch (const std::exception& e) {
      threw = true;
      return "pass '" + pass.name() + "' failed on method '" + method +
             "': " + describeException(e);
    }
    rec.ms += msSince(start);
    std::string defect = check(pass, module, method, rec);
    if (!defect.empty()) return defect;
  }
  return "";
}

std::string PassManager::check(const Pass& pass, const torch::jit::Module& module,
                               const std::string& method, PassRecord& rec) const {
  if (irCheck_ == IrCheck::None) return "";
  auto start = Clock::now();
  std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
  std::string why = findGraphDefect(*graph);
  if (why.empty() && irCheck_ == IrCheck::Full) {
    try {
      graph->lint();
    } catch (const std::exception& e) {
      why = "Graph::lint() failed: " + describeException(e);
    }
  }
  rec.checkMs += msSince(start);
  if (why.empty()) return "";
  return "pass '" + pass.name() + "' left an invalid graph in method '" + method + "': " + why;
}

IrCheck parseIrCheck(const std::string& name) {
  for (IrCheck c : {IrCheck::Fast, IrCheck::Full, IrCheck::None}) {
    if (name == irCheckName(c)) return c;
  }
  throw Error("unknown lint '" + name + "' (known: fast, full, none)");
}

const char* irCheckName(IrCheck check) {
  switch (check) {
    case IrCheck::None:
      return "none";
    case IrCheck::Fast:
      return "fast";
    case IrCheck::Full:
      return "full";
  }
  return "?";
}

}  // namespace tsopt
