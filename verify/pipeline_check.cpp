// Verify-each instrumentation and pipeline bisection.
#include "verify/pipeline_check.h"

namespace tsopt {

void VerifyEachPass::afterPass(const Pass& /*pass*/, const PassRunInfo& info,
                               PassRecord& /*record*/, torch::jit::Module& module,
                               const std::vector<std::string>& /*methods*/) {
  checks_.push_back({info.index, verifier_.check(roundTrip(module))});
}

std::optional<size_t> VerifyEachPass::firstFailing() const {
  for (const PassCheck& c : checks_) {
    if (!c.result.passed) return c.index;
  }
  return std::nullopt;
}

BisectResult bisectPipeline(const std::function<torch::jit::Module()>& freshModel,
                            const std::function<Pipeline()>& freshPipeline,
                            const std::vector<std::string>& methods, size_t executedPasses,
                            const Verifier& verifier) {
  BisectResult r;
  auto passesWith = [&](size_t limit) {
    torch::jit::Module m = freshModel();
    PassManager pm(freshPipeline());
    pm.setPassLimit(limit);
    pm.run(m, methods);
    VerifyResult result = verifier.check(roundTrip(m));
    r.steps.push_back({limit, result.passed, result.errorRatio});
    return result.passed;
  };
  if (!passesWith(0)) {
    r.baselineDiffers = true;
    return r;
  }
  if (executedPasses == 0) return r;  // nothing ran, yet the result differed: nondeterminism
  // Invariant: the first `good` passes keep the outputs, the first `bad` do not.
  size_t good = 0, bad = executedPasses;
  while (bad - good > 1) {
    size_t mid = good + (bad - good) / 2;
    (passesWith(mid) ? good : bad) = mid;
  }
  r.firstFailing = bad - 1;
  return r;
}

}  // namespace tsopt
