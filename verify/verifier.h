// Numerical equivalence of two modules: the reference's outputs on seeded (or given) inputs are
// computed once, in float32 and by a float64 copy of it (the exact answer errors are measured
// against); each candidate is then run on the same inputs and compared leaf by leaf.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <optional>
#include <string>
#include <vector>

#include "verify/compare.h"
#include "verify/divergence.h"
#include "verify/float64.h"
#include "verify/inputs.h"

namespace tsopt {

/// What to feed the modules and how to compare them.
/// The most random input sets a verification tries: each is a run of both models.
constexpr int kMaxTrials = 10000;

struct VerifyOptions {
  std::vector<std::string> methods{"forward"};
  std::vector<InputSpec> inputShapes;  ///< for every method; empty: inferred from the model
  std::string inputsFile;              ///< inputs saved with torch.save instead of random ones
  std::string inputsFileSource;        ///< how the file was chosen, for reports ("" if given)
  /// The inputs themselves (one set, as from an inputs file), instead of the file or random ones.
  std::optional<std::vector<c10::IValue>> inputValues;
  InputGeneration generation;
  int trials = 3;  ///< random input sets per method (1 with an inputs file), 1 to kMaxTrials
  Tolerances tolerances;
  /// A module whose graphs record its inputs' types, such as a live traced module before a copy
  /// through its archive dropped them: looked at first when the inputs are inferred.
  std::optional<torch::jit::Module> shapeSource;
};

/// Random inputs of trial t are drawn at the given scale times trialScale(t): 1, 16, 256, 1, ...
/// so that what a model does beyond small activations (a clamp at 6) shows.
double trialScale(int trial);

/// The verdict on one candidate.
struct VerifyResult {
  bool passed = true;
  int trials = 0;
  double maxAbsDiff = 0, maxRelDiff = 0;  ///< over every floating-point leaf
  std::string mismatch;                   ///< the first failing leaf and why; "" if passed
  std::vector<OutputDiff> outputs;
  /// The largest error over what its rule accepts, over every compared leaf (above 1 differs).
  double errorRatio = 0;
};

/// The inputs one method is fed, for reports.
struct MethodInputs {
  std::string method;
  std::vector<std::string> described;  ///< per input: "2x3x32x32 (inferred from ...)"
  /// Outputs ("out[1]") on which two runs of the reference on the same inputs and random-number
  /// state disagree: the model is not deterministic there, and they are not compared.
  std::vector<std::string> nondeterministic;
  /// Why float32 outputs are held to tolerances rather than to the float64 answer ("" if not).
  std::string noFloat64;
  /// Outputs that come out of a discrete decision (path, operator), judged by agreement.
  std::vector<std::pair<std::string, std::string>> discrete;
};

/// Holds the reference's outputs; checks candidates against them.
class Verifier {
 public:
  /// Makes the inputs of every trial and runs `reference` on them, and once more on the first
  /// trial's to find the outputs that are not deterministic. Throws tsopt::Error if the inputs
  /// cannot be made, the reference rejects them, or no output of a method is deterministic.
  Verifier(const torch::jit::Module& reference, VerifyOptions options);

  /// Runs `candidate` on the same inputs and compares. A candidate that throws differs.
  VerifyResult check(const torch::jit::Module& candidate) const;

  /// Where `after` first parts from `before` (a model before and after the pass blamed for
  /// `result`), on the inputs of the first output that differs in `result`.
  Divergence locate(const torch::jit::Module& before, const torch::jit::Module& after,
                    const VerifyResult& result) const;

  const std::vector<MethodInputs>& inputs() const { return described_; }
  const VerifyOptions& options() const { return options_; }
  /// Why a verdict on these inputs says little (every output empty, tiny, or the same whatever
  /// the inputs), one sentence each.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct MethodRun {
    std::string method;
    std::vector<std::vector<c10::IValue>> inputs;  ///< per trial
    std::vector<c10::IValue> expected;             ///< per trial
    std::vector<c10::IValue> exact;  ///< per trial, the float64 copy's outputs (or none)
    std::string noExact;             ///< why there are none
  };
  void prepare(const torch::jit::Module& reference, const std::string& method,
               torch::jit::Graph& inlined);
  void runFloat64(MethodRun& run) const;
  void findVacuous(const MethodRun& run);
  std::vector<std::string> nondeterministicOutputs(const torch::jit::Module& reference,
                                                   const MethodRun& run) const;

  VerifyOptions options_;
  std::vector<std::pair<std::string, std::string>> skipped_;  ///< (method, path) not compared
  std::vector<MethodRun> runs_;
  std::vector<MethodInputs> described_;
  Float64Model float64_;
  std::vector<std::string> warnings_;
};

/// Runs `method` of a deep copy of `module` on deep copies of `inputs` (without autograd and
/// without the graph executor's optimisations), so neither the module's state nor the inputs
/// can change from one run to the next, with the default CPU generator seeded with `seed` (and
/// restored after), so that a model drawing random numbers at inference (dropout that stays on,
/// sampling) draws the same ones in every run given the same seed.
c10::IValue runIsolated(const torch::jit::Module& module, const std::string& method,
                        const std::vector<c10::IValue>& inputs, uint64_t seed);

/// Runs `graph` (a copy of the graph of `method` of `self`, changed to compute or return
/// something else) as runIsolated runs the method: with a deep copy of `self` as its first input,
/// deep copies of `inputs` and the method's defaults for the arguments they leave out, from the
/// random-number state `seed`. `what` names the run if it times out.
c10::IValue runGraphIsolated(const torch::jit::Module& self, const std::string& method,
                             const std::shared_ptr<torch::jit::Graph>& graph,
                             const std::vector<c10::IValue>& inputs, uint64_t seed,
                             const std::string& what);

/// A copy of `module` saved and loaded back: what a user of the saved file would run.
torch::jit::Module roundTrip(const torch::jit::Module& module);

}  // namespace tsopt
