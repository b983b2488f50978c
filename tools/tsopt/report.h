// The JSON report of a run (--report): a contract users script against, see docs/cli.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "passes/core/pass_manager.h"

namespace tsopt::cli {

/// Where the wall time of a run went, in ms: the phases a user waits for.
struct Phases {
  double load = 0;             ///< loading the model
  double passes = 0;           ///< the passes themselves
  double checks = 0;           ///< checking the IR after each pass
  double instrumentation = 0;  ///< dumps, printing, per-pass verification, progress
  double overhead = 0;         ///< the rest of the pass manager's time (node counts, snapshots)
  double verify = 0;           ///< verifying the result, bisection included
  double save = 0;             ///< serializing and writing the model
  double reports = 0;          ///< the JSON and HTML reports, pictures
  double total = 0;            ///< the whole command
  /// Fills passes, checks, instrumentation and overhead from a pass manager's run.
  void addRun(const RunResult& result);
};

/// The report of a finished run; the sizes are in bytes.
nlohmann::json makeReport(const std::string& input, const std::string& output,
                          const std::string& pipeline, const std::vector<std::string>& methods,
                          const RunResult& result, const Phases& phases, uint64_t inputBytes,
                          uint64_t outputBytes);

/// The operator libraries loaded, as [{"path", "reason"}] ("asked for", or the operator that
/// needed it).
nlohmann::json operatorLibrariesJson();

/// The phases by name ("load", "passes", ...), in the order they run, "total" last.
std::vector<std::pair<std::string, double>> phaseList(const Phases& phases);

/// Phases as JSON: {"load_ms": ..., ...}.
nlohmann::json phasesJson(const Phases& phases);

}  // namespace tsopt::cli
