// The one place the JSON reports are assembled.
#include "engine/report.h"

#include <torch/version.h>

#include "passes/core/error.h"
#include "passes/core/op_library.h"

namespace tsopt {

namespace {

nlohmann::json location(const std::optional<ErrorLocation>& at) {
  if (!at) return nullptr;
  return {{"trial", at->trial},
          {"index", at->index},
          {"expected", at->expected},
          {"actual", at->actual}};
}

nlohmann::json passRef(const PassRecord& r) {
  return {{"index", r.index}, {"name", r.name}, {"spec", r.spec}, {"iteration", r.iteration}};
}

/// The verdict, with the pass to blame, bisection's steps, and each pass's check in `passes`.
nlohmann::json verdictJson(const RunOutcome& o, nlohmann::json& passes) {
  const Verdict& v = *o.verdict;
  nlohmann::json j = verifyJson(*o.verifier, v.result);
  const PassRecord* blamed = v.firstFailing ? o.passAt(*v.firstFailing) : nullptr;
  j["first_failing_pass"] = blamed ? passRef(*blamed) : nlohmann::json(nullptr);
  if (v.divergence) {
    const Divergence& d = *v.divergence;
    j["divergence"] = d.found ? nlohmann::json{{"method", d.method},
                                               {"value", d.value},
                                               {"node", d.node},
                                               {"mismatch", d.mismatch},
                                               {"compared", d.compared}}
                              : nlohmann::json{{"compared", d.compared}};
  }
  if (v.reproducer) {
    j["reproducer"] = {{"script", v.reproducer->script}, {"reproduces", v.reproducer->reproduces}};
  }
  if (v.bisect) {
    nlohmann::json steps = nlohmann::json::array();
    for (const BisectStep& s : v.bisect->steps) {
      steps.push_back({{"passes", s.passes}, {"passed", s.passed}, {"error_ratio", s.errorRatio}});
    }
    j["bisect"] = {{"baseline_differs", v.bisect->baselineDiffers}, {"steps", steps}};
  }
  for (const PassCheck& c : v.eachPass) {
    for (nlohmann::json& p : passes) {
      if (p["index"] != c.index) continue;
      p["verify"] = {{"passed", c.result.passed},
                     {"max_abs_diff", c.result.maxAbsDiff},
                     {"max_rel_diff", c.result.maxRelDiff},
                     {"error_ratio", c.result.errorRatio},
                     {"mismatch", c.result.passed ? nlohmann::json(nullptr)
                                                  : nlohmann::json(c.result.mismatch)}};
    }
  }
  return j;
}

}  // namespace

nlohmann::json verifyJson(const Verifier& verifier, const VerifyResult& result) {
  const VerifyOptions& options = verifier.options();
  const Tolerances& tol = options.tolerances;
  nlohmann::json tolerances = nlohmann::json::object();
  for (const auto& [dtype, t] : tol.perDtype) {
    tolerances[dtypeName(dtype)] = {{"rtol", t.rtol}, {"atol", t.atol}};
  }
  nlohmann::json inputs = nlohmann::json::object();
  nlohmann::json nondeterministic = nlohmann::json::object();
  nlohmann::json noFloat64 = nlohmann::json::object();
  nlohmann::json discrete = nlohmann::json::object();
  for (const MethodInputs& m : verifier.inputs()) {
    inputs[m.method] = m.described;
    if (!m.nondeterministic.empty()) nondeterministic[m.method] = m.nondeterministic;
    if (!m.noFloat64.empty()) noFloat64[m.method] = m.noFloat64;
    for (const auto& [path, why] : m.discrete) discrete[m.method][path] = why;
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (const OutputDiff& d : result.outputs) {
    outputs.push_back(
        {{"method", d.method},
         {"path", d.path},
         {"kind", d.kind},
         {"passed", d.passed},
         {"compared", !d.skipped},
         {"max_abs_diff", d.maxAbsDiff},
         {"max_abs_at", location(d.maxAbsAt)},
         {"max_rel_diff", d.maxRelDiff},
         {"max_rel_at", location(d.maxRelAt)},
         {"bad_elements", d.badElements},
         {"rtol", d.tol.rtol},
         {"atol", d.tol.atol},
         {"rule", d.rule},
         {"rule_note", d.ruleNote.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.ruleNote)},
         {"reference_error", d.referenceError},
         {"exact_error", d.exactError},
         {"bound", d.bound},
         {"error_ratio", d.errorRatio},
         {"discrete", d.discrete.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.discrete)},
         {"agreement", d.agreement},
         {"reordered", d.reordered},
         {"mismatch", d.passed ? nlohmann::json(nullptr) : nlohmann::json(d.mismatch)}});
  }
  nlohmann::json j = {
      {"passed", result.passed},
      {"trials", result.trials},
      {"max_abs_diff", result.maxAbsDiff},
      {"max_rel_diff", result.maxRelDiff},
      {"rtol", tol.of(at::kFloat).rtol},
      {"atol", tol.of(at::kFloat).atol},
      {"rel_to_max", tol.relToMax},
      {"tolerances", tolerances},
      {"inputs", inputs},
      {"nondeterministic", nondeterministic},
      {"rule", tol.float64.enabled ? "float64" : "tolerance"},
      {"float64",
       {{"factor", tol.float64.factor}, {"ulps", tol.float64.ulps}, {"unavailable", noFloat64}}},
      {"discrete", discrete},
      {"error_ratio", result.errorRatio},
      {"warnings", verifier.warnings()},
      {"mismatch", result.passed ? nlohmann::json(nullptr) : nlohmann::json(result.mismatch)},
      {"outputs", outputs}};
  if (options.inputValues) {
    j["inputs_given"] = true;
  } else if (options.inputsFile.empty()) {
    j["distribution"] =
        options.generation.distribution == Distribution::kNormal ? "normal" : "uniform";
    j["scale"] = options.generation.scale;
    nlohmann::json scales = nlohmann::json::array();
    for (int t = 0; t < result.trials; ++t)
      scales.push_back(options.generation.scale * trialScale(t));
    j["trial_scales"] = scales;
    j["seed"] = options.generation.seed;
  } else {
    j["inputs_file"] = options.inputsFile;
  }
  return j;
}

nlohmann::json compareReport(const Verifier& verifier, const VerifyResult& result,
                             const std::string& reference, const std::string& candidate) {
  nlohmann::json j = verifyJson(verifier, result);
  j["operator_libraries"] = operatorLibrariesJson();
  j["reference"] = reference;
  j["candidate"] = candidate;
  return j;
}

nlohmann::json operatorLibrariesJson() {
  nlohmann::json out = nlohmann::json::array();
  for (const OperatorLibrary& lib : loadedOperatorLibraries()) {
    out.push_back({{"path", lib.path}, {"reason", lib.reason}});
  }
  return out;
}

nlohmann::json passesJson(const PassRegistry& registry) {
  nlohmann::json passes = nlohmann::json::array(), presets = nlohmann::json::array();
  for (const PassInfo* info : registry.all()) {
    nlohmann::json opts = nlohmann::json::array();
    std::unique_ptr<Pass> pass = info->factory();
    for (const OptionBase* o : pass->options()) {
      opts.push_back({{"name", o->name()},
                      {"type", optionKindName(o->kind())},
                      {"default", o->defaultString()},
                      {"constraint", o->constraint()},
                      {"help", o->help()}});
    }
    passes.push_back({{"name", info->name},
                      {"description", info->description},
                      {"origin", info->origin},
                      {"kind", pass->kind() == Pass::Kind::Graph ? "graph" : "module"},
                      {"options", opts}});
  }
  for (const PipelinePreset& p : registry.presets()) {
    presets.push_back({{"name", p.name}, {"pipeline", p.pipeline}, {"description", p.description}});
  }
  return {{"passes", passes}, {"presets", presets}};
}

namespace {

nlohmann::json validUtf8(const nlohmann::json& j) {
  if (j.is_string()) return escapeText(j.get_ref<const std::string&>(), /*controls=*/false);
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const nlohmann::json& item : j) out.push_back(validUtf8(item));
    return out;
  }
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : j.items()) out[escapeText(key, false)] = validUtf8(value);
    return out;
  }
  return j;
}

}  // namespace

std::string reportText(const nlohmann::json& report, int indent) {
  return validUtf8(report).dump(indent);
}

nlohmann::json runReport(const RunOutcome& o) {
  nlohmann::json passes = nlohmann::json::array();
  for (const PassRecord& r : o.run.passes) {
    passes.push_back({{"index", r.index},
                      {"name", r.name},
                      {"spec", r.spec},
                      {"iteration", r.iteration},
                      {"changed", r.changed},
                      {"ms", r.ms},
                      {"check_ms", r.checkMs},
                      {"nodes_before", r.nodesBefore},
                      {"nodes_after", r.nodesAfter},
                      {"stats", r.stats},
                      {"failed", r.failed}});
    if (r.failed) passes.back()["error"] = r.error;
  }
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, ms] : o.phases.list()) phases[name + "_ms"] = ms;
  nlohmann::json operators = nlohmann::json::object();  // kind -> {before, after}
  for (const auto& [kind, n] : o.operators.before) operators[kind] = {{"before", n}, {"after", 0}};
  for (const auto& [kind, n] : o.operators.after) {
    if (!operators.contains(kind)) operators[kind] = {{"before", 0}};
    operators[kind]["after"] = n;
  }
  nlohmann::json report = {{"tsopt_version", "0.1.0"},
                           {"torch_version", TORCH_VERSION},
                           {"input", o.input},
                           {"output", o.output},
                           {"output_written", o.written},
                           {"pipeline", o.pipeline},
                           {"method", o.methods.front()},
                           {"methods", o.methods},
                           {"total_ms", o.run.totalMs},
                           {"phases", phases},
                           {"input_bytes", o.inputBytes},
                           {"output_bytes", o.outputBytes},
                           {"nodes_before", o.nodesBefore()},
                           {"nodes_after", o.nodesAfter()},
                           {"operators", operators},
                           {"operator_libraries", operatorLibrariesJson()},
                           {"warnings", o.run.warnings}};
  if (o.verifier && o.verdict) {
    report["verify"] = verdictJson(o, passes);
  }
  report["passes"] = passes;
  return report;
}

}  // namespace tsopt
