// Runs a pipeline over the chosen methods of a module, with instrumentation hooks around each
// pass, a check of the IR after each pass, and a record per pass for reports.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passes/core/pipeline.h"

namespace tsopt {

/// What one execution of one pass did, summed over all methods.
struct PassRecord {
  std::string name;       ///< the pass name
  std::string spec;       ///< the pass as pipeline text, options included
  int64_t iteration = 0;  ///< inside a fixed-point group: 1, 2, ...; 0 at top level
  bool changed = false;
  double ms = 0;       ///< wall time of the pass itself (hooks and checks excluded)
  double checkMs = 0;  ///< wall time of checking the IR after it
  int64_t nodesBefore = 0, nodesAfter = 0;  ///< recursive node counts over all methods
  std::map<std::string, int64_t> stats;
  bool failed = false;  ///< the pass threw or left an invalid graph, and was skipped (keep-going)
  std::string error;    ///< why, if it failed
};

/// Where a pass runs: its index in execution order and its place in the pipeline.
struct PassRunInfo {
  size_t index = 0;       ///< 0-based, in execution order (counting repetitions)
  int64_t iteration = 0;  ///< as in PassRecord
};

/// Observer of a run. Dumps, timers and reports attach here; passes know nothing of them.
class PassInstrumentation {
 public:
  virtual ~PassInstrumentation() = default;
  virtual void beforePass(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                          torch::jit::Module& /*module*/,
                          const std::vector<std::string>& /*methods*/) {}
  virtual void afterPass(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                         const PassRecord& /*record*/, torch::jit::Module& /*module*/,
                         const std::vector<std::string>& /*methods*/) {}
  /// The pass threw or left an invalid graph; `message` is what the run will throw.
  virtual void onFailure(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                         const std::string& /*message*/) {}
};

/// Result of PassManager::run.
struct RunResult {
  std::vector<PassRecord> passes;
  double totalMs = 0;                 ///< the whole run: passes, checks, instrumentation
  double hooksMs = 0;                 ///< of which in instrumentation hooks
  std::vector<std::string> warnings;  ///< e.g. a fixed-point group that did not converge
};

/// How the IR is checked after every pass.
enum class IrCheck {
  None,  ///< not at all
  Fast,  ///< findGraphDefect (linear in the graph; the default)
  Full,  ///< findGraphDefect and LibTorch's Graph::lint() (which grows faster than the graph)
};

/// Runs a pipeline. Not thread-safe; one run at a time.
class PassManager {
 public:
  explicit PassManager(Pipeline pipeline) : pipeline_(std::move(pipeline)) {}

  /// How to check the IR after every pass (default IrCheck::Fast).
  void setIrCheck(IrCheck check) { irCheck_ = check; }
  /// Execute only the first `n` passes (in execution order, repetitions counted) and skip the
  /// rest, like LLVM's -opt-bisect-limit. Unlimited by default.
  void setPassLimit(size_t n) { passLimit_ = n; }
  /// On a pass that throws or leaves an invalid graph, restore the module as it was before the
  /// pass, record the failure (PassRecord::failed, a warning) and go on, instead of throwing.
  /// Costs a serialization of the module before every pass.
  void setKeepGoing(bool on) { keepGoing_ = on; }
  void addInstrumentation(std::shared_ptr<PassInstrumentation> inst) {
    instrumentations_.push_back(std::move(inst));
  }
  const Pipeline& pipeline() const { return pipeline_; }

  /// Runs the pipeline on `methods` of `module`. Throws tsopt::Error naming the failing pass.
  RunResult run(torch::jit::Module& module, const std::vector<std::string>& methods);

 private:
  bool runElements(std::vector<PipelineElement>& elements, int64_t iteration,
                   torch::jit::Module& module, const std::vector<std::string>& methods,
                   RunResult& result);
  bool runPass(Pass& pass, int64_t iteration, torch::jit::Module& module,
               const std::vector<std::string>& methods, RunResult& result);
  /// Runs `pass` over the module or each method; the failure in words, or "".
  std::string runAndCheck(Pass& pass, torch::jit::Module& module,
                          const std::vector<std::string>& methods, PassRecord& rec,
                          Statistics& stats, std::vector<std::string>& warnings);
  /// The defect the IR check finds in `method`'s graph after `pass`, in words, or "".
  std::string check(const Pass& pass, const torch::jit::Module& module, const std::string& method,
                    PassRecord& rec) const;

  Pipeline pipeline_;
  IrCheck irCheck_ = IrCheck::Fast;
  size_t passLimit_ = SIZE_MAX;
  bool keepGoing_ = false;
  std::vector<std::shared_ptr<PassInstrumentation>> instrumentations_;
  size_t executed_ = 0;
};

/// The graph of `method` of `module`; throws tsopt::Error listing the methods if it is missing.
std::shared_ptr<torch::jit::Graph> methodGraph(const torch::jit::Module& module,
                                               const std::string& method);

}  // namespace tsopt
