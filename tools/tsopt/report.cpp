// Building the JSON run report.
#include "tools/tsopt/report.h"

#include <torch/version.h>

#include "passes/core/op_library.h"

namespace tsopt::cli {

void Phases::addRun(const RunResult& result) {
  for (const PassRecord& r : result.passes) {
    passes += r.ms;
    checks += r.checkMs;
  }
  instrumentation += result.hooksMs;
  overhead += result.totalMs - passes - checks - result.hooksMs;
}

std::vector<std::pair<std::string, double>> phaseList(const Phases& p) {
  return {{"load", p.load},         {"passes", p.passes},
          {"checks", p.checks},     {"instrumentation", p.instrumentation},
          {"overhead", p.overhead}, {"verify", p.verify},
          {"save", p.save},         {"reports", p.reports},
          {"total", p.total}};
}

nlohmann::json phasesJson(const Phases& phases) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, ms] : phaseList(phases)) j[name + "_ms"] = ms;
  return j;
}

nlohmann::json operatorLibrariesJson() {
  nlohmann::json out = nlohmann::json::array();
  for (const OperatorLibrary& lib : loadedOperatorLibraries()) {
    out.push_back({{"path", lib.path}, {"reason", lib.reason}});
  }
  return out;
}

nlohmann::json makeReport(const std::string& input, const std::string& output,
                          const std::string& pipeline, const std::vector<std::string>& methods,
                          const RunResult& result, const Phases& phases, uint64_t inputBytes,
                          uint64_t outputBytes) {
  nlohmann::json passes = nlohmann::json::array();
  for (const PassRecord& r : result.passes) {
    passes.push_back({{"name", r.name},
                      {"spec", r.spec},
                      {"iteration", r.iteration},
                      {"changed", r.changed},
                      {"ms", r.ms},
                      {"check_ms", r.checkMs},
                      {"nodes_before", r.nodesBefore},
                      {"nodes_after", r.nodesAfter},
                      {"stats", r.stats},
                      {"failed", r.failed}});
    if (r.failed) passes.back()["error"] = r.error;
  }
  return {{"tsopt_version", "0.1.0"},
          {"torch_version", TORCH_VERSION},
          {"input", input},
          {"output", output},
          {"pipeline", pipeline},
          {"method", methods.front()},
          {"methods", methods},
          {"total_ms", result.totalMs},
          {"phases", phasesJson(phases)},
          {"input_bytes", inputBytes},
          {"operator_libraries", operatorLibrariesJson()},
          {"output_bytes", outputBytes},
          {"passes", passes},
          {"warnings", result.warnings}};
}

}  // namespace tsopt::cli
