// Verification inputs: specs, seeded generation, inputs files, inference from the model's layers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"
#include "verify/inputs.h"
#include "verify/pickle_compat.h"

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
  EXPECT_EQ(s.high.value, 1000);
  EXPECT_EQ(s.str(), "2x16:int64:1000");
  s = parseInputSpec("scalar:float64");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.str(), "scalar:float64");
  EXPECT_EQ(parseInputSpec("0x4").shape, (std::vector<int64_t>{0, 4}));
  // Each form reads back as it was written.
  for (const char* text :
       {"2x50x80", "2:int64:=@0.1", "2:int64:1..@0.1", "4:int32:-5..5", "@0.0x7:int64:100",
        "[3x64x64,3x48x64]", "[]", "{boxes=5x4,labels=5:int64:3}", "[[2x2],{a=scalar:float64}]"}) {
    EXPECT_EQ(parseInputSpec(text).str(), text);
  }
  s = parseInputSpec("2:int64:=@0.1");
  EXPECT_TRUE(s.fill);
  ASSERT_TRUE(s.low.ref);
  EXPECT_EQ(*s.low.ref, (SizeRef{0, 1}));
  s = parseInputSpec("[3x8x8,{k=2}]");
  EXPECT_EQ(s.kind, InputSpec::Kind::kList);
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[1].second.kind, InputSpec::Kind::kDict);
  EXPECT_EQ(s.items[1].second.items[0].first, "k");
}

TEST(Inputs, BadSpecsSayWhatIsWrong) {
  EXPECT_EQ(errorOf([] { parseInputSpec("1x3xx4"); }),
            "bad input spec '1x3xx4': size '' is not a non-negative integer (expected "
            "SHAPE[:DTYPE[:VALUES]], [SPEC,...] or {KEY=SPEC,...}, e.g. 1x3x224x224, "
            "1x16:int64:1000, 4:int64:=@0.1 or [3x64x64,3x48x64])");
  EXPECT_NE(errorOf([] { parseInputSpec("1x-3"); }).find("size '-3'"), std::string::npos);
  EXPECT_NE(errorOf([] { parseInputSpec("1x3:float33"); }).find("unknown dtype 'float33'"),
            std::string::npos);
  EXPECT_EQ(errorOf([] { parseInputSpec("4:float32:9"); }),
            "bad input spec '4:float32:9': VALUES (9) are only for integer dtypes");
  EXPECT_EQ(errorOf([] { parseInputSpec("4:int64:5..5"); }),
            "bad input spec '4:int64:5..5': the range 5..5 is empty (values are drawn from "
            "[LOW, HIGH))");
  EXPECT_EQ(errorOf([] { parseInputSpec("@0x4"); }),
            "bad input spec '@0x4': '@0' is not a size reference @INPUT.DIM, e.g. @0.1");
  EXPECT_EQ(errorOf([] { parseInputSpec("[3x4"); }), "bad input spec '[3x4': unbalanced brackets");
  EXPECT_EQ(errorOf([] { parseInputSpec("{3x4}"); }),
            "bad input spec '{3x4}': dict entry '3x4' is not KEY=SPEC");
  EXPECT_NE(errorOf([] {
              parseInputSpec(std::string(40, '[') + "2" + std::string(40, ']'));
            }).find("': nested more than 16 deep"),
            std::string::npos);
  EXPECT_NE(errorOf([] { parseInputSpec(""); }).find("bad input spec ''"), std::string::npos);
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

TEST(Inputs, SizeReferencesListsAndDictsAreMade) {
  std::vector<InputSpec> specs = {parseInputSpec("3x7x2"), parseInputSpec("@0.0:int64:=@0.1"),
                                  parseInputSpec("500:int64:1..@0.1"),
                                  parseInputSpec("[2x4x4,2x3x5]"),
                                  parseInputSpec("{a=2,b=scalar}")};
  auto inputs = makeInputs(specs, InputGeneration{}, 0);
  EXPECT_TRUE(torch::equal(inputs[1].toTensor(), torch::full({3}, 7, torch::kLong)));
  at::Tensor ranged = inputs[2].toTensor();
  EXPECT_EQ(ranged.min().item<int64_t>(), 1);
  EXPECT_EQ(ranged.max().item<int64_t>(), 6);             // [1, 7)
  c10::List<at::Tensor> list = inputs[3].toTensorList();  // typed List[Tensor]
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.get(1).sizes(), (std::vector<int64_t>{2, 3, 5}));
  auto dict = inputs[4].toGenericDict();
  EXPECT_EQ(dict.at("a").toTensor().sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(dict.at("b").toTensor().dim(), 0);

  auto bad = [](const std::string& spec) {
    return errorOf([&] { makeInputs({parseInputSpec("2x3"), parseInputSpec(spec)}, {}, 0); });
  };
  EXPECT_EQ(bad("@2.0"),
            "size reference @2.0: there is no input 2 (the inputs are numbered from 0 to 1)");
  EXPECT_EQ(bad("@0.2"), "size reference @0.2: input 0 (2x3) has 2 dimensions");
  EXPECT_EQ(bad("@1.0"), "size reference @1.0: that size is not a number (@1.0)");
  EXPECT_EQ(bad("4:int64:3..@0.0"), "bad input spec '4:int64:3..@0.0': the range is empty (3..2)");
}

TEST(Inputs, OneElementListsSavedByPythonAreRead) {
  // torch.save(([image], frames, lengths)) pickles the one-element list with APPEND, which
  // LibTorch's own unpickler rejects ("Unknown opcode").
  auto inputs = loadInputsFile(fixtureDir() + "/images_and_lengths.inputs.pt");
  ASSERT_EQ(inputs.size(), 3u);
  ASSERT_TRUE(inputs[0].isList());
  ASSERT_EQ(inputs[0].toListRef().size(), 1u);
  EXPECT_EQ(inputs[0].toListRef()[0].toTensor().sizes(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_TRUE(torch::equal(inputs[2].toTensor(), torch::tensor({5, 3})));
  // The list is untyped until it meets the signature: the method then accepts it.
  torch::jit::Module m = loadModule(fixtureDir() + "/images_and_lengths.pt");
  EXPECT_THROW(m.forward(inputs), c10::Error);
  auto typed = typedAsArguments(m, "forward", inputs);
  EXPECT_TRUE(typed[0].toList().elementType()->isSubtypeOf(*c10::TensorType::get()));
  EXPECT_EQ(m.forward(typed).toTensor().sizes(), (std::vector<int64_t>{2, 4}));
}

TEST(Inputs, AppendIsRewrittenAsMarkAndAppends) {
  // [[1]] at protocol 2: PROTO 2, EMPTY_LIST, BINPUT 0, EMPTY_LIST, BINPUT 1, BININT1 1,
  // APPEND, APPEND, STOP.
  const std::string pickle(
      "\x80\x02]q\x00]q\x01K\x01"
      "aa.",
      13);
  EXPECT_EQ(rewriteAppends(pickle), std::string("\x80\x02]q\x00(]q\x01(K\x01"
                                                "ee.",
                                                15));
  // A stream with an opcode the walk does not know is left as it is.
  const std::string unknown(
      "\x80\x02]Z\x01"
      "a.",
      7);
  EXPECT_EQ(rewriteAppends(unknown), unknown);
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
  EXPECT_EQ(specs[0].high.value, 50);
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
            "convolution, linear or embedding layer): save example inputs beside the model as "
            "MODEL.inputs.pt, or describe it");
  auto n = scripted({1}, "def forward(self, k: int):\n  return self.w * k\n");
  EXPECT_EQ(errorOf([&] { inferInputSpecs(n, "forward"); }),
            "input 'k' of forward is int, not a tensor: save example inputs beside the model as "
            "MODEL.inputs.pt, or describe it (e.g. '[3x224x224]' for a List[Tensor])");
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
