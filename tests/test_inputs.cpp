// Verification inputs: specs, seeded generation, inputs files, inference from the model's layers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"
#include "verify/inputs.h"

namespace tsopt {
namespace {

std::string fixtureDir() {
  std::string p = test::fixture("conv2d_bn", "traced").path();
  return p.substr(0, p.rfind('/'));
}

std::string errorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// A scripted module defined in C++: one parameter `w` of `shape` and the given source.
torch::jit::Module scripted(const std::vector<int64_t>& shape, const std::string& source) {
  torch::jit::Module m("M");
  m.register_parameter("w", torch::randn(shape), false);
  m.define(source);
  return m;
}

TEST(Inputs, SpecsParse) {
  InputSpec s = parseInputSpec("1x3x224x224");
  EXPECT_EQ(s.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  EXPECT_EQ(s.dtype, at::kFloat);
  EXPECT_EQ(s.str(), "1x3x224x224");
  s = parseInputSpec("2x16:int64:1000");
  EXPECT_EQ(s.dtype, at::kLong);
  EXPECT_EQ(s.high, 1000);
  EXPECT_EQ(s.str(), "2x16:int64:1000");
  s = parseInputSpec("scalar:float64");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.str(), "scalar:float64");
  EXPECT_EQ(parseInputSpec("0x4").shape, (std::vector<int64_t>{0, 4}));
}

TEST(Inputs, BadSpecsSayWhatIsWrong) {
  EXPECT_EQ(errorOf([] { parseInputSpec("1x3xx4"); }),
            "bad input shape '1x3xx4': size '' is not a non-negative integer (expected "
            "SHAPE[:DTYPE[:HIGH]], e.g. 1x3x224x224 or 1x16:int64:1000)");
  EXPECT_NE(errorOf([] { parseInputSpec("1x-3"); }).find("size '-3'"), std::string::npos);
  EXPECT_NE(errorOf([] { parseInputSpec("1x3:float33"); }).find("unknown dtype 'float33'"),
            std::string::npos);
  EXPECT_EQ(errorOf([] { parseInputSpec("4:float32:9"); }),
            "bad input shape '4:float32:9': HIGH is only for integer dtypes");
  EXPECT_NE(errorOf([] { parseInputSpec(""); }).find("bad input shape ''"), std::string::npos);
  EXPECT_NE(errorOf([] { parseInputSpec("1:int64:2:3"); }).find("expected SHAPE"),
            std::string::npos);
  EXPECT_EQ(errorOf([] { parseDistribution("cauchy"); }),
            "unknown distribution 'cauchy' (known: uniform, normal)");
}

TEST(Inputs, RandomInputsAreSeededPerTrialAndFollowTheDistribution) {
  std::vector<InputSpec> specs = {parseInputSpec("20000"), parseInputSpec("20000:int64:7"),
                                  parseInputSpec("100:bool")};
  InputGeneration gen;
  gen.scale = 2.0;
  auto t0 = makeInputs(specs, gen, 0), again = makeInputs(specs, gen, 0);
  auto t1 = makeInputs(specs, gen, 1);
  EXPECT_TRUE(torch::equal(t0[0].toTensor(), again[0].toTensor()));
  EXPECT_FALSE(torch::equal(t0[0].toTensor(), t1[0].toTensor()));
  at::Tensor u = t0[0].toTensor();
  EXPECT_EQ(u.scalar_type(), at::kFloat);
  EXPECT_GE(u.min().item<double>(), -2.0);
  EXPECT_LT(u.max().item<double>(), 2.0);
  EXPECT_LT(u.min().item<double>(), -1.9);  // the whole range is used
  at::Tensor i = t0[1].toTensor();
  EXPECT_EQ(i.scalar_type(), at::kLong);
  EXPECT_EQ(i.min().item<int64_t>(), 0);
  EXPECT_EQ(i.max().item<int64_t>(), 6);
  EXPECT_EQ(t0[2].toTensor().scalar_type(), at::kBool);

  gen.distribution = Distribution::kNormal;
  at::Tensor n = makeInputs(specs, gen, 0)[0].toTensor();
  EXPECT_NEAR(n.std().item<double>(), 2.0, 0.05);
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.05);
  gen.seed = 1;
  EXPECT_FALSE(torch::equal(makeInputs(specs, gen, 0)[0].toTensor(), n));
}

TEST(Inputs, InputsFileHoldsATupleOfArguments) {
  auto inputs = loadInputsFile(fixtureDir() + "/control_flow.inputs.pt");
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].toTensor().sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  EXPECT_EQ(inputs[1].toInt(), 2);
}

TEST(Inputs, UnreadableInputsFilesAreErrors) {
  std::string dir = fixtureDir();
  EXPECT_EQ(errorOf([&] { loadInputsFile(dir + "/nope.pt"); }),
            "cannot read inputs file '" + dir + "/nope.pt': no such file");
  EXPECT_EQ(errorOf([&] { loadInputsFile(dir + "/dict.inputs.pt"); }),
            "cannot read inputs file '" + dir +
                "/dict.inputs.pt': it holds a GenericDict, not a "
                "tuple of inputs");
  std::string junk = test::tempDir() + "/junk.pt";
  std::ofstream(junk) << "not a pickle";
  EXPECT_EQ(errorOf([&] { loadInputsFile(junk); }).rfind("cannot read inputs file '" + junk, 0),
            0u);
}

TEST(Inputs, InferredFromTheFirstConsumingLayer) {
  struct Case {
    std::string fixture, kind, expected;
  };
  // -1: a spatial size left for the verifier to choose.
  std::vector<Case> cases = {
      {"conv1d_bn", "traced", "2x4x-1"},
      {"conv2d_bn", "scripted", "2x3x-1x-1"},
      {"conv3d_bn", "traced", "2x2x-1x-1x-1"},
      {"grouped_conv_bn", "scripted", "2x4x-1x-1"},
      {"conv_transpose2d_bn", "traced", "2x4x-1x-1"},
      {"grouped_conv_transpose2d_bn", "scripted", "2x4x-1x-1"},
      {"linear_bn", "traced", "2x8"},
      {"nested", "scripted", "2x4x-1x-1"},
      {"control_flow", "scripted", "2x3x-1x-1"},  // n: int = 3 has a default
      {"dropout", "traced", "2x6"},
  };
  for (const Case& c : cases) {
    torch::jit::Module m = loadModule(test::fixture(c.fixture, c.kind).path());
    std::vector<InputSpec> specs = inferInputSpecs(m, "forward");
    ASSERT_EQ(specs.size(), 1u) << c.fixture;
    EXPECT_EQ(specs[0].str(), c.expected) << c.fixture;
  }
}

TEST(Inputs, CompleteTypesRecordedInTheGraphAreUsedAsTheyAre) {
  auto m = scripted({5, 7}, "def forward(self, x):\n  return torch.sin(x)\n");
  auto x = m.get_method("forward").graph()->inputs()[1];
  x->setType(c10::TensorType::createContiguous(at::kDouble, at::kCPU, {3, 4}));
  std::vector<InputSpec> specs = inferInputSpecs(m, "forward");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].str(), "3x4:float64");
  EXPECT_EQ(specs[0].source, "recorded in the graph");
}

TEST(Inputs, EmbeddingIndicesAreIntegersBelowTheTableSize) {
  auto m = scripted({50, 8}, "def forward(self, idx):\n  return torch.embedding(self.w, idx)\n");
  std::vector<InputSpec> specs = inferInputSpecs(m, "forward");
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].dtype, at::kLong);
  EXPECT_EQ(specs[0].high, 50);
}

TEST(Inputs, InferenceFollowsShapeKeepingOps) {
  auto m = scripted({5, 7},
                    "def forward(self, x):\n  return torch.linear(torch.relu(x * 2.0), self.w)\n");
  EXPECT_EQ(inferInputSpecs(m, "forward")[0].str(), "2x7");
}

TEST(Inputs, WhatCannotBeInferredIsNamed) {
  auto sin = scripted({1}, "def forward(self, x, y):\n  return torch.sin(x) + y\n");
  EXPECT_EQ(errorOf([&] { inferInputSpecs(sin, "forward"); }),
            "cannot infer the shape of input 'x' of forward (its first consumer is not a "
            "convolution, linear or embedding layer): give it with --input-shape");
  auto n = scripted({1}, "def forward(self, k: int):\n  return self.w * k\n");
  EXPECT_EQ(errorOf([&] { inferInputSpecs(n, "forward"); }),
            "input 'k' of forward is int, not a tensor: give the inputs with --inputs FILE");
}

TEST(Inputs, InputCountMustFitTheSignature) {
  torch::jit::Module m = loadModule(test::fixture("control_flow", "scripted").path());
  EXPECT_NO_THROW(checkInputCount(m, "forward", 1, "--input-shape"));
  EXPECT_NO_THROW(checkInputCount(m, "forward", 2, "--input-shape"));
  EXPECT_EQ(errorOf([&] { checkInputCount(m, "forward", 3, "--input-shape"); }),
            "forward(x: Tensor, n: int = 3) takes 1 to 2 inputs, got 3 (--input-shape)");
  EXPECT_EQ(errorOf([&] { checkInputCount(m, "fwd", 1, "--input-shape"); }),
            "the model has no method 'fwd' (it has: forward)");
}

}  // namespace
}  // namespace tsopt
