// The deployment passes and presets: torch-freeze, the frozen folds, torch-remove-dropout,
// torch-transpose-frozen-linear, mkldnn-conv, prepack-conv, and -O0/-O1/-O2: IR, numerics, and
// that the result saves and loads.
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/pipeline.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using torch::jit::testing::FileCheck;

torch::jit::Module saveAndLoad(const torch::jit::Module& m) {
  return deserializeModule(serializeModule(m), "the saved model");
}

/// A conv with a constant factor and offset after it, and dropout, in eval mode. (LibTorch's
/// frozen folds take scalars; they leave a per-channel tensor like [C,1,1] alone.)
torch::jit::Module convArithModel() {
  torch::jit::Module m("ConvArith");
  m.register_attribute("training", c10::BoolType::get(), true);
  m.register_parameter("weight", at::rand({6, 3, 3, 3}), false);
  m.register_parameter("bias", at::rand({6}), false);
  m.define(R"(
def forward(self, x):
    y = torch.conv2d(x, self.weight, self.bias, [1, 1], [1, 1])
    y = y * 1.5
    y = y - 0.5
    y = torch.dropout(y, 0.3, self.training)
    return torch.relu(y)
)");
  m.eval();
  return m;
}

/// Every attribute the frozen, prepacked forward reads is the prepacked-convolution holder or
/// one of its convolution contexts.
void expectOnlyPrepackedAttributesRead(const torch::jit::Module& m) {
  auto g = methodGraph(m, "forward");
  for (torch::jit::Node* n : g->nodes()) {
    if (n->kind() != c10::prim::GetAttr) continue;
    const std::string& name = n->s(c10::attr::name);
    bool holder =
        n->input()->node()->kind() == c10::prim::Param && name.rfind("_tsopt_prepacked", 0) == 0;
    bool context = n->input()->node()->kind() == c10::prim::GetAttr && name.rfind("conv_", 0) == 0;
    EXPECT_TRUE(holder || context) << "reads attribute " << name << " in\n" << *g;
  }
}

/// Checks that oneDNN rewrite `pass` skips, and counts, a transposed convolution, a 1-d one, and
/// one whose weight is read from an attribute (not frozen); returns that last module.
torch::jit::Module expectSkipsWhatItCannotRewrite(const std::string& pass) {
  auto [t, tr] =
      test::runPipeline(test::fixture("conv_transpose2d_bn", "traced"), "torch-freeze," + pass);
  EXPECT_EQ(tr.passes.back().stats.at("skipped.transposed"), 1);
  EXPECT_FALSE(tr.passes.back().changed);
  auto [c, cr] = test::runPipeline(test::fixture("conv1d_bn", "traced"), "torch-freeze," + pass);
  EXPECT_EQ(cr.passes.back().stats.at("skipped.not-2d"), 1);
  auto [u, ur] = test::runPipeline(test::fixture("conv2d_bn", "traced"), "inline," + pass);
  EXPECT_EQ(ur.passes.back().stats.at("skipped.weight-not-constant"), 1)
      << "weights read from attributes stay with the plain convolution";
  return u;
}

TEST(Deploy, O2OnEveryEvalFixtureSavesLoadsAndComputesTheSame) {
  const std::string o2 = findPreset("O2").pipeline;
  int optimized = 0;
  for (const test::Fixture& f : test::fixtures()) {
    SCOPED_TRACE(f.id());
    if (f.training) {
      EXPECT_THROW(test::runPipeline(f, o2), Error);
      continue;
    }
    auto [m, result] = test::runPipeline(f, o2);
    torch::jit::Module loaded = saveAndLoad(m);
    test::expectSameNumerics(f, loaded);
    if (f.name != "stateful") {  // its buffer is mutated in place, so it stays an attribute
      expectOnlyPrepackedAttributesRead(loaded);
    }
    ++optimized;
  }
  EXPECT_GT(optimized, 40);
}

TEST(Deploy, MkldnnConvRewritesPlainConvolutionsOnly) {
  for (const char* kind : {"traced", "scripted"}) {
    const test::Fixture& f = test::fixture("conv2d_bn", kind);
    auto [m, result] = test::runPipeline(f, "torch-freeze,fold-conv-bn,mkldnn-conv");
    EXPECT_EQ(result.passes.back().stats.at("rewritten"), 1);
    auto g = methodGraph(m, "forward");
    FileCheck()
        .check_not("aten::_convolution")
        ->check_not("aten::conv2d")
        ->check("aten::mkldnn_convolution")
        ->check_not("aten::batch_norm")
        ->run(*g);
    torch::jit::Module loaded = saveAndLoad(m);
    test::expectSameNumerics(f, loaded);
  }
  expectSkipsWhatItCannotRewrite("mkldnn-conv");
}

TEST(Deploy, MkldnnConvChannelsLastStoresNhwcWeightsThatSurviveSaving) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  auto [m, result] = test::runPipeline(f, "torch-freeze,mkldnn-conv{channels-last=true}");
  torch::jit::Module loaded = saveAndLoad(m);
  bool sawWeight = false;
  for (torch::jit::Node* n : methodGraph(loaded, "forward")->nodes()) {
    if (n->kind() != c10::aten::mkldnn_convolution) continue;
    at::Tensor w = torch::jit::toIValue(n->input(1))->toTensor();
    EXPECT_TRUE(w.is_contiguous(at::MemoryFormat::ChannelsLast));
    sawWeight = true;
  }
  EXPECT_TRUE(sawWeight);
  test::expectSameNumerics(f, loaded);
}

/// Convolutions in the shapes prepack-conv meets: followed by a ReLU (fused), by a ReLU and
/// another use (not fused), without bias and with no padding, and grouped inside an `if` with
/// an in-place ReLU; `other` is a second method with its own convolution.
torch::jit::Module prepackModel() {
  torch::jit::Module m("Prepack");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w1", at::randn({8, 3, 3, 3}), false);
  m.register_parameter("b1", at::randn({8}), false);
  m.register_parameter("w2", at::randn({8, 8, 3, 3}), false);
  m.register_parameter("w3", at::randn({8, 2, 3, 3}), false);
  m.register_parameter("b3", at::randn({8}), false);
  m.define(R"(
def forward(self, x, flag: bool):
    a = torch.relu(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]))
    b = torch.conv2d(a, self.w2, None, [2, 2], [0, 0])
    c = torch.relu(b) + b
    if flag:
        c = torch.relu_(torch.conv2d(c, self.w3, self.b3, [1, 1], [1, 1], [1, 1], 4))
    return c
def other(self, x):
    return torch.conv2d(x, self.w1, self.b1, [1, 1], [2, 2], [2, 2])
)");
  return m;
}

void expectSameOutputs(torch::jit::Module& want, torch::jit::Module& got) {
  at::Tensor x = at::randn({2, 3, 13, 11});
  for (bool flag : {false, true}) {
    at::Tensor expected = want.forward({x, flag}).toTensor();
    at::Tensor actual = got.forward({x, flag}).toTensor();
    EXPECT_TRUE(actual.is_contiguous()) << "the caller gets the layout it got before";
    EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-4)) << (actual - expected).abs().max();
  }
  at::Tensor expected = want.get_method("other")({x}).toTensor();
  at::Tensor actual = got.get_method("other")({x}).toTensor();
  EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-4)) << (actual - expected).abs().max();
}

TEST(Deploy, PrepackConvFusesReluWhereItIsTheOnlyUseAndTheModelReloads) {
  for (const char* pipeline :
       {"torch-freeze,prepack-conv", "torch-freeze,prepack-conv{channels-last=false}"}) {
    SCOPED_TRACE(pipeline);
    torch::jit::Module original = prepackModel();
    torch::jit::Module m = saveAndLoad(original);
    RunResult r = PassManager(parsePipeline(pipeline)).run(m, {"forward", "other"});
    const PassRecord& prepack = r.passes[1];  // counts over both methods
    EXPECT_EQ(prepack.stats.at("rewritten.relu-fused"), 2);
    EXPECT_EQ(prepack.stats.at("rewritten"), 2);
    auto g = methodGraph(m, "forward");
    FileCheck()
        .check_count("prim::GetAttr[name=\"_tsopt_prepacked\"]", 1, /*exactly=*/true)
        ->check("mkldnn_prepacked::conv2d_run")
        ->check_not("aten::relu")
        ->check("mkldnn_prepacked::conv2d_run")
        ->check("aten::relu")  // b has a second use: its ReLU stays
        ->check("prim::If")
        ->check("mkldnn_prepacked::conv2d_run")
        ->check_not("aten::relu")
        ->run(*g);
    FileCheck().check_not("aten::conv2d")->run(*g);
    FileCheck()
        .check("_tsopt_prepacked_1")
        ->check("mkldnn_prepacked::conv2d_run")
        ->run(*methodGraph(m, "other"));
    expectSameOutputs(original, m);
    torch::jit::Module loaded = saveAndLoad(m);
    expectSameOutputs(original, loaded);
  }
}

TEST(Deploy, PrepackConvKeepsWhatItCannotPrepack) {
  torch::jit::Module unfrozen = expectSkipsWhatItCannotRewrite("prepack-conv");
  EXPECT_FALSE(unfrozen.hasattr("_tsopt_prepacked")) << "no holder when nothing is prepacked";
}

TEST(Deploy, FrozenFoldsAbsorbConstantArithmeticAndDropoutGoes) {
  torch::jit::Module original = convArithModel();
  torch::jit::Module m = saveAndLoad(original);
  PassManager pm(
      parsePipeline("torch-freeze,torch-remove-dropout,torch-fold-frozen-conv-mul-or-div,"
                    "torch-fold-frozen-conv-add-or-sub,dce"));
  RunResult r = pm.run(m, {"forward"});
  EXPECT_TRUE(r.passes[1].changed);
  EXPECT_TRUE(r.passes[2].changed);
  EXPECT_TRUE(r.passes[3].changed);
  auto g = methodGraph(m, "forward");
  FileCheck()
      .check("aten::conv2d")
      ->check_not("aten::mul")
      ->check_not("aten::sub")
      ->check_not("aten::dropout")
      ->check("aten::relu")
      ->run(*g);
  at::Tensor x = at::rand({2, 3, 9, 9});
  torch::jit::Module loaded = saveAndLoad(m);
  at::Tensor want = original.forward({x}).toTensor();
  at::Tensor got = loaded.forward({x}).toTensor();
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max();
}

TEST(Deploy, ConstantPropagationAndCseFoldWhatTheyShould) {
  torch::jit::Module original("Arith");
  original.register_attribute("training", c10::BoolType::get(), false);
  original.define(R"(
def forward(self, x):
    k = torch.ones([3]) * 2.0
    a = x * k
    b = x * k
    return a + b
)");
  torch::jit::Module m = saveAndLoad(original);
  RunResult r =
      PassManager(parsePipeline("torch-constant-propagation,torch-cse,dce")).run(m, {"forward"});
  EXPECT_TRUE(r.passes[0].changed);
  EXPECT_TRUE(r.passes[1].changed);
  auto g = methodGraph(m, "forward");
  FileCheck()
      .check_not("aten::ones")             // the constant is computed once, at compile time
      ->check_count("aten::mul", 1, true)  // the repeated product is computed once
      ->check("aten::add")
      ->run(*g);
  at::Tensor x = at::randn({4, 3});
  at::Tensor want = original.forward({x}).toTensor();
  at::Tensor got = saveAndLoad(m).forward({x}).toTensor();
  EXPECT_TRUE(at::allclose(got, want)) << (got - want).abs().max();
}

TEST(Deploy, TransposeFrozenLinearTurnsConstantLinearsIntoMatmuls) {
  torch::jit::Module original("Linears");
  original.register_attribute("training", c10::BoolType::get(), false);
  original.register_parameter("w1", at::randn({5, 4}), false);
  original.register_parameter("b1", at::randn({5}), false);
  original.register_parameter("w2", at::randn({3, 5}), false);
  original.define(R"(
def forward(self, x, w):
    y = torch.relu(torch.linear(x, self.w1, self.b1))
    z = torch.linear(y, self.w2)
    return torch.linear(z, w)
)");
  torch::jit::Module m = saveAndLoad(original);
  RunResult r =
      PassManager(parsePipeline("torch-freeze,torch-transpose-frozen-linear")).run(m, {"forward"});
  EXPECT_TRUE(r.passes[1].changed);
  auto g = methodGraph(m, "forward");
  FileCheck()
      .check("aten::matmul")
      ->check("aten::add")  // the bias
      ->check("aten::relu")
      ->check("aten::matmul")
      ->check_not("aten::add")  // no bias, none added
      ->check("aten::linear")   // the weight is an input: left alone
      ->run(*g);
  for (const at::Tensor& x : {at::randn({2, 4}), at::randn({4}), at::randn({2, 3, 4})}) {
    at::Tensor w = at::randn({2, 3});
    at::Tensor want = original.forward({x, w}).toTensor();
    at::Tensor got = saveAndLoad(m).forward({x, w}).toTensor();
    EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-5)) << (got - want).abs().max();
  }
}

TEST(Deploy, FreezeRefusesATrainingModel) {
  torch::jit::Module m = convArithModel();
  m.train();
  PassManager pm(parsePipeline("torch-freeze"));
  try {
    pm.run(m, {"forward"});
    FAIL() << "froze a model in training mode";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "pass 'torch-freeze' failed on method 'forward': the model is in training mode; "
              "freezing needs eval mode (save it after model.eval())");
  }
}

TEST(Deploy, FreezeKeepsEveryMethod) {
  const test::Fixture& f = test::fixture("nested", "scripted");
  auto [m, result] = test::runPipeline(f, "torch-freeze", {"forward", "encode"});
  torch::jit::Module loaded = saveAndLoad(m);
  test::expectSameNumerics(f, loaded);
  test::expectSameNumerics(f, loaded, "encode");
}

TEST(Deploy, PresetsAreNamedPipelines) {
  EXPECT_EQ(findPreset("O1").pipeline, "inline,fold-conv-bn,fold-linear-bn,dce");
  EXPECT_EQ(&findPreset("2"), &findPreset("O2"));
  EXPECT_EQ(findPreset("O0").pipeline, "");
  for (const PipelinePreset& p : pipelinePresets()) {
    if (!p.pipeline.empty()) {
      EXPECT_EQ(parsePipeline(p.pipeline).str(), p.pipeline);
    }
  }
  try {
    findPreset("3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown optimisation level '-O3' (known: -O0, -O1, -O2)");
  }
}

TEST(Deploy, RunWithPresets) {
  const test::Fixture& f = test::fixture("conv2d_bn", "scripted");
  std::string dir = test::tempDir();
  for (const char* level : {"0", "1", "2"}) {
    SCOPED_TRACE(level);
    std::string out = dir + "/o" + level + ".pt", report = dir + "/r" + level + ".json";
    auto r = test::runTsopt("run " + f.path() + " -O" + level + " -o " + out + " --verify -q " +
                            "--report " + report);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    std::ifstream in(report);
    nlohmann::json j = nlohmann::json::parse(in);
    EXPECT_EQ(j["pipeline"], findPreset(level).pipeline);
    EXPECT_EQ(j["verify"]["passed"], true);
    torch::jit::Module m = loadModule(out);
    test::expectSameNumerics(f, m);
  }
  auto dflt =
      test::runTsopt("run " + f.path() + " -o " + dir + "/d.pt --report " + dir + "/d.json -q");
  ASSERT_EQ(dflt.exitCode, 0) << dflt.err;
  std::ifstream in(dir + "/d.json");
  EXPECT_EQ(nlohmann::json::parse(in)["pipeline"], findPreset("O1").pipeline);
}

}  // namespace
}  // namespace tsopt
