// Verification settings as a user gives them, in words and numbers (the CLI's flags, Python's
// keywords), checked into VerifyOptions in one place; and the one-line verdict both print.
#pragma once

#include <ATen/core/ivalue.h>

#include <optional>
#include <string>
#include <vector>

#include "verify/verifier.h"

namespace tsopt {

/// Verification settings as typed: every front end fills one and calls options().
struct VerifySettings {
  std::vector<std::string> inputShapes;  ///< input specs, one per input (--input)
  std::vector<std::string> rtol, atol;   ///< "[DTYPE=]VALUE"
  std::string inputsFile;                ///< inputs saved with torch.save (--inputs)
  /// The inputs themselves (from Python), instead of a file or specs.
  std::optional<std::vector<c10::IValue>> inputValues;
  std::string distribution = "uniform";
  int trials = 3;
  uint64_t seed = 0;
  double scale = 1.0;
  bool relToMax = false;
  /// "float64" (float32 outputs against the float64 answer where the model has one), "tolerance"
  /// (rtol/atol everywhere), or "": float64 unless tolerances are given.
  std::string rule;

  /// Checked options for `methods` of the model at `reference` (a path, or "" for a model in
  /// memory): without inputs or specs, the inputs saved beside it (MODEL.inputs.pt) if there
  /// are any. Throws tsopt::Error for a bad value.
  VerifyOptions options(const std::vector<std::string>& methods,
                        const std::string& reference) const;
  /// The settings that differ from the defaults, as `tsopt run` flags (inputs excepted).
  std::vector<std::string> flags() const;
};

/// An error or difference as verdicts print it: 3 significant digits ("5.96e-08").
std::string shortNumber(double v);

/// "outputs equal over 3 trials (max abs diff ..., max rel diff ..., ...)" or "outputs differ:
/// <first mismatch>", with the rules that decided, the outputs not compared because the reference
/// is not deterministic there, and the verifier's warnings.
std::string verifySummary(const Verifier& verifier, const VerifyResult& result);

}  // namespace tsopt
