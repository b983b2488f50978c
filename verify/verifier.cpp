// Verifier: reference outputs once, candidates compared against them.
#include "verify/verifier.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <functional>
#include <mutex>
#include <sstream>

#include "passes/builtin/builtin.h"
#include "passes/core/deadline.h"
#include "passes/core/error.h"
#include "passes/core/interrupt.h"
#include "passes/core/module_io.h"
#include "verify/discrete.h"

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

double trialScale(int trial) {
  static const double kScales[] = {1, 16, 256};
  return kScales[trial % 3];
}

namespace {

/// Runs `call` on deep copies of `self` and `inputs`: without autograd and without the graph
/// executor's optimisations, from the random-number state `seed` (the caller's restored after),
/// within the deadline.
c10::IValue runSeeded(
    const torch::jit::Module& self, const std::vector<c10::IValue>& inputs, uint64_t seed,
    const std::string& what,
    const std::function<c10::IValue(torch::jit::Module&, std::vector<c10::IValue>)>& call) {
  torch::jit::Module copy = self.deepcopy();
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
  checkInterrupt();
  Deadline deadline(what);
  c10::IValue result = call(copy, std::move(args));
  checkInterrupt();  // the run cannot be stopped inside it: as soon as it returns
  return result;
}

}  // namespace

c10::IValue runIsolated(const torch::jit::Module& module, const std::string& method,
                        const std::vector<c10::IValue>& inputs, uint64_t seed) {
  return runSeeded(module, inputs, seed, "running " + method + " of a model under verification",
                   [&](torch::jit::Module& copy, std::vector<c10::IValue> args) {
                     return copy.get_method(method)(std::move(args));
                   });
}

c10::IValue runGraphIsolated(const torch::jit::Module& self, const std::string& method,
                             const std::shared_ptr<torch::jit::Graph>& graph,
                             const std::vector<c10::IValue>& inputs, uint64_t seed,
                             const std::string& what) {
  const std::vector<c10::Argument>& arguments =
      self.get_method(method).function().getSchema().arguments();
  return runSeeded(self, inputs, seed, what,
                   [&](torch::jit::Module& copy, std::vector<c10::IValue> args) {
                     torch::jit::GraphFunction function("tsopt.isolated", graph, nullptr);
                     torch::jit::Stack stack{copy._ivalue()};
                     for (c10::IValue& a : args) stack.push_back(std::move(a));
                     // Arguments left out take the method's defaults (`targets=None`).
                     for (size_t i = stack.size(); i < arguments.size(); ++i) {
                       if (arguments[i].default_value()) {
                         stack.push_back(*arguments[i].default_value());
                       }
                     }
                     function.run(stack);
                     return stack.back();
                   });
}

torch::jit::Module roundTrip(const torch::jit::Module& module) {
  return deserializeModule(serializeModule(module), "the transformed model");
}

Verifier::Verifier(const torch::jit::Module& reference, VerifyOptions options)
    : options_(std::move(options)) {
  if (options_.trials < 1 || options_.trials > kMaxTrials) {
    throw Error("trials must be 1 to " + std::to_string(kMaxTrials) + ", not " +
                    std::to_string(options_.trials),
                Setting::kTrials);
  }
  if (!options_.inputsFile.empty() || options_.inputValues) options_.trials = 1;
  // Each method inlined once, for the float64 copy and the discrete outputs alike.
  std::map<std::string, std::shared_ptr<torch::jit::Graph>> inlined;
  for (const std::string& method : options_.methods) {
    inlined[method] = inlinedCopy(reference, method);
  }
  if (options_.tolerances.float64.enabled) {
    try {
      float64_ = makeFloat64Model(reference, inlined);
    } catch (const std::exception& e) {
      float64_.unavailable = "the model cannot be copied to float64: " + describeException(e);
    }
  }
  for (const std::string& method : options_.methods) {
    prepare(reference, method, *inlined.at(method));
  }
}

void Verifier::runFloat64(MethodRun& run) const {
  if (!float64_.module) {
    run.noExact = float64_.unavailable;
    return;
  }
  try {
    for (size_t trial = 0; trial < run.inputs.size(); ++trial) {
      run.exact.push_back(float64_.run(run.method, run.inputs[trial], trialSeed(trial)));
    }
  } catch (const std::exception& e) {
    run.exact.clear();
    run.noExact = "its float64 copy does not run: " + describeException(e);
  }
}

void Verifier::findVacuous(const MethodRun& run) {
  bool anyTensor = false, anyElement = false, anyFloating = false;
  double largest = 0;
  for (const c10::IValue& out : run.expected) {
    forEachTensor(out, [&](const at::Tensor& t) {
      anyTensor = true;
      if (t.numel() == 0) return;
      anyElement = true;
      at::Tensor v = t.is_quantized() ? t.dequantize() : t;
      if (!v.is_floating_point()) return;
      anyFloating = true;
      at::Tensor a = v.detach().abs().to(at::kDouble);
      largest =
          std::max(largest, a.masked_fill_(at::isfinite(a).logical_not_(), 0).max().item<double>());
    });
  }
  const std::string of = run.method == "forward" ? "" : " of " + run.method;
  if (anyTensor && !anyElement) {
    warnings_.push_back("every output" + of +
                        " is empty on these inputs (no detection above the threshold?), and any "
                        "two models agree on that: give inputs that produce outputs");
    return;
  }
  const double atol = options_.tolerances.of(at::kFloat).atol;
  if (anyFloating && largest < atol) {
    std::ostringstream os;
    os << "every floating-point output" << of << " is below " << atol << " in magnitude (at most "
       << largest << "): a difference that small is lost in any tolerance; give other inputs";
    warnings_.push_back(os.str());
  }
  if (anyTensor && run.expected.size() > 1) {
    Tolerances exactly;
    for (auto& [dtype, t] : exactly.perDtype) t = Tolerance{0, 0};
    bool same = true;
    for (size_t t = 1; t < run.expected.size() && same; ++t) {
      OutputComparison c(exactly);
      c.add(run.method, 0, run.expected[0], run.expected[t]);
      same = c.passed();
    }
    if (same) {
      warnings_.push_back("the outputs" + of + " are the same for every trial's inputs: they do " +
                          "not depend on the inputs, so a change in how inputs are used cannot " +
                          "show");
    }
  }
}

void Verifier::prepare(const torch::jit::Module& reference, const std::string& method,
                       torch::jit::Graph& inlined) {
  MethodRun run;
  run.method = method;
  MethodInputs described;
  described.method = method;
  auto rejected = [&](const std::string& inputs, const std::exception& e) {
    return Error(method + " of the reference model rejects the inputs (" + inputs +
                 "): " + describeException(e));
  };
  auto randomInputs = [&](const std::vector<InputSpec>& specs, int trial) {
    InputGeneration generation = options_.generation;
    generation.scale *= trialScale(trial);
    return typedAsArguments(reference, method, makeInputs(specs, generation, trial));
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
      const bool live = options_.shapeSource && options_.shapeSource->find_method(method);
      specs = inferInputSpecs(live ? *options_.shapeSource : reference, method);
      for (InputSpec& s : specs) {
        if (live && s.source == "recorded in the graph") s.source = "traced, from the live module";
      }
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
  runFloat64(run);
  described.noFloat64 = run.noExact;
  try {
    described.discrete = discreteOutputs(inlined);
  } catch (const std::exception&) {
    // A graph the analysis cannot follow: its outputs are judged as continuous ones.
  }
  findVacuous(run);
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

Divergence Verifier::locate(const torch::jit::Module& before, const torch::jit::Module& after,
                            const VerifyResult& result) const {
  for (const OutputDiff& d : result.outputs) {
    if (d.passed || d.skipped) continue;
    for (const MethodRun& run : runs_) {
      if (run.method != d.method) continue;
      const size_t trial = d.maxAbsAt ? static_cast<size_t>(d.maxAbsAt->trial) : 0;
      return findDivergence(before, after, run.method, run.inputs.at(trial), trialSeed(trial),
                            options_.tolerances);
    }
  }
  return {};
}

VerifyResult Verifier::check(const torch::jit::Module& candidate) const {
  OutputComparison comparison(options_.tolerances);
  for (const auto& [method, path] : skipped_) comparison.skip(method, path);
  for (const MethodInputs& m : described_) {
    for (const auto& [path, why] : m.discrete) comparison.markDiscrete(m.method, path, why);
  }
  for (const MethodRun& run : runs_) {
    if (!candidate.find_method(run.method)) {
      comparison.addFailure(run.method, 0, "it has no method '" + run.method + "'");
      continue;
    }
    for (size_t trial = 0; trial < run.inputs.size(); ++trial) {
      try {
        c10::IValue actual =
            runIsolated(candidate, run.method, run.inputs[trial], trialSeed(trial));
        comparison.add(run.method, static_cast<int>(trial), run.expected[trial], actual,
                       trial < run.exact.size() ? &run.exact[trial] : nullptr, run.noExact);
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
    // A discrete output that passed may have a few elements far off: not an error's size.
    if (!d.skipped && (d.discrete.empty() || !d.passed)) {
      r.errorRatio = std::max(r.errorRatio, d.errorRatio);
    }
  }
  return r;
}

}  // namespace tsopt
