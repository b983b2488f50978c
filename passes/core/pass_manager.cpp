// PassManager: executes pipelines, fixed-point groups, verification and instrumentation.
#include "passes/core/pass_manager.h"

#include <chrono>

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int64_t countAll(const torch::jit::Module& module, const std::vector<std::string>& methods) {
  int64_t n = 0;
  for (const std::string& m : methods) n += countNodes(methodGraph(module, m)->block());
  return n;
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

bool PassManager::runPass(Pass& pass, int64_t iteration, torch::jit::Module& module,
                          const std::vector<std::string>& methods, RunResult& result) {
  if (executed_ >= passLimit_) return false;
  PassRunInfo info{executed_++, iteration};
  PassRecord rec;
  rec.name = pass.name();
  rec.spec = pass.str();
  rec.iteration = iteration;
  rec.nodesBefore = countAll(module, methods);
  for (auto& inst : instrumentations_) inst->beforePass(pass, info, module, methods);
  const std::string snapshot = keepGoing_ ? serializeModule(module) : std::string();

  Statistics stats;
  double ms = 0;
  std::string failure;
  for (const std::string& method : methods) {
    std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
    PassContext ctx{module, method, methods, stats};
    auto start = Clock::now();
    try {
      rec.changed |= pass.run(graph, ctx);
    } catch (const std::exception& e) {
      failure =
          "pass '" + pass.name() + "' failed on method '" + method + "': " + describeException(e);
      break;
    }
    ms += msSince(start);
    if (lintEach_) {
      try {
        graph->lint();
      } catch (const std::exception& e) {
        std::string why = explainInvalidGraph(*graph);
        failure = "pass '" + pass.name() + "' left an invalid graph in method '" + method +
                  "': " + (why.empty() ? describeException(e) : why);
        break;
      }
    }
  }
  if (!failure.empty()) {
    for (auto& inst : instrumentations_) inst->onFailure(pass, info, failure);
    if (!keepGoing_) throw Error(failure);
    module = deserializeModule(snapshot, "the model as it was before pass '" + pass.name() + "'");
    rec.changed = false;
    rec.failed = true;
    rec.error = failure;
    result.warnings.push_back(failure + "; skipped (keep-going): the model is as before it");
  }
  rec.ms = ms;
  rec.nodesAfter = countAll(module, methods);
  rec.stats = stats.all();
  for (auto& inst : instrumentations_) inst->afterPass(pass, info, rec, module, methods);
  result.passes.push_back(rec);
  return rec.changed;
}

}  // namespace tsopt
