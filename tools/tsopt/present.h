// How the command line presents things: progress on a terminal, a run's outcome (timings,
// statistics, the verdict, the summary line), and the flags that change the library's settings.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "engine/run.h"
#include "passes/core/error.h"

namespace tsopt::cli {

/// The flag that changes `setting`, in brackets as an error message ends with it; "" for none.
/// The library's message says what to do; this says where.
std::string flagFor(Setting setting);

/// One line on a terminal saying what runs now; nothing when stderr is not a terminal.
class Progress : public PassInstrumentation {
 public:
  Progress();
  ~Progress() override { clear(); }
  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& module,
                  const std::vector<std::string>& methods) override;
  /// Shows `what` ("saving") as what runs now.
  void say(const std::string& what);
  /// Removes the line.
  void clear();

 private:
  bool on_;
  bool shown_ = false;
};

/// What of a run's outcome `tsopt run` shows, besides warnings and verdicts.
struct OutcomeDisplay {
  bool timings = false;  ///< --time-passes
  bool stats = false;    ///< --stats
  bool quiet = false;    ///< -q: no summary on success
  std::string files;     ///< ", report.json, report.html": what else was written
  std::string goldenDir;
};

/// Prints a run's outcome: warnings, timings and statistics if asked, the verdicts on stderr, and
/// on success one summary line on stdout.
void printOutcome(const RunOutcome& out, const OutcomeDisplay& show);

}  // namespace tsopt::cli
