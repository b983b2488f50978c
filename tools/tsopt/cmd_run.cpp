// `tsopt run`: load, run a pipeline over the chosen methods, save atomically, report.
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/plugin.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/report.h"

namespace tsopt::cli {

namespace {

struct RunArgs {
  std::string input, output, pipeline = kDefaultPipeline, report;
  std::vector<std::string> methods, plugins;
  bool noVerifyEach = false, timePasses = false, stats = false, inPlace = false, quiet = false;
};

std::string passLabel(const PassRecord& r) {
  return r.iteration ? r.spec + " [iter " + std::to_string(r.iteration) + "]" : r.spec;
}

void printTimings(const RunResult& result, std::ostream& os) {
  os << "===-- tsopt pass timing (wall, ms) --===\n";
  os << std::setw(10) << "ms" << std::setw(8) << "%" << std::setw(16) << "nodes"
     << "  pass\n";
  for (const PassRecord& r : result.passes) {
    double pct = result.totalMs > 0 ? 100.0 * r.ms / result.totalMs : 0;
    std::ostringstream nodes;
    nodes << r.nodesBefore << "->" << r.nodesAfter;
    os << std::fixed << std::setprecision(3) << std::setw(10) << r.ms << std::setprecision(1)
       << std::setw(7) << pct << "%" << std::setw(16) << nodes.str() << "  " << passLabel(r)
       << "\n";
  }
  os << std::fixed << std::setprecision(3) << std::setw(10) << result.totalMs
     << "  total (including verification and instrumentation)\n";
}

void printStats(const RunResult& result, std::ostream& os) {
  os << "===-- tsopt pass statistics --===\n";
  for (const PassRecord& r : result.passes) {
    os << passLabel(r) << ":" << (r.changed ? "" : " (no change)");
    for (const auto& [k, v] : r.stats) os << " " << k << "=" << v;
    os << "\n";
  }
}

int runCommand(const RunArgs& a) {
  loadPlugins(a.plugins);
  if (sameFile(a.input, a.output) && !a.inPlace) {
    throw Error("output '" + a.output + "' is the input model; pass --in-place to overwrite it");
  }
  checkWritable(a.output);
  if (!a.report.empty()) checkWritable(a.report);
  Pipeline pipeline = parsePipeline(resolvePipelineArgument(a.pipeline));
  std::string pipelineText = pipeline.str();
  std::vector<std::string> methods =
      a.methods.empty() ? std::vector<std::string>{"forward"} : a.methods;

  torch::jit::Module module = loadModule(a.input);
  PassManager pm(std::move(pipeline));
  pm.setVerifyEach(!a.noVerifyEach);
  RunResult result = pm.run(module, methods);
  saveModuleAtomic(module, a.output);
  if (!a.report.empty()) {
    writeFileAtomic(a.report,
                    makeReport(a.input, a.output, pipelineText, methods, result).dump(2) + "\n");
  }

  for (const std::string& w : result.warnings) std::cerr << "tsopt: warning: " << w << "\n";
  if (a.timePasses) printTimings(result, std::cerr);
  if (a.stats) printStats(result, std::cerr);
  if (!a.quiet) {
    int64_t before = result.passes.empty() ? 0 : result.passes.front().nodesBefore;
    int64_t after = result.passes.empty() ? 0 : result.passes.back().nodesAfter;
    std::cout << "tsopt: " << pipelineText << ": " << before << " -> " << after << " nodes in "
              << std::fixed << std::setprecision(1) << result.totalMs << " ms; wrote " << a.output
              << (a.report.empty() ? "" : " and " + a.report) << "\n";
  }
  return kOk;
}

}  // namespace

Command addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", "Run a pass pipeline over a model and save the result");
  run->add_option("input", args->input, "TorchScript model (.pt)")->required();
  run->add_option("-o,--output", args->output, "where to save the transformed model")->required();
  run->add_option("-p,--pipeline", args->pipeline, "pipeline text, or @FILE to read it from a file")
      ->default_str(kDefaultPipeline);
  run->add_option("--method", args->methods, "method to transform (repeatable; default forward)");
  run->add_option("--report", args->report, "write a JSON report of the run here");
  run->add_option("--plugin", args->plugins, "load passes from this shared library (repeatable)");
  run->add_flag("--no-verify-each", args->noVerifyEach, "skip Graph::lint() after each pass");
  run->add_flag("--time-passes", args->timePasses, "print per-pass wall time to stderr");
  run->add_flag("--stats", args->stats, "print per-pass statistics to stderr");
  run->add_flag("--in-place", args->inPlace, "allow the output to be the input model");
  run->add_flag("-q,--quiet", args->quiet, "print nothing on success");
  return [args] { return runCommand(*args); };
}

void loadPlugins(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) loadPlugin(p);
}

}  // namespace tsopt::cli
