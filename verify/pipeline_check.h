// Finding the pass that changed a model's numbers: verifying after every pass of a run, or
// bisecting the pipeline over growing prefixes (LLVM's opt-bisect, for TorchScript).
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "passes/core/pass_manager.h"
#include "verify/verifier.h"

namespace tsopt {

/// The verdict after one pass: its place in execution order and what the check found.
struct PassCheck {
  size_t index = 0;
  VerifyResult result;
};

/// Instrumentation that saves, reloads and verifies the module after every pass.
class VerifyEachPass : public PassInstrumentation {
 public:
  explicit VerifyEachPass(const Verifier& verifier) : verifier_(verifier) {}
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;
  const std::vector<PassCheck>& checks() const { return checks_; }
  /// The first pass after which the outputs differ, if any.
  std::optional<size_t> firstFailing() const;

 private:
  const Verifier& verifier_;
  std::vector<PassCheck> checks_;
};

/// One step of a bisection: the outputs after the first `passes` passes.
struct BisectStep {
  size_t passes = 0;
  bool passed = false;
  double errorRatio = 0;  ///< the largest error over what the rules accept (VerifyResult)
};

/// Where a bisection ended.
struct BisectResult {
  /// The model with no pass run (saved and reloaded) already differs: the model is
  /// nondeterministic or does not survive saving, and no pass is to blame.
  bool baselineDiffers = false;
  std::optional<size_t> firstFailing;  ///< execution index of the pass after which outputs differ
  std::vector<BisectStep> steps;
};

/// Bisects a pipeline whose full run of `executedPasses` passes differs: runs the pipeline on
/// fresh models limited to a prefix of its passes and verifies each, binary-searching for a
/// prefix that passes followed by one that does not. `freshModel` loads the input model;
/// `freshPipeline` parses the pipeline anew (passes may keep state).
BisectResult bisectPipeline(const std::function<torch::jit::Module()>& freshModel,
                            const std::function<Pipeline()>& freshPipeline,
                            const std::vector<std::string>& methods, size_t executedPasses,
                            const Verifier& verifier);

}  // namespace tsopt
