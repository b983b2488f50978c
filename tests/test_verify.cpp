// The Verifier and pipeline checks: equal and different models, isolation of runs (module state
// and in-place input writes), inputs, and finding the pass that changed the numbers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/report.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/plugin.h"
#include "tests/test_util.h"
#include "verify/pipeline_check.h"

namespace tsopt {
namespace {

torch::jit::Module load(const std::string& name, const std::string& kind = "traced") {
  return loadModule(test::fixture(name, kind).path());
}

VerifyOptions shapes(std::vector<std::string> specs) {
  VerifyOptions o;
  for (const std::string& s : specs) o.inputShapes.push_back(parseInputSpec(s));
  return o;
}

/// The registry with the deliberately wrong pass of tests/plugins/unsafe_drop_relu.cpp.
PassRegistry& unsafeRegistry() {
  static PassRegistry r = [] {
    PassRegistry reg;
    for (std::string name : {"inline", "fold-conv-bn", "dce"}) {
      reg.add([name] { return PassRegistry::global().create(name); });
    }
    loadPlugin(test::pluginPath("tsopt_test_plugin_unsafe_drop_relu"), reg);
    return reg;
  }();
  return r;
}

torch::jit::Module transformed(const std::string& fixture, const std::string& pipeline) {
  torch::jit::Module m = load(fixture);
  PassManager(parsePipeline(pipeline, unsafeRegistry())).run(m, {"forward"});
  return roundTrip(m);
}

TEST(Verifier, EqualModelsPassWithZeroError) {
  Verifier v(load("conv2d_bn"), VerifyOptions{});
  VerifyResult r = v.check(load("conv2d_bn", "scripted"));
  EXPECT_TRUE(r.passed) << r.mismatch;
  EXPECT_EQ(r.trials, 3);
  EXPECT_EQ(r.maxAbsDiff, 0);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].kind, "Tensor[float32, 2x8x32x32]");  // spatial size 32 chosen
  ASSERT_EQ(v.inputs().size(), 1u);
  EXPECT_EQ(v.inputs()[0].described,
            (std::vector<std::string>{
                "2x3x32x32 (inferred from the weight of the first aten::_convolution)"}));
}

TEST(Verifier, FoldedModelPassesAndAWrongPassFailsWithALocation) {
  Verifier v(load("conv2d_bn"), shapes({"2x3x12x12"}));
  VerifyResult folded = v.check(transformed("conv2d_bn", "inline,fold-conv-bn,dce"));
  EXPECT_TRUE(folded.passed) << folded.mismatch;
  EXPECT_GT(folded.maxAbsDiff, 0);  // folding rounds differently, within tolerance

  VerifyResult wrong = v.check(transformed("conv2d_bn", "inline,unsafe-drop-relu"));
  EXPECT_FALSE(wrong.passed);
  ASSERT_EQ(wrong.outputs.size(), 1u);
  const OutputDiff& d = wrong.outputs[0];
  EXPECT_FALSE(d.passed);
  ASSERT_TRUE(d.maxAbsAt);
  EXPECT_EQ(d.maxAbsAt->index.size(), 4u);
  EXPECT_EQ(d.maxAbsAt->expected, 0);  // relu clamped it; the wrong model did not
  EXPECT_LT(d.maxAbsAt->actual, 0);
  EXPECT_DOUBLE_EQ(d.maxAbsDiff, -d.maxAbsAt->actual);
  EXPECT_EQ(wrong.mismatch.rfind("out: ", 0), 0u) << wrong.mismatch;
}

TEST(Verifier, RunsAreIsolatedFromModuleStateAndInputWrites) {
  // Each call of `stateful` increments a buffer it scales by; `mutation` writes its input.
  // The reference itself is checked, twice: every run must start from the same state.
  for (const char* name : {"stateful", "mutation"}) {
    torch::jit::Module m = load(name, "scripted");
    Verifier v(m, shapes({"3x4"}));
    for (int i = 0; i < 2; ++i) {
      VerifyResult r = v.check(m);
      EXPECT_TRUE(r.passed) << name << ": " << r.mismatch;
    }
  }
  // Without isolation the stateful model would not even agree with itself.
  torch::jit::Module m = load("stateful", "scripted");
  at::Tensor x = torch::ones({2, 3});
  EXPECT_FALSE(torch::equal(m.forward({x}).toTensor(), m.forward({x}).toTensor()));
}

TEST(Verifier, CandidateThatThrowsOrLacksTheMethodDiffers) {
  Verifier v(load("conv2d_bn"), shapes({"2x3x8x8"}));
  VerifyResult r = v.check(load("conv1d_bn"));
  EXPECT_FALSE(r.passed);
  EXPECT_NE(
      r.mismatch.find("the candidate failed on trial 0: RuntimeError: Expected 3-dimensional"),
      std::string::npos)
      << r.mismatch;
  VerifyOptions encode = shapes({"2x4x5x5"});
  encode.methods = {"encode"};
  Verifier e(load("nested", "scripted"), encode);
  EXPECT_EQ(e.check(load("conv2d_bn")).mismatch,
            "out of encode: the candidate failed on trial 0: it has no method 'encode'");
}

TEST(Verifier, BadInputsAreErrorsBeforeAnyComparison) {
  auto error = [](const torch::jit::Module& m, VerifyOptions o) {
    try {
      Verifier v(m, std::move(o));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error(load("conv2d_bn"), shapes({"2x3x8x8", "2x3x8x8"})),
            "forward(x: Tensor) takes 1 input, got 2");
  EXPECT_EQ(error(load("conv2d_bn"), shapes({"2x4x8x8"})),
            "forward of the reference model rejects the inputs (2x4x8x8): RuntimeError: Given "
            "groups=1, weight of size [8, 3, 3, 3], expected input[2, 4, 8, 8] to have 3 "
            "channels, but got 4 channels instead");
  VerifyOptions zero;
  zero.trials = 0;
  EXPECT_EQ(error(load("conv2d_bn"), zero), "trials must be 1 to 10000, not 0");
  VerifyOptions tooMany;
  tooMany.trials = kMaxTrials + 1;
  EXPECT_EQ(error(load("conv2d_bn"), tooMany), "trials must be 1 to 10000, not 10001");
}

TEST(Verifier, InputsFromAFileAreOneTrialAndMayHoldNonTensors) {
  std::string p = test::fixture("control_flow", "scripted").path();
  VerifyOptions o;
  o.inputsFile = p.substr(0, p.rfind('/')) + "/control_flow.inputs.pt";
  Verifier v(load("control_flow", "scripted"), o);
  VerifyResult r = v.check(load("control_flow", "scripted"));
  EXPECT_TRUE(r.passed) << r.mismatch;
  EXPECT_EQ(r.trials, 1);
  ASSERT_EQ(v.inputs()[0].described.size(), 2u);
  EXPECT_EQ(v.inputs()[0].described[1], "2 (from " + o.inputsFile + ")");
}

TEST(Verifier, ReportJsonNamesEveryOutputAndTheTolerances) {
  Verifier v(load("outputs", "scripted"), shapes({"2x3x8x8"}));
  nlohmann::json j = verifyJson(v, v.check(load("outputs", "traced")));
  EXPECT_EQ(j["passed"], true);
  EXPECT_EQ(j["trials"], 3);
  EXPECT_EQ(j["rtol"], 1e-4);
  EXPECT_EQ(j["atol"], 1e-5);
  EXPECT_EQ(j["tolerances"]["float16"]["rtol"], 1e-3);
  EXPECT_EQ(j["inputs"]["forward"][0], "2x3x8x8 (given)");
  ASSERT_EQ(j["outputs"].size(), 5u);
  EXPECT_EQ(j["outputs"][3]["path"], "out[2]['mean']");
  EXPECT_TRUE(j["outputs"][3].contains("max_abs_at"));
  EXPECT_EQ(j["mismatch"], nullptr);
}

TEST(PipelineCheck, VerifyEachNamesTheFirstPassThatChangesTheOutputs) {
  Verifier v(load("conv2d_bn"), shapes({"2x3x12x12"}));
  torch::jit::Module m = load("conv2d_bn");
  PassManager pm(parsePipeline("inline,fold-conv-bn,unsafe-drop-relu,dce", unsafeRegistry()));
  auto each = std::make_shared<VerifyEachPass>(v);
  pm.addInstrumentation(each);
  pm.run(m, {"forward"});
  ASSERT_EQ(each->checks().size(), 4u);
  EXPECT_TRUE(each->checks()[1].result.passed);
  EXPECT_FALSE(each->checks()[2].result.passed);
  EXPECT_EQ(each->firstFailing(), 2u);
}

TEST(PipelineCheck, BisectionFindsTheWrongPassInLogarithmicallyManyRuns) {
  Verifier v(load("conv2d_bn"), shapes({"2x3x12x12"}));
  // Eight passes; the wrong one is the sixth.
  const std::string pipeline = "inline,dce,dce,fold-conv-bn,dce,unsafe-drop-relu,dce,dce";
  BisectResult r =
      bisectPipeline([] { return load("conv2d_bn"); },
                     [&] { return parsePipeline(pipeline, unsafeRegistry()); }, {"forward"}, 8, v);
  EXPECT_FALSE(r.baselineDiffers);
  EXPECT_EQ(r.firstFailing, 5u);
  EXPECT_LE(r.steps.size(), 4u);  // the baseline and log2(8) prefixes
  EXPECT_TRUE(r.steps[0].passed);
  EXPECT_EQ(r.steps[0].passes, 0u);
}

TEST(PipelineCheck, BisectionBlamesNoPassWhenTheModelDiffersFromItself) {
  // Saved and loaded, this model adds one more: it differs from itself before any pass runs.
  torch::jit::Module drifting("Drifting");
  drifting.register_attribute("training", c10::BoolType::get(), false);
  drifting.register_attribute("k", c10::TensorType::get(), at::zeros({4}));
  drifting.define(R"(
def forward(self, x):
    return x + self.k

def __getstate__(self):
    return (self.k, self.training)

def __setstate__(self, state: Tuple[Tensor, bool]):
    self.k = state[0] + 1.0
    self.training = state[1]
)");
  Verifier v(drifting, shapes({"4"}));
  BisectResult r =
      bisectPipeline([&] { return drifting.clone(); },
                     [] { return parsePipeline("dce", unsafeRegistry()); }, {"forward"}, 1, v);
  EXPECT_TRUE(r.baselineDiffers);
  EXPECT_FALSE(r.firstFailing);
}

TEST(PipelineCheck, AModelThatDrawsRandomNumbersEqualsItself) {
  // Every model run of a trial starts from the same random-number state.
  torch::jit::Module noisy("Noisy");
  noisy.define("def forward(self, x):\n  return x + torch.rand_like(x)\n");
  Verifier v(noisy, shapes({"4"}));
  EXPECT_TRUE(v.check(noisy.clone()).passed);
  EXPECT_TRUE(v.check(roundTrip(noisy)).passed);
  // Something else drawn is a real difference.
  torch::jit::Module other("Other");
  other.define("def forward(self, x):\n  return x + torch.rand_like(x) * 0.5\n");
  EXPECT_FALSE(v.check(other).passed);
}

}  // namespace
}  // namespace tsopt
