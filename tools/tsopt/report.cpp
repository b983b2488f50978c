// Building the JSON run report.
#include "tools/tsopt/report.h"

#include <torch/version.h>

namespace tsopt::cli {

nlohmann::json makeReport(const std::string& input, const std::string& output,
                          const std::string& pipeline, const std::vector<std::string>& methods,
                          const RunResult& result) {
  nlohmann::json passes = nlohmann::json::array();
  for (const PassRecord& r : result.passes) {
    passes.push_back({{"name", r.name},
                      {"spec", r.spec},
                      {"iteration", r.iteration},
                      {"changed", r.changed},
                      {"ms", r.ms},
                      {"nodes_before", r.nodesBefore},
                      {"nodes_after", r.nodesAfter},
                      {"stats", r.stats},
                      {"failed", r.failed}});
    if (r.failed) passes.back()["error"] = r.error;
  }
  return {{"tsopt_version", "0.1.0"}, {"torch_version", TORCH_VERSION},
          {"input", input},           {"output", output},
          {"pipeline", pipeline},     {"method", methods.front()},
          {"methods", methods},       {"total_ms", result.totalMs},
          {"passes", passes},         {"warnings", result.warnings}};
}

}  // namespace tsopt::cli
