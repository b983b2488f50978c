// The options `tsopt verify` and `tsopt run --verify` share, and the text both print.
#pragma once

#include <CLI/CLI.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "verify/verifier.h"

namespace tsopt::cli {

/// Verification options as typed on the command line.
struct VerifyArgs {
  std::vector<std::string> inputShapes, rtol, atol;
  std::string inputsFile, distribution = "uniform";
  int trials = 3;
  uint64_t seed = 0;
  double scale = 1.0;
  bool relToMax = false;

  /// Checked options for `methods` of the model at `reference`: without --inputs or --input,
  /// the inputs saved beside it (MODEL.inputs.pt) if there are any. Throws tsopt::Error for a
  /// bad value.
  VerifyOptions options(const std::vector<std::string>& methods,
                        const std::string& reference) const;
};

/// Registers the options on `cmd`.
void addVerifyOptions(CLI::App* cmd, VerifyArgs& args);

/// One line per output leaf (its errors and where they are), then the inputs used.
void printVerifyTable(const Verifier& verifier, const VerifyResult& result, std::ostream& os);

/// "equal over 3 trials (max abs diff ..., max rel diff ...)" or "differ: <first mismatch>",
/// naming the outputs not compared because the reference is not deterministic there.
std::string verifySummary(const Verifier& verifier, const VerifyResult& result);

}  // namespace tsopt::cli
