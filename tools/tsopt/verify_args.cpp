// Shared verification options and their printed summary.
#include "tools/tsopt/verify_args.h"

#include <iomanip>
#include <sstream>

#include "passes/core/error.h"

namespace tsopt::cli {

namespace {

std::string sci(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v;
  return os.str();
}

std::string where(const std::optional<ErrorLocation>& at) {
  return at && !at->index.empty() ? " at " + indexText(at->index) : "";
}

}  // namespace

VerifyOptions VerifyArgs::options(const std::vector<std::string>& methods,
                                  const std::string& reference) const {
  VerifyOptions o;
  o.methods = methods;
  for (const std::string& s : inputShapes) o.inputShapes.push_back(parseInputSpec(s));
  if (!inputsFile.empty() && !inputShapes.empty()) {
    throw Error("give either --inputs or --input, not both");
  }
  o.inputsFile = inputsFile;
  if (inputsFile.empty() && inputShapes.empty()) {
    o.inputsFile = inputsBeside(reference);
    if (!o.inputsFile.empty()) o.inputsFileSource = "saved beside the model";
  }
  o.generation.distribution = parseDistribution(distribution);
  if (!(scale > 0)) throw Error("--scale must be positive");
  o.generation.scale = scale;
  o.generation.seed = seed;
  o.trials = trials;
  for (const std::string& r : rtol) o.tolerances.set(r, true);
  for (const std::string& a : atol) o.tolerances.set(a, false);
  o.tolerances.relToMax = relToMax;
  return o;
}

void addVerifyOptions(CLI::App* cmd, VerifyArgs& a) {
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
}

void printVerifyTable(const Verifier& verifier, const VerifyResult& result, std::ostream& os) {
  for (const MethodInputs& m : verifier.inputs()) {
    os << "inputs of " << m.method << ":";
    for (const std::string& d : m.described) os << " " << d << ";";
    os << " " << result.trials << (result.trials == 1 ? " trial" : " trials") << "\n";
  }
  for (const OutputDiff& d : result.outputs) {
    os << "  " << std::left << std::setw(16)
       << (d.method == "forward" ? d.path : d.method + ":" + d.path) << " " << std::setw(28)
       << d.kind;
    if (!d.skipped && (d.kind.rfind("Tensor", 0) == 0 || d.kind == "Double")) {
      os << " max abs " << sci(d.maxAbsDiff) << where(d.maxAbsAt) << ", max rel "
         << sci(d.maxRelDiff) << where(d.maxRelAt);
    }
    os << (d.skipped  ? "  not compared: the reference is not deterministic here"
           : d.passed ? "  ok"
                      : "  DIFFERS: " + d.mismatch)
       << "\n";
  }
}

std::string verifySummary(const Verifier& verifier, const VerifyResult& result) {
  std::string skipped;
  for (const MethodInputs& m : verifier.inputs()) {
    for (const std::string& path : m.nondeterministic) {
      skipped +=
          (skipped.empty() ? "" : ", ") + (m.method == "forward" ? "" : m.method + " ") + path;
    }
  }
  if (!skipped.empty()) {
    skipped = "; not compared, as the reference model is not deterministic there: " + skipped;
  }
  if (!result.passed) return "outputs differ: " + result.mismatch + skipped;
  return "outputs equal over " + std::to_string(result.trials) +
         (result.trials == 1 ? " trial" : " trials") + " (max abs diff " + sci(result.maxAbsDiff) +
         ", max rel diff " + sci(result.maxRelDiff) + ")" + skipped;
}

}  // namespace tsopt::cli
