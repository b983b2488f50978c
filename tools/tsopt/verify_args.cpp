// The shared verification flags and the table of a verification.
#include "tools/tsopt/verify_args.h"

#include <iomanip>

namespace tsopt::cli {

namespace {

std::string where(const std::optional<ErrorLocation>& at) {
  return at && !at->index.empty() ? " at " + indexText(at->index) : "";
}

}  // namespace

void addVerifyOptions(CLI::App* cmd, VerifySettings& a) {
  const char* group = "Verification inputs and tolerances";
  cmd->add_option("--input,--input-shape", a.inputShapes,
                  "an input as SHAPE[:DTYPE[:VALUES]], [SPEC,...] or {KEY=SPEC,...}: "
                  "1x3x224x224, 1x16:int64:1000, 2:int64:=@0.1 (dimension 1 of input 0), "
                  "[3x64x64,3x48x64] (repeatable, one per input; default: MODEL.inputs.pt "
                  "beside the model, else inferred from it)")
      ->type_name("SPEC")
      ->allow_extra_args(false);  // one spec per flag: CLI11 would split "[A,B]" into two
  cmd->add_option("--inputs", a.inputsFile, "inputs saved with torch.save((x, ...), FILE)")
      ->group(group);
  cmd->add_option("--trials", a.trials, "random input sets to compare on")
      ->default_val(3)
      ->check(CLI::Range(1, kMaxTrials))
      ->group(group);
  cmd->add_option("--seed", a.seed, "seed of the random inputs")->default_val(0)->group(group);
  cmd->add_option("--dist", a.distribution, "distribution of random inputs: uniform or normal")
      ->default_val("uniform")
      ->group(group);
  cmd->add_option("--scale", a.scale, "uniform on [-scale, scale), or normal with this deviation")
      ->default_val(1.0)
      ->group(group);
  cmd->add_option("--rtol", a.rtol, "relative tolerance, for every dtype or as DTYPE=R")
      ->type_name("[DTYPE=]R")
      ->group(group);
  cmd->add_option("--atol", a.atol, "absolute tolerance, for every dtype or as DTYPE=A")
      ->type_name("[DTYPE=]A")
      ->group(group);
  cmd->add_flag("--rel-to-max", a.relToMax,
                "relative tolerance against each output's largest magnitude, not elementwise")
      ->group(group);
  cmd->add_option("--rule", a.rule,
                  "float64: float32 outputs within a multiple of the reference's own error of "
                  "the float64 answer, where the model has one; tolerance: rtol/atol everywhere "
                  "(default: float64, or tolerance when --rtol, --atol or --rel-to-max is given)")
      ->check(CLI::IsMember({"float64", "tolerance"}))
      ->group(group);
}

void printVerifyTable(const Verifier& verifier, const VerifyResult& result, std::ostream& os) {
  for (const MethodInputs& m : verifier.inputs()) {
    os << "inputs of " << m.method << ":";
    for (const std::string& d : m.described) os << " " << d << ";";
    os << " " << result.trials << (result.trials == 1 ? " trial" : " trials");
    if (result.trials > 1 && verifier.options().inputsFile.empty() &&
        !verifier.options().inputValues) {
      os << " at input scales";
      for (int t = 0; t < result.trials && t < 3; ++t) {
        os << (t ? ", " : " ") << shortNumber(verifier.options().generation.scale * trialScale(t));
      }
    }
    os << "\n";
    if (!m.noFloat64.empty()) os << "  float64 answer: none, " << m.noFloat64 << "\n";
  }
  for (const OutputDiff& d : result.outputs) {
    os << "  " << std::left << std::setw(16)
       << (d.method == "forward" ? d.path : d.method + ":" + d.path) << " " << std::setw(28)
       << d.kind;
    if (!d.skipped && (d.kind.rfind("Tensor", 0) == 0 || d.kind == "Double")) {
      os << " max abs " << shortNumber(d.maxAbsDiff) << where(d.maxAbsAt) << ", max rel "
         << shortNumber(d.maxRelDiff) << where(d.maxRelAt);
    }
    std::string rule;
    if (d.rule == "float64") {
      rule = " (float64: error " + shortNumber(d.exactError) + ", the reference's own " +
             shortNumber(d.referenceError) + ")";
    } else if (d.rule == "tolerance" && !d.ruleNote.empty()) {
      rule = " (tolerance: " + d.ruleNote + ")";
    }
    if (!d.discrete.empty()) {
      rule += " (discrete, from " + d.discrete + ": " + shortNumber(100 * d.agreement) + "% " +
              (d.reordered ? "of rows agree, in another order)" : "agree)");
    }
    os << (d.skipped  ? "  not compared: the reference is not deterministic here"
           : d.passed ? "  ok" + rule
                      : "  DIFFERS: " + d.mismatch)
       << "\n";
  }
}

}  // namespace tsopt::cli
