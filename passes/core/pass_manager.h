// Runs a pipeline over the chosen methods of a module: for each pass, the instrumentations' before
// hooks, the pass, a check of the IR, the after hooks. Everything else a run may want (node counts,
// keep-going snapshots, IR printing, dumps) is an instrumentation attached only when asked for.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passes/core/error.h"
#include "passes/core/pipeline.h"

namespace tsopt {

/// What one execution of one pass did, summed over all methods.
struct PassRecord {
  size_t index = 0;       ///< 0-based, in execution order (counting repetitions)
  std::string name;       ///< the pass name
  std::string spec;       ///< the pass as pipeline text, options included
  int64_t iteration = 0;  ///< inside a fixed-point group: 1, 2, ...; 0 at top level
  /// What the pass returned; an instrumentation that sees more (StageIr: the canonical IR
  /// differs) may set it in afterPass, and every later hook and the fixed-point loop see that.
  bool changed = false;
  double ms = 0;       ///< wall time of the pass itself (hooks and checks excluded)
  double checkMs = 0;  ///< wall time of checking the IR after it
  /// Recursive node counts over all methods; -1 unless a NodeCounts instrumentation ran.
  int64_t nodesBefore = -1, nodesAfter = -1;
  std::map<std::string, int64_t> stats;
  bool failed = false;  ///< the pass threw or left an invalid graph, and was skipped (keep-going)
  std::string error;    ///< why, if it failed
};

/// Where a pass runs: its index in execution order and its place in the pipeline.
struct PassRunInfo {
  size_t index = 0;       ///< 0-based, in execution order (counting repetitions)
  int64_t iteration = 0;  ///< as in PassRecord
};

/// Observer of a run. Dumps, timers and reports attach here; passes know nothing of them. Hooks
/// run in the order the instrumentations were added.
class PassInstrumentation {
 public:
  virtual ~PassInstrumentation() = default;
  /// Once, before the first pass of PassManager::run.
  virtual void beforeRun(torch::jit::Module& /*module*/,
                         const std::vector<std::string>& /*methods*/) {}
  virtual void beforePass(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                          torch::jit::Module& /*module*/,
                          const std::vector<std::string>& /*methods*/) {}
  /// After the pass and the check of its IR. `record` is complete but for what later
  /// instrumentations add; one may refine it (see PassRecord::changed, nodesAfter).
  virtual void afterPass(const Pass& /*pass*/, const PassRunInfo& /*info*/, PassRecord& /*record*/,
                         torch::jit::Module& /*module*/,
                         const std::vector<std::string>& /*methods*/) {}
  /// The pass threw or left an invalid graph; `message` says so. Returns true if this
  /// instrumentation recovered: `module` is restored as it was before the pass, and the run goes
  /// on (the record is marked failed). If none recovers, the run throws `message`.
  virtual bool onFailure(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                         const std::string& /*message*/, torch::jit::Module& /*module*/) {
    return false;
  }
};

/// Result of PassManager::run.
struct RunResult {
  std::vector<PassRecord> passes;
  double totalMs = 0;                 ///< the whole run: passes, checks, instrumentation
  double hooksMs = 0;                 ///< of which in instrumentation hooks
  std::vector<std::string> warnings;  ///< e.g. a fixed-point group that did not converge
};

/// What PassManager::run throws when a pass throws or leaves an invalid graph and no
/// instrumentation recovers: the message, and which pass it was.
class PassFailure : public Error {
 public:
  PassFailure(const std::string& message, size_t index, std::string name, std::string spec,
              bool threw)
      : Error(message), index(index), name(std::move(name)), spec(std::move(spec)), threw(threw) {}
  size_t index;      ///< of the pass, in execution order
  std::string name;  ///< the pass's name
  std::string spec;  ///< the pass as pipeline text, options included
  bool threw;        ///< the pass threw (else it left an invalid graph or lost a method)
};

/// How the IR is checked after every pass.
enum class IrCheck {
  None,  ///< not at all
  Fast,  ///< findGraphDefect (linear in the graph; the default)
  Full,  ///< findGraphDefect and LibTorch's Graph::lint() (which grows faster than the graph)
};

/// The check named "fast", "full" or "none"; throws tsopt::Error for another name.
IrCheck parseIrCheck(const std::string& name);
/// "fast", "full" or "none".
const char* irCheckName(IrCheck check);

/// Runs a pipeline. Not thread-safe; one run at a time.
class PassManager {
 public:
  explicit PassManager(Pipeline pipeline) : pipeline_(std::move(pipeline)) {}

  /// How to check the IR after every pass (default IrCheck::Fast).
  void setIrCheck(IrCheck check) { irCheck_ = check; }
  /// Execute only the first `n` passes (in execution order, repetitions counted) and skip the
  /// rest, like LLVM's -opt-bisect-limit. Unlimited by default.
  void setPassLimit(size_t n) { passLimit_ = n; }
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
  /// Runs `pass` over the module or each method and checks the IR; the failure in words, or ""
  /// (`threw` says whether the pass threw).
  std::string runAndCheck(Pass& pass, torch::jit::Module& module,
                          const std::vector<std::string>& methods, PassRecord& rec,
                          Statistics& stats, std::vector<std::string>& warnings, bool& threw);
  template <typename Hook>
  void eachInstrumentation(RunResult& result, Hook&& hook);
  /// The defect the IR check finds in `method`'s graph after `pass`, in words, or "".
  std::string check(const Pass& pass, const torch::jit::Module& module, const std::string& method,
                    PassRecord& rec) const;

  Pipeline pipeline_;
  IrCheck irCheck_ = IrCheck::Fast;
  size_t passLimit_ = SIZE_MAX;
  std::vector<std::shared_ptr<PassInstrumentation>> instrumentations_;
  size_t executed_ = 0;
};

/// The graph of `method` of `module`; throws tsopt::Error listing the methods if it is missing.
std::shared_ptr<torch::jit::Graph> methodGraph(const torch::jit::Module& module,
                                               const std::string& method);

}  // namespace tsopt
