// Verification settings checked into VerifyOptions, and the one-line verdict.
#include "engine/verify_settings.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "passes/core/error.h"

namespace tsopt {

VerifyOptions VerifySettings::options(const std::vector<std::string>& methods,
                                      const std::string& reference) const {
  VerifyOptions o;
  o.methods = methods;
  for (const std::string& s : inputShapes) o.inputShapes.push_back(parseInputSpec(s));
  if ((!inputsFile.empty() || inputValues) + !inputShapes.empty() > 1) {
    throw Error("give either saved inputs or input specs, not both", Setting::kInputSpecs);
  }
  o.inputsFile = inputsFile;
  o.inputValues = inputValues;
  if (inputsFile.empty() && !inputValues && inputShapes.empty() && !reference.empty()) {
    o.inputsFile = inputsBeside(reference);
    if (!o.inputsFile.empty()) o.inputsFileSource = "saved beside the model";
  }
  o.generation.distribution = parseDistribution(distribution);
  if (!(scale > 0))
    throw Error("the scale of random inputs must be positive", Setting::kInputScale);
  o.generation.scale = scale;
  o.generation.seed = seed;
  o.trials = trials;
  for (const std::string& r : rtol) o.tolerances.set(r, true);
  for (const std::string& a : atol) o.tolerances.set(a, false);
  o.tolerances.relToMax = relToMax;
  if (rule != "" && rule != "float64" && rule != "tolerance") {
    throw Error("unknown rule '" + rule + "' (known: float64, tolerance)", Setting::kRule);
  }
  o.tolerances.float64.enabled =
      rule == "float64" || (rule.empty() && rtol.empty() && atol.empty() && !relToMax);
  return o;
}

std::vector<std::string> VerifySettings::flags() const {
  std::vector<std::string> out;
  for (const std::string& s : inputShapes) out.insert(out.end(), {"--input", s});
  for (const std::string& r : rtol) out.insert(out.end(), {"--rtol", r});
  for (const std::string& a : atol) out.insert(out.end(), {"--atol", a});
  const VerifySettings defaults;
  if (distribution != defaults.distribution) out.insert(out.end(), {"--dist", distribution});
  if (trials != defaults.trials) out.insert(out.end(), {"--trials", std::to_string(trials)});
  if (seed != defaults.seed) out.insert(out.end(), {"--seed", std::to_string(seed)});
  if (scale != defaults.scale) {
    std::ostringstream exact;
    exact << std::setprecision(17) << scale;
    out.insert(out.end(), {"--scale", exact.str()});
  }
  if (relToMax) out.push_back("--rel-to-max");
  if (!rule.empty()) out.insert(out.end(), {"--rule", rule});
  return out;
}

std::string shortNumber(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v;
  return os.str();
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
  std::string warnings;
  for (const std::string& w : verifier.warnings()) warnings += "; warning: " + w;
  if (!result.passed) return "outputs differ: " + result.mismatch + skipped + warnings;
  // Which rules decided the floating-point outputs, and why tolerances where float64 could not.
  int byFloat64 = 0, byTolerance = 0, discrete = 0;
  double agreement = 1;
  std::string why;
  for (const OutputDiff& d : result.outputs) {
    if (d.skipped) continue;
    byFloat64 += d.rule == "float64";
    byTolerance += d.rule == "tolerance";
    if (!d.discrete.empty()) {
      ++discrete;
      agreement = std::min(agreement, d.agreement);
    }
    if (d.rule == "tolerance" && why.empty()) why = d.ruleNote;
  }
  auto outputs = [](int n) { return std::to_string(n) + (n == 1 ? " output" : " outputs"); };
  std::string rules;
  if (byFloat64) rules += "; " + outputs(byFloat64) + " held to the float64 answer";
  if (byTolerance) {
    rules += "; " + outputs(byTolerance) + " to tolerances" + (why.empty() ? "" : " (" + why + ")");
  }
  if (discrete) {
    rules += "; " + outputs(discrete) + " from discrete decisions, " +
             shortNumber(100 * agreement) + "% of elements agreeing at least";
  }
  return "outputs equal over " + std::to_string(result.trials) +
         (result.trials == 1 ? " trial" : " trials") + " (max abs diff " +
         shortNumber(result.maxAbsDiff) + ", max rel diff " + shortNumber(result.maxRelDiff) +
         ", largest error " + shortNumber(result.errorRatio) + " of the allowed" + rules + ")" +
         skipped + warnings;
}

}  // namespace tsopt
