// Verifier: reference outputs once, candidates compared against them.
#include "verify/verifier.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <functional>
#include <mutex>
#include <sstream>

#include "passes/core/deadline.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

/// The random-number state every model run of trial `trial` starts from.
uint64_t trialSeed(size_t trial) { return 0x7e57 + trial; }

/// Sizes tried, in order, for spatial dimensions that inference leaves open.
const std::vector<int64_t> kSpatialSizes = {32, 64, 128, 224, 299};

std::vector<InputSpec> withSpatialSize(std::vector<InputSpec> specs, int64_t size) {
  for (InputSpec& s : specs) {
    for (int64_t& d : s.shape) {
      if (d < 0) d = size;
    }
  }
  return specs;
}

bool hasOpenSizes(const std::vector<InputSpec>& specs) {
  for (const InputSpec& s : specs) {
    for (int64_t d : s.shape) {
      if (d < 0) return true;
    }
  }
  return false;
}

/// An input as a spec would write it: "2x3x8x8:float32", "[3x8x8:float32]", "{a=2:int64}".
std::string describeValue(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return shapeText(t.sizes()) + ":" + dtypeName(t.scalar_type());
  }
  std::string s;
  if (v.isList() || v.isTuple()) {
    const auto items = v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec();
    for (const c10::IValue& item : items) s += (s.empty() ? "" : ",") + describeValue(item);
    return v.isList() ? "[" + s + "]" : "(" + s + ")";
  }
  if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) {
      std::ostringstream key;
      key << entry.key();
      s += (s.empty() ? "" : ",") + key.str() + "=" + describeValue(entry.value());
    }
    return "{" + s + "}";
  }
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string joined(const std::vector<InputSpec>& specs) {
  std::string s;
  for (const InputSpec& spec : specs) s += (s.empty() ? "" : ", ") + spec.str();
  return s;
}

/// Every tensor in `v`, depth first.
void forEachTensor(const c10::IValue& v, const std::function<void(const at::Tensor&)>& fn) {
  if (v.isTensor()) return fn(v.toTensor());
  if (v.isList() || v.isTuple()) {
    for (const c10::IValue& item :
         v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec()) {
      forEachTensor(item, fn);
    }
  }
  if (v.isGenericDict()) {
    for (const auto& entry : v.toGenericDict()) forEachTensor(entry.value(), fn);
  }
}

/// Refuses random inputs that cannot tell two models apart: tensors with no elements (any
/// two models agree on them), or values the scale made infinite (outputs turn NaN or infinite
/// and are compared as equal when both are).
void checkTestable(const std::vector<InputSpec>& specs, const std::vector<c10::IValue>& inputs,
                   const InputGeneration& generation) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = "input " + std::to_string(i) + " (" + specs[i].str() + ")";
    forEachTensor(inputs[i], [&](const at::Tensor& t) {
      if (t.numel() == 0) {
        throw Error(what +
                    " has no elements, so any two models agree on it: give every size "
                    "at least 1");
      }
      if (t.is_floating_point() && !at::isfinite(t).all().item<bool>()) {
        std::ostringstream scale;
        scale << generation.scale;
        throw Error(what + " is not finite with input scale " + scale.str() + " in " +
                        dtypeName(t.scalar_type()) + ": give a smaller scale",
                    Setting::kInputScale);
      }
    });
  }
}

}  // namespace

c10::IValue runIsolated(const torch::jit::Module& module, const std::string& method,
                        const std::vector<c10::IValue>& inputs, uint64_t seed) {
  torch::jit::Module copy = module.deepcopy();
  std::vector<c10::IValue> args;
  args.reserve(inputs.size());
  for (const c10::IValue& v : inputs) args.push_back(v.deepcopy());
  torch::NoGradGuard noGrad;
  torch::jit::GraphOptimizerEnabledGuard plain(false);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  at::Tensor saved;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    saved = gen.get_state();
    gen.set_current_seed(seed);
  }
  struct Restore {  // the caller's random-number state, however the run ends
    at::Generator& gen;
    const at::Tensor& state;
    ~Restore() {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  } restore{gen, saved};
  Deadline deadline("running " + method + " of a model under verification");
  return copy.get_method(method)(std::move(args));
}

torch::jit::Module roundTrip(const torch::jit::Module& module) {
  return deserializeModule(serializeModule(module), "the transformed model");
}

Verifier::Verifier(const torch::jit::Module& reference, VerifyOptions options)
    : options_(std::move(options)) {
  if (options_.trials < 1) throw Error("trials must be at least 1", Setting::kTrials);
  if (!options_.inputsFile.empty() || options_.inputValues) options_.trials = 1;
  for (const std::string& method : options_.methods) prepare(reference, method);
}

void Verifier::prepare(const torch::jit::Module& reference, const std::string& method) {
  MethodRun run;
  run.method = method;
  MethodInputs described{method, {}, {}};
  auto rejected = [&](const std::string& inputs, const std::exception& e) {
    return Error(method + " of the reference model rejects the inputs (" + inputs +
                 "): " + describeException(e));
  };
  auto randomInputs = [&](const std::vector<InputSpec>& specs, int trial) {
    return typedAsArguments(reference, method, makeInputs(specs, options_.generation, trial));
  };

  if (!options_.inputsFile.empty() || options_.inputValues) {
    const bool given = options_.inputValues.has_value();
    std::vector<c10::IValue> inputs = typedAsArguments(
        reference, method, given ? *options_.inputValues : loadInputsFile(options_.inputsFile));
    checkInputCount(reference, method, inputs.size(),
                    given ? "inputs given" : "inputs in '" + options_.inputsFile + "'");
    const std::string from = given ? "given"
                             : options_.inputsFileSource.empty()
                                 ? options_.inputsFile
                                 : options_.inputsFile + ", " + options_.inputsFileSource;
    for (const c10::IValue& v : inputs) {
      described.described.push_back(describeValue(v) + " (from " + from + ")");
    }
    try {
      run.expected.push_back(runIsolated(reference, method, inputs, trialSeed(0)));
    } catch (const std::exception& e) {
      throw rejected(given ? "given" : options_.inputsFile, e);
    }
    run.inputs.push_back(std::move(inputs));
  } else {
    std::vector<InputSpec> specs = options_.inputShapes;
    if (specs.empty()) {
      specs = inferInputSpecs(reference, method);
    } else {
      checkInputCount(reference, method, specs.size(), "");
    }
    // Open spatial sizes: the first size the reference accepts.
    std::vector<std::vector<InputSpec>> candidates;
    if (hasOpenSizes(specs)) {
      for (int64_t size : kSpatialSizes) candidates.push_back(withSpatialSize(specs, size));
    } else {
      candidates.push_back(specs);
    }
    for (size_t c = 0; c < candidates.size() && run.expected.empty(); ++c) {
      std::vector<c10::IValue> inputs = randomInputs(candidates[c], 0);
      checkTestable(candidates[c], inputs, options_.generation);
      try {
        run.expected.push_back(runIsolated(reference, method, inputs, trialSeed(0)));
        run.inputs.push_back(std::move(inputs));
        specs = candidates[c];
      } catch (const std::exception& e) {
        if (c + 1 < candidates.size()) continue;
        Error err = rejected(joined(candidates[c]), e);
        if (candidates.size() == 1) throw err;
        throw Error(std::string(err.what()) + "; inferred inputs with spatial sizes 32 to 299 " +
                        "were all rejected: describe them",
                    Setting::kInputSpecs);
      }
    }
    for (int trial = 1; trial < options_.trials; ++trial) {
      run.inputs.push_back(randomInputs(specs, trial));
      try {
        run.expected.push_back(runIsolated(reference, method, run.inputs.back(), trialSeed(trial)));
      } catch (const std::exception& e) {
        throw rejected(joined(specs) + ", trial " + std::to_string(trial), e);
      }
    }
    for (const InputSpec& s : specs) described.described.push_back(s.str() + " (" + s.source + ")");
  }
  described.nondeterministic = nondeterministicOutputs(reference, run);
  for (const std::string& path : described.nondeterministic) skipped_.emplace_back(method, path);
  runs_.push_back(std::move(run));
  described_.push_back(std::move(described));
}

std::vector<std::string> Verifier::nondeterministicOutputs(const torch::jit::Module& reference,
                                                           const MethodRun& run) const {
  c10::IValue again;
  try {
    again = runIsolated(reference, run.method, run.inputs[0], trialSeed(0));
  } catch (const std::exception& e) {
    throw Error(run.method + " of the reference model failed when run a second time on the same " +
                "inputs: " + describeException(e));
  }
  OutputComparison self(options_.tolerances);
  self.add(run.method, 0, run.expected[0], again);
  std::vector<std::string> differing;
  for (const OutputDiff& d : self.outputs()) {
    if (!d.passed) differing.push_back(d.path);
  }
  if (!differing.empty() && differing.size() == self.outputs().size()) {
    throw Error("the reference model is not deterministic: two runs of " + run.method +
                " on the same inputs and random-number state differ in every output (" +
                self.firstMismatch() + "), so there is nothing to compare");
  }
  return differing;
}

VerifyResult Verifier::check(const torch::jit::Module& candidate) const {
  OutputComparison comparison(options_.tolerances);
  for (const auto& [method, path] : skipped_) comparison.skip(method, path);
  for (const MethodRun& run : runs_) {
    if (!candidate.find_method(run.method)) {
      comparison.addFailure(run.method, 0, "it has no method '" + run.method + "'");
      continue;
    }
    for (size_t trial = 0; trial < run.inputs.size(); ++trial) {
      try {
        c10::IValue actual =
            runIsolated(candidate, run.method, run.inputs[trial], trialSeed(trial));
        comparison.add(run.method, static_cast<int>(trial), run.expected[trial], actual);
      } catch (const std::exception& e) {
        comparison.addFailure(run.method, static_cast<int>(trial), describeException(e));
      }
    }
  }
  VerifyResult r;
  r.passed = comparison.passed();
  r.trials = options_.trials;
  r.mismatch = comparison.firstMismatch();
  r.outputs = comparison.outputs();
  for (const OutputDiff& d : r.outputs) {
    r.maxAbsDiff = std::max(r.maxAbsDiff, d.maxAbsDiff);
    r.maxRelDiff = std::max(r.maxRelDiff, d.maxRelDiff);
  }
  return r;
}

}  // namespace tsopt
