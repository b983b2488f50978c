// The HTML report of a run (--html): one self-contained page with the pipeline, a table of the
// passes, every pass's IR diff, the interactive viewer with the graph before and after each pass,
// and the verdict.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ir_dump/stages.h"
#include "ir_dump/viewer_page.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

/// Everything the page shows.
struct HtmlReport {
  std::string input, output, pipeline;
  std::vector<std::string> methods;
  RunResult run;
  std::vector<PassDiff> diffs;  ///< from a StageRecorder that keeps diffs
  ViewerData views;             ///< the first method's graph, from a GraphViewRecorder
  nlohmann::json verify;        ///< the report's "verify" object, or null
  /// The whole run's wall time (loading, passes, verification, saving), as the CLI's summary
  /// and the JSON report's phases.total_ms say it; the passes' own time is in `run`.
  double totalMs = 0;
  /// Nodes of the methods with every call inlined, in the input and in the result.
  int64_t nodesBefore = 0, nodesAfter = 0;
};

/// The page: no scripts or styles from elsewhere, no external files.
std::string renderHtmlReport(const HtmlReport& report);

}  // namespace tsopt
