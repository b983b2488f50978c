// The deployment passes and presets: torch-freeze, the frozen folds, torch-remove-dropout,
// transpose-frozen-linear, mkldnn-conv, prepack-conv, mkldnn-blocked, and -O0/-O1/-O2: IR,
// numerics, and that the result saves and loads.
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "passes/core/child_process.h"
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

/// Every attribute the frozen forward reads is a holder of prepacked convolutions or of
/// reordered weights, or what those hold.
void expectOnlyHolderAttributesRead(const torch::jit::Module& m) {
  auto g = methodGraph(m, "forward");
  auto startsWith = [](const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
  };
  for (torch::jit::Node* n : g->nodes()) {
    if (n->kind() != c10::prim::GetAttr) continue;
    const std::string& name = n->s(c10::attr::name);
    bool holder = n->input()->node()->kind() == c10::prim::Param &&
                  (startsWith(name, "_tsopt_prepacked") || startsWith(name, "_tsopt_mkldnn"));
    bool held = n->input()->node()->kind() == c10::prim::GetAttr &&
                (startsWith(name, "conv_") || startsWith(name, "weight_"));
    EXPECT_TRUE(holder || held) << "reads attribute " << name << " in\n" << *g;
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
    // These write an attribute in forward (a buffer in place, a dict in place or assigned), so
    // freezing keeps it an attribute.
    static const std::set<std::string> writeAttributes = {"stateful", "layer_getter_written",
                                                          "layer_getter_assigned"};
    if (!writeAttributes.count(f.name)) expectOnlyHolderAttributesRead(loaded);
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

TEST(Deploy, SavingRefusesAPrepackedConvolutionFrozenIntoAConstant) {
  // The parser refuses this order (Pass::constraintsOnLater); a pipeline built by hand, as a
  // plugin's own freezing pass could, reaches the check made on saving.
  Pipeline pipeline;
  for (const char* name : {"torch-freeze", "prepack-conv", "torch-freeze"}) {
    pipeline.elements.emplace_back();
    pipeline.elements.back().pass = PassRegistry::global().create(name);
  }
  torch::jit::Module m = saveAndLoad(prepackModel());
  PassManager(std::move(pipeline)).run(m, {"forward"});
  try {
    serializeModule(m);
    FAIL() << "saved";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "method 'forward' holds a prepacked convolution as a constant, which LibTorch "
                 "saves in a form it cannot load (was it frozen after its convolutions were "
                 "prepacked?)");
  }
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

/// One weight read by four convolutions (a block applied again and again, as a traced loop
/// unrolls it), the last without a ReLU, after a convolution of its own.
torch::jit::Module sharedWeightModel() {
  torch::jit::Module m("SharedWeight");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w0", at::randn({8, 3, 3, 3}), false);
  m.register_parameter("w", at::randn({8, 8, 3, 3}) * 0.2, false);
  m.register_parameter("b", at::randn({8}), false);
  m.define(R"(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.w0, self.b, [1, 1], [1, 1]))
    y = torch.relu(torch.conv2d(y, self.w, self.b, [1, 1], [1, 1]))
    y = torch.relu(torch.conv2d(y, self.w, self.b, [1, 1], [1, 1]))
    y = torch.relu(torch.conv2d(y, self.w, self.b, [1, 1], [1, 1]))
    return torch.conv2d(y, self.w, self.b, [1, 1], [1, 1])
)");
  return m;
}

/// The distinct storages of the tensors `holder` of `m` holds (an MKLDNN tensor's own).
size_t storagesHeld(const torch::jit::Module& m, const std::string& holder) {
  std::set<const void*> storages;
  for (const torch::jit::NameValue& a : m.attr(holder).toModule().named_attributes(false)) {
    if (!a.value.isTensor()) continue;
    const at::Tensor& t = a.value.toTensor();
    storages.insert(t.is_mkldnn() ? static_cast<const void*>(t.unsafeGetTensorImpl())
                                  : t.storage().unsafeGetStorageImpl());
  }
  return storages.size();
}

TEST(Deploy, ConvolutionsSharingAWeightSharePreparedCopiesStoredOnce) {
  // prepack-conv: one context for the three ReLU-fused uses of w, one for its last use (no
  // fusion), one for w0; w is laid out channels-last once. mkldnn-blocked: one reordered w.
  struct Case {
    const char* pipeline;
    const char* holder;
    const char* attribute;
    int64_t shared;
    size_t attributes;
  };
  for (const Case& c : {Case{"torch-freeze,prepack-conv", "_tsopt_prepacked", "conv_", 2, 3},
                        Case{"torch-freeze,mkldnn-blocked{convs-per-conversion=1}", "_tsopt_mkldnn",
                             "weight_", 3, 2}}) {
    SCOPED_TRACE(c.pipeline);
    torch::jit::Module original = sharedWeightModel();
    torch::jit::Module m = saveAndLoad(original);
    RunResult r = PassManager(parsePipeline(c.pipeline)).run(m, {"forward"});
    EXPECT_EQ(r.passes[1].stats.at("shared"), c.shared);
    const torch::jit::Module holder = m.attr(c.holder).toModule();
    for (size_t i = 0; i < c.attributes + 1; ++i) {
      EXPECT_EQ(holder.hasattr(c.attribute + std::to_string(i)), i < c.attributes) << i;
    }
    torch::jit::Module loaded = saveAndLoad(m);
    // Two weights, w0 and w: prepack-conv's holder also holds the bias b, once.
    EXPECT_EQ(storagesHeld(loaded, c.holder), c.shared == 2 ? 3u : 2u);
    at::Tensor x = at::randn({2, 3, 9, 7});
    at::Tensor expected = original.forward({x}).toTensor();
    for (torch::jit::Module* got : {&m, &loaded}) {
      at::Tensor actual = got->forward({x}).toTensor();
      EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-4)) << (actual - expected).abs().max();
    }
  }
}

TEST(Deploy, PrepackConvKeepsWhatItCannotPrepack) {
  torch::jit::Module unfrozen = expectSkipsWhatItCannotRewrite("prepack-conv");
  EXPECT_FALSE(unfrozen.hasattr("_tsopt_prepacked")) << "no holder when nothing is prepacked";
}

/// A region in every shape mkldnn-blocked handles: entered once, an in-place ReLU, a residual
/// add_, pooling, a grouped convolution without bias feeding another convolution, an add whose
/// operands broadcast when the input is large enough, and tensors leaving it for an `if` and
/// for the graph's outputs.
torch::jit::Module blockedModel() {
  torch::jit::Module m("Blocked");
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("w1", at::randn({8, 3, 3, 3}), false);
  m.register_parameter("b1", at::randn({8}), false);
  m.register_parameter("w2", at::randn({8, 8, 3, 3}), false);
  m.register_parameter("b2", at::randn({8}), false);
  m.register_parameter("w3", at::randn({8, 2, 1, 1}), false);
  m.register_parameter("w4", at::randn({8, 8, 1, 1}), false);
  m.define(R"(
def forward(self, x, flag: bool):
    a = torch.relu_(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]))
    b = torch.conv2d(a, self.w2, self.b2, [1, 1], [1, 1])
    c = torch.relu(torch.add_(b, a))
    d = torch.conv2d(torch.max_pool2d(c, [3, 3], [2, 2], [1, 1]), self.w3, None, [1, 1], [0, 0], [1, 1], 4)
    d = torch.conv2d(d, self.w4, self.b2)
    e = d + torch.adaptive_avg_pool2d(d, [1, 1])
    if flag:
        e = torch.relu(e)
    return e, torch.avg_pool2d(d, [2, 2], [1, 1], [1, 1])
)");
  return m;
}

TEST(Deploy, MkldnnBlockedKeepsActivationsBlockedThroughARegionAndTheModelReloads) {
  torch::jit::Module original = blockedModel();
  torch::jit::Module m = saveAndLoad(original);
  // 4 convolutions, 3 conversions: a region only with a lower bar than the default.
  RunResult r = PassManager(parsePipeline("torch-freeze,mkldnn-blocked{convs-per-conversion=1}"))
                    .run(m, {"forward"});
  const auto& stats = r.passes[1].stats;
  EXPECT_EQ(stats.at("rewritten"), 4);
  EXPECT_EQ(stats.at("regions"), 1);
  EXPECT_EQ(stats.at("conversions"), 3) << "x in; e and the avg_pool2d out";
  auto g = methodGraph(m, "forward");
  FileCheck()
      .check_count("prim::GetAttr[name=\"_tsopt_mkldnn\"]", 1, /*exactly=*/true)
      ->check("aten::to_mkldnn")
      ->check("aten::mkldnn_convolution")
      ->check("aten::relu_")
      ->check("aten::mkldnn_convolution")
      ->check("aten::size")
      ->check("prim::If")
      ->check("aten::add_")
      ->check("aten::to_dense")
      ->check("aten::add")
      ->check("aten::to_mkldnn")
      ->check("aten::relu")
      ->check("aten::mkldnn_max_pool2d")
      ->check("aten::mkldnn_convolution")
      ->check_not("aten::to_")
      ->check("aten::mkldnn_convolution")
      ->check("aten::adaptive_avg_pool2d")
      ->check("prim::If")
      ->check("aten::to_dense")  // e, for the if
      ->check("prim::If")
      ->check("aten::relu")
      ->check("aten::avg_pool2d")
      ->check("aten::to_dense")  // for the output
      ->check("prim::TupleConstruct")
      ->run(*g);
  FileCheck().check_not("aten::conv2d")->run(*g);
  FileCheck().check_count("aten::mkldnn_convolution", 4, /*exactly=*/true)->run(*g);
  torch::jit::Module loaded = saveAndLoad(m);
  // 13x11 takes the broadcasting add, 2x2 (d is 1x1) the add of equal sizes.
  for (auto sizes : {std::vector<int64_t>{2, 3, 13, 11}, std::vector<int64_t>{1, 3, 2, 2}}) {
    at::Tensor x = at::randn(sizes);
    for (bool flag : {false, true}) {
      auto want = original.forward({x, flag}).toTuple()->elements();
      for (torch::jit::Module* got : {&m, &loaded}) {
        auto have = got->forward({x, flag}).toTuple()->elements();
        for (size_t i = 0; i < want.size(); ++i) {
          const at::Tensor& expected = want[i].toTensor();
          const at::Tensor& actual = have[i].toTensor();
          EXPECT_FALSE(actual.is_mkldnn());
          EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-4))
              << (actual - expected).abs().max();
        }
      }
    }
  }
}

TEST(Deploy, MkldnnBlockedLeavesRegionsThatDoNotPayOrWhoseTensorsAreWrittenOutside) {
  expectSkipsWhatItCannotRewrite("mkldnn-blocked");
  // One convolution, entered and left: two conversions for one convolution.
  auto [single, sr] =
      test::runPipeline(test::fixture("conv2d_bn", "traced"), "torch-freeze,mkldnn-blocked");
  EXPECT_EQ(sr.passes.back().stats.at("skipped.unprofitable"), 1);
  EXPECT_FALSE(sr.passes.back().changed);
  EXPECT_FALSE(single.hasattr("_tsopt_mkldnn")) << "no holder when nothing is reordered";
  // 4 convolutions for 3 conversions is below the default bar of 4 per conversion.
  torch::jit::Module few = blockedModel();
  RunResult fr = PassManager(parsePipeline("torch-freeze,mkldnn-blocked")).run(few, {"forward"});
  EXPECT_EQ(fr.passes.back().stats.at("skipped.unprofitable"), 4);
  EXPECT_FALSE(fr.passes.back().changed);

  // y is written in place outside the region (and in the second, by a ReLU that cannot join:
  // y has another reader) before the region reads it again: a copy would miss the write.
  for (const char* write : {"torch.hardtanh_(y, 0.0, 6.0)", "torch.relu_(y)"}) {
    SCOPED_TRACE(write);
    torch::jit::Module m("Written");
    m.register_attribute("training", c10::BoolType::get(), false);
    m.register_parameter("w1", at::randn({4, 3, 3, 3}), false);
    m.register_parameter("w2", at::randn({4, 4, 3, 3}), false);
    m.define(std::string(R"(
def forward(self, x):
    y = torch.conv2d(x, self.w1, None, [1, 1], [1, 1])
    z = )") + write +
             R"(
    r = torch.conv2d(torch.relu(y), self.w2, None, [1, 1], [1, 1])
    r = torch.conv2d(r, self.w2, None, [1, 1], [1, 1])
    r = torch.conv2d(r, self.w2, None, [1, 1], [1, 1])
    return r + z
)");
    torch::jit::Module original = m.clone();
    RunResult r = PassManager(parsePipeline("torch-freeze,mkldnn-blocked")).run(m, {"forward"});
    EXPECT_EQ(r.passes.back().stats.at("skipped.written-outside"), 4);
    EXPECT_FALSE(r.passes.back().changed);
    at::Tensor x = at::randn({1, 3, 6, 6});
    at::Tensor expected = original.forward({x}).toTensor();
    at::Tensor actual = m.forward({x}).toTensor();
    EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-4));
  }
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
      PassManager(parsePipeline("torch-freeze,transpose-frozen-linear")).run(m, {"forward"});
  EXPECT_TRUE(r.passes[1].changed);
  EXPECT_EQ(r.passes[1].stats, (std::map<std::string, int64_t>{{"transposed", 2}}));
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

TEST(Deploy, TransposeFrozenLinearLeavesAWeightTheModelKeepsAnyway) {
  // The packed weight is read by a linear and sliced for another (as scripted
  // MultiheadAttention does in its branches): transposing would store it twice.
  torch::jit::Module original("Packed");
  original.register_attribute("training", c10::BoolType::get(), false);
  original.register_parameter("w", at::randn({6, 4}), false);
  original.define(R"(
def forward(self, x):
    half = self.w[0:3]
    return torch.linear(x, self.w), torch.linear(x, half)
)");
  torch::jit::Module m = saveAndLoad(original);
  RunResult r = PassManager(parsePipeline("torch-freeze,torch-constant-propagation,"
                                          "transpose-frozen-linear"))
                    .run(m, {"forward"});
  EXPECT_FALSE(r.passes[2].changed);
  EXPECT_EQ(r.passes[2].stats.at("skipped.weight-kept"), 2) << *methodGraph(m, "forward");
  FileCheck().check_count("aten::linear", 2, /*exactly=*/true)->run(*methodGraph(m, "forward"));
  // LibTorch's pass transposes both and keeps the original: one more copy of the weight.
  torch::jit::Module theirs = saveAndLoad(original);
  PassManager(
      parsePipeline("torch-freeze,torch-constant-propagation,torch-transpose-frozen-linear"))
      .run(theirs, {"forward"});
  EXPECT_GT(serializeModule(theirs).size(), serializeModule(m).size());
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
              "pass 'torch-freeze' failed: the model is in training mode; "
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
  EXPECT_EQ(findPreset("O1").pipeline, "inline,fold-conv-bn,fold-linear-bn,dce,strip");
  EXPECT_EQ(&findPreset("2"), &findPreset("O2"));
  EXPECT_EQ(findPreset("O0").pipeline, "");
  for (const PipelinePreset& p : PassRegistry::global().presets()) {
    if (!p.pipeline.empty()) {
      EXPECT_EQ(parsePipeline(p.pipeline).str(), p.pipeline);
    }
  }
  try {
    findPreset("3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown preset 'O3' (known: O0, O1, O2, backport)");
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

TEST(Deploy, ASignalDuringASaveRemovesTheTemporaryFile) {
  // Ctrl-C (or a kill) while a model is being saved must not leave a hidden file of the model's
  // size behind: the staged file is removed, and the process still ends by the signal.
  const std::string dir = test::tempDir();
  for (int sig : {SIGINT, SIGTERM}) {
    ChildResult child = runInChild(
        [&](int fd) {
          StagedFile file(dir + "/out.pt");
          std::ofstream(file.temporaryPath()) << "half a model";
          writeAll(fd, file.temporaryPath().data(), file.temporaryPath().size());
          raise(sig);
          return 0;
        },
        {});
    ASSERT_TRUE(child.started);
    EXPECT_FALSE(child.exited) << "the signal must still end the process";
    ASSERT_FALSE(child.output.empty());
    EXPECT_FALSE(std::filesystem::exists(child.output)) << child.output;
    EXPECT_FALSE(std::filesystem::exists(dir + "/out.pt"));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace tsopt
