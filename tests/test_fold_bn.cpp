// fold-conv-bn and fold-linear-bn: IR and numerics on every conv/bn fixture, traced and
// scripted, and each hazard (folding skipped where it must be, per call site where it can).
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "passes/builtin/bn_folding.h"
#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_copy.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using test::Fixture;
using torch::jit::testing::FileCheck;

const char* const kPipeline = "inline,fold-conv-bn,dce";

/// Fixtures where every BatchNorm follows a convolution and must be folded.
const std::vector<std::string> kFoldable = {"conv1d_bn",
                                            "conv2d_bn",
                                            "conv3d_bn",
                                            "conv2d_nobias_bn",
                                            "grouped_conv_bn",
                                            "depthwise_conv_bn",
                                            "wide_conv_bn",
                                            "conv_transpose1d_bn",
                                            "conv_transpose2d_bn",
                                            "conv_transpose3d_bn",
                                            "grouped_conv_transpose2d_bn",
                                            "outputs",
                                            "nested",
                                            "control_flow",
                                            "long_chain"};

class FoldConvBnOnFixture : public ::testing::TestWithParam<Fixture> {};

TEST_P(FoldConvBnOnFixture, FoldsEveryBatchNormAndKeepsNumerics) {
  const Fixture& f = GetParam();
  // Each fold removes one batch_norm: as many folds as the inlined graph has batch_norms.
  auto [inlined, unused] = test::runPipeline(f, "inline");
  int64_t batchNorms = 0;
  forEachNode(inlined.get_method("forward").graph()->block(),
              [&](torch::jit::Node* n) { batchNorms += n->kind() == c10::aten::batch_norm; });
  ASSERT_GT(batchNorms, 0) << "a foldable fixture without a batch_norm";
  auto [m, r] = test::runPipeline(f, kPipeline);
  const auto& g = *m.get_method("forward").graph();
  FileCheck().check_not("aten::batch_norm")->run(g);
  EXPECT_EQ(r.passes[1].stats.at("folded"), batchNorms);
  test::expectFoldedNumerics(f, m);
  // The folded model saves and loads.
  std::string path = test::tempDir() + "/m.pt";
  saveModuleAtomic(m, path);
  torch::jit::Module reloaded = loadModule(path);
  test::expectFoldedNumerics(f, reloaded);
}

std::vector<Fixture> foldable() {
  std::vector<Fixture> out;
  for (const Fixture& f : test::fixtures()) {
    if (std::find(kFoldable.begin(), kFoldable.end(), f.name) != kFoldable.end()) out.push_back(f);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Foldable, FoldConvBnOnFixture, ::testing::ValuesIn(foldable()),
                         [](const auto& info) { return info.param.id(); });

TEST(FoldConvBn, PrefaultedTensorsHoldWhatIsWrittenAtEverySize) {
  // Below the 128 KiB threshold (at::empty) and above it (a mapping of its own).
  for (int64_t n : {int64_t{1000}, int64_t{32768}, int64_t{300000}}) {
    at::Tensor t = emptyPrefaulted({n, 3}, at::dtype(at::kDouble));
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{n, 3}));
    ASSERT_EQ(t.scalar_type(), at::kDouble);
    ASSERT_TRUE(t.is_contiguous());
    at::Tensor expected = at::arange(n * 3, at::dtype(at::kDouble)).view({n, 3});
    t.copy_(expected);
    EXPECT_TRUE(t.equal(expected)) << n;
  }
}

TEST(FoldConvBn, FoldsIntoTheConvolutionWithNewParameters) {
  const Fixture& f = test::fixture("conv2d_bn", "traced");
  auto [m, r] = test::runPipeline(f, kPipeline);
  FileCheck()
      .check("prim::GetAttr[name=\"_tsopt_folded\"](%self")
      ->check("prim::GetAttr[name=\"layers_0_weight\"](%_tsopt_folded")
      ->check("prim::GetAttr[name=\"layers_0_bias\"](%_tsopt_folded")
      ->check("aten::_convolution")
      ->check_next("aten::relu")
      ->run(*m.get_method("forward").graph());
  EXPECT_EQ(r.passes[1].stats.at("folded"), 1);
  // The conv module's own weight is untouched: its forward still computes the unfolded conv.
  torch::jit::Module before = loadModule(f.path());
  EXPECT_TRUE(m.attr("layers").toModule().attr("0").toModule().attr("weight").toTensor().equal(
      before.attr("layers").toModule().attr("0").toModule().attr("weight").toTensor()));
}

TEST(FoldConvBn, ManyFoldsSpreadOverBoundedHolders) {
  for (const char* kind : {"traced", "scripted"}) {
    const Fixture& f = test::fixture("long_chain", kind);
    auto [m, r] = test::runPipeline(f, kPipeline);
    EXPECT_EQ(r.passes[1].stats.at("folded"), 40);
    // 80 new parameters: 64 in the first holder, 16 in the second, none on the root itself.
    ASSERT_TRUE(m.hasattr("_tsopt_folded") && m.hasattr("_tsopt_folded_1"));
    EXPECT_FALSE(m.hasattr("_tsopt_folded_2"));
    EXPECT_EQ(m.attr("_tsopt_folded").toModule().named_parameters().size(), 64);
    EXPECT_EQ(m.attr("_tsopt_folded_1").toModule().named_parameters().size(), 16);
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      ADD_FAILURE() << "parameter on the root: " << p.name;
    }
    FileCheck()
        .check_count("prim::GetAttr[name=\"_tsopt_folded\"](%self", 1, /*exactly=*/true)
        ->check_count("prim::GetAttr[name=\"_tsopt_folded_1\"](%self", 1, /*exactly=*/true)
        ->run(*m.get_method("forward").graph());
  }
}

TEST(FoldConvBn, ScriptedReadsTrainingFromTheModuleInstance) {
  const Fixture& f = test::fixture("conv2d_bn", "scripted");
  auto [m, r] = test::runPipeline(f, kPipeline);
  FileCheck()
      .check_count("aten::conv2d", 1, true)
      ->check_not("aten::batch_norm")
      ->run(*m.get_method("forward").graph());
  EXPECT_EQ(r.passes[1].stats.at("folded"), 1);
}

TEST(FoldConvBn, HoistsTheConvolutionOutOfAnIfWithAFixedCondition) {
  // conv -> If(true){conv output}{input} -> batch_norm: the If is resolved and the conv folded.
  const Fixture& f = test::fixture("conv2d_bn_frozen", "scripted");
  torch::jit::Module m = loadModule(f.path());
  auto g = m.get_method("forward").graph();
  torch::jit::Node* conv = nullptr;
  for (torch::jit::Node* n : g->nodes()) {
    if (n->kind() == c10::aten::conv2d) conv = n;
  }
  ASSERT_NE(conv, nullptr);
  torch::jit::Value* cond = nullptr;
  {
    torch::jit::WithInsertPoint guard(conv);
    cond = g->insertConstant(true);
  }
  torch::jit::Node* ifNode = g->create(c10::prim::If, {cond}, 1);
  ifNode->insertAfter(conv);
  ifNode->output()->setType(c10::TensorType::get());
  conv->output()->replaceAllUsesWith(ifNode->output());
  torch::jit::Block* taken = ifNode->addBlock();
  torch::jit::Block* other = ifNode->addBlock();
  conv->moveBefore(taken->return_node());
  taken->registerOutput(conv->output());
  other->registerOutput(g->inputs()[1]);
  g->lint();

  Statistics stats;
  EXPECT_TRUE(foldConvBatchNorm(m, *g, &stats));
  g->lint();
  EXPECT_EQ(stats.get("folded"), 1);
  EXPECT_EQ(stats.get("hoisted-ifs"), 1);
  FileCheck().check_not("prim::If")->check("aten::conv2d")->check_not("aten::batch_norm")->run(*g);
  test::expectFoldedNumerics(f, m);
}

TEST(FoldConvBn, FoldsIntoAtenConvolution) {
  // No fixture produces aten::convolution: rewrite the frozen model's conv2d into it.
  const Fixture& f = test::fixture("conv2d_bn_frozen", "scripted");
  torch::jit::Module m = loadModule(f.path());
  auto g = m.get_method("forward").graph();
  for (torch::jit::Node* conv : g->nodes()) {
    if (conv->kind() != c10::aten::conv2d) continue;
    torch::jit::WithInsertPoint guard(conv);
    auto in = conv->inputs();  // input, weight, bias, stride, padding, dilation, groups
    torch::jit::Value* c = g->insert(
        c10::aten::convolution,
        {in[0], in[1], in[2], in[3], in[4], in[5], false, std::vector<int64_t>{0, 0}, in[6]});
    conv->output()->replaceAllUsesWith(c);
    conv->destroy();
    break;
  }
  Statistics stats;
  EXPECT_TRUE(foldConvBatchNorm(m, *g, &stats));
  EXPECT_EQ(stats.get("folded"), 1);
  FileCheck().check("aten::convolution")->check_not("aten::batch_norm")->run(*g);
  test::expectFoldedNumerics(f, m);
}

TEST(FoldConvBn, WeightOfRankBelowTwoIsSkipped) {
  // Not a real convolution weight: the fold must skip it, not index past its dimensions.
  torch::jit::Module m("M");
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(R"IR(
    graph(%x : Tensor, %w : Tensor):
      %none : NoneType = prim::Constant()
      %s : int[] = prim::Constant[value=[1]]()
      %p : int[] = prim::Constant[value=[0]]()
      %g : int = prim::Constant[value=1]()
      %y : Tensor = aten::conv_transpose1d(%x, %w, %none, %s, %p, %p, %g, %s)
      %f : bool = prim::Constant[value=0]()
      %eps : float = prim::Constant[value=1e-05]()
      %m : float = prim::Constant[value=0.1]()
      %z : Tensor = aten::batch_norm(%y, %none, %none, %w, %w, %f, %m, %eps, %f)
      return (%z))IR",
                      g.get());
  {
    torch::jit::WithInsertPoint guard(g->block()->nodes().front());
    g->inputs()[1]->replaceAllUsesWith(g->insertConstant(at::tensor({1.0f, 2.0f})));
    g->eraseInput(1);
  }
  Statistics stats;
  EXPECT_FALSE(foldConvBatchNorm(m, *g, &stats));
  EXPECT_EQ(stats.get("skipped.shape-mismatch"), 1);
  FileCheck().check("aten::batch_norm")->run(*g);
}

TEST(FoldConvBn, FrozenModelFoldsIntoConstants) {
  const Fixture& f = test::fixture("conv2d_bn_frozen", "scripted");
  auto [m, r] = test::runPipeline(f, kPipeline);
  const auto& g = *m.get_method("forward").graph();
  FileCheck().check_not("aten::batch_norm")->check_not("_tsopt_folded")->run(g);
  EXPECT_EQ(r.passes[1].stats.at("folded"), 1);
  test::expectFoldedNumerics(f, m);
}

TEST(FoldConvBn, SharingHazardsFoldPerCallSite) {
  // fixture -> BatchNorms folded. A conv called twice (one call followed by a BatchNorm, or each
  // by its own), a BatchNorm after two convs, a weight shared by two convs: every call site with
  // a BatchNorm gets its own folded weights, and the other users compute what they did.
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"conv_called_twice", 1}, {"conv_twice_two_bns", 2}, {"shared_bn", 2}, {"shared_weight", 1}};
  for (const auto& [name, folds] : cases) {
    for (const char* kind : {"traced", "scripted"}) {
      const Fixture& f = test::fixture(name, kind);
      auto [m, r] = test::runPipeline(f, kPipeline);
      FileCheck().check_not("aten::batch_norm")->run(*m.get_method("forward").graph());
      EXPECT_EQ(r.passes[1].stats.at("folded"), folds) << f.id();
      test::expectFoldedNumerics(f, m);
    }
  }
}

TEST(FoldConvBn, TheSameConvolutionAndBatchNormMetTwiceFoldIntoOneCopy) {
  // Both branches of an If on a bool attribute call one conv-bn block: inlined, the two calls are
  // two folds of the same weights and BatchNorm, which share one folded weight and bias.
  const Fixture& f = test::fixture("residual_if", "scripted");
  auto [m, r] = test::runPipeline(f, kPipeline);
  const auto& g = *m.get_method("forward").graph();
  FileCheck().check("prim::If")->check_not("aten::batch_norm")->run(g);
  EXPECT_EQ(r.passes[1].stats.at("folded"), 2);
  EXPECT_EQ(r.passes[1].stats.at("folded.shared"), 1);
  std::vector<std::string> names;
  for (const auto& p : m.attr("_tsopt_folded").toModule().named_parameters()) {
    names.push_back(p.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"conv_layers_0_weight", "conv_layers_0_bias"}));
  test::expectFoldedNumerics(f, m);
}

TEST(FoldConvBn, ConvOutputWithOtherUsesIsSkipped) {
  for (const char* kind : {"traced", "scripted"}) {
    const Fixture& f = test::fixture("conv_output_reused", kind);
    auto [m, r] = test::runPipeline(f, kPipeline);
    FileCheck().check("aten::batch_norm")->run(*m.get_method("forward").graph());
    EXPECT_FALSE(r.passes[1].changed);
    EXPECT_EQ(r.passes[1].stats.at("skipped.producer-output-used"), 1) << kind;
    test::expectFoldedNumerics(f, m);
  }
}

TEST(FoldConvBn, UsesInBranchesThatFixedAttributesNeverTakeDoNotBlock) {
  // `if "conv" in self.return_layers: out[...] = conv_output`: with the dict not naming the conv,
  // the store never runs and the BatchNorm folds; with it naming the conv, the store reads the
  // unfolded output and the fold is skipped.
  const Fixture& f = test::fixture("layer_getter", "scripted");
  auto [m, r] = test::runPipeline(f, kPipeline);
  FileCheck()
      .check("aten::conv2d")
      ->check("aten::__contains__")
      ->check("prim::If")
      ->check("aten::_set_item")
      ->check_not("aten::batch_norm")
      ->run(*m.get_method("forward").graph());
  EXPECT_EQ(r.passes[1].stats.at("folded"), 1);
  test::expectFoldedNumerics(f, m);

  const Fixture& taken = test::fixture("layer_getter_conv", "scripted");
  auto [mt, rt] = test::runPipeline(taken, kPipeline);
  FileCheck().check("aten::batch_norm")->run(*mt.get_method("forward").graph());
  EXPECT_EQ(rt.passes[1].stats.at("skipped.producer-output-used"), 1);
  test::expectSameNumerics(taken, mt, "forward", 0.0);
}

TEST(FoldConvBn, AttributesTheGraphWritesAreNotFixed) {
  // The model adds "conv" to return_layers (in place, or by assigning a new dict) before the
  // branch reads it: the saved dict does not decide the branch, so the store blocks the fold.
  for (const char* name : {"layer_getter_written", "layer_getter_assigned"}) {
    const Fixture& f = test::fixture(name, "scripted");
    auto [m, r] = test::runPipeline(f, kPipeline);
    FileCheck().check("aten::batch_norm")->run(*m.get_method("forward").graph());
    EXPECT_EQ(r.passes[1].stats.at("skipped.producer-output-used"), 1) << name;
    test::expectSameNumerics(f, m, "forward", 0.0);
  }
}

TEST(FoldConvBn, TrainingModeAndMissingRunningStatsAreSkipped) {
  for (const char* kind : {"traced", "scripted"}) {
    auto [mt, rt] = test::runPipeline(test::fixture("bn_training", kind), kPipeline);
    FileCheck().check("aten::batch_norm")->run(*mt.get_method("forward").graph());
    EXPECT_EQ(rt.passes[1].stats.at("skipped.training"), 1) << kind;

    const Fixture& f = test::fixture("bn_no_running_stats", kind);
    auto [ms, rs] = test::runPipeline(f, kPipeline);
    FileCheck().check("aten::batch_norm")->run(*ms.get_method("forward").graph());
    // Without running statistics BatchNorm normalises with batch statistics, even in eval mode.
    EXPECT_EQ(rs.passes[1].stats.at("skipped.no-running-stats"), 1) << kind;
    test::expectFoldedNumerics(f, ms);
  }
}

TEST(FoldLinearBn, UnknownInputRankIsSkippedUnlessAssume2d) {
  // Saved models carry no ranks; BatchNorm1d normalises the linear's features only on 2-d input.
  for (const char* kind : {"traced", "scripted"}) {
    const Fixture& f = test::fixture("linear_bn", kind);
    auto [m, r] = test::runPipeline(f, "inline,fold-linear-bn,dce");
    EXPECT_EQ(r.passes[1].stats.at("skipped.input-rank-unknown"), 1) << kind;
    FileCheck().check("aten::batch_norm")->run(*m.get_method("forward").graph());

    auto [m2, r2] = test::runPipeline(f, "inline,fold-linear-bn{assume-2d},dce");
    EXPECT_EQ(r2.passes[1].stats.at("folded"), 1) << kind;
    FileCheck()
        .check("aten::linear")
        ->check_not("aten::batch_norm")
        ->run(*m2.get_method("forward").graph());
    test::expectFoldedNumerics(f, m2);
  }
}

TEST(FoldLinearBn, KnownInputRankDecides) {
  const Fixture& f = test::fixture("linear_bn", "traced");
  for (size_t rank : {2, 3}) {
    auto [m, r] = test::runPipeline(f, "inline");
    auto g = m.get_method("forward").graph();
    g->inputs()[1]->setType(c10::TensorType::get()->withDim(rank));
    Statistics stats;
    EXPECT_EQ(foldLinearBatchNorm(m, *g, /*assume2d=*/false, &stats), rank == 2);
    EXPECT_EQ(stats.get(rank == 2 ? "folded" : "skipped.input-not-2d"), 1);
    if (rank == 2) test::expectFoldedNumerics(f, m);
  }
}

TEST(FoldConvBn, LeavesLinearAndFoldLinearLeavesConv) {
  auto [m, r] = test::runPipeline(test::fixture("linear_bn", "traced"), kPipeline);
  EXPECT_FALSE(r.passes[1].changed);
  auto [m2, r2] = test::runPipeline(test::fixture("conv2d_bn", "traced"), "inline,fold-linear-bn");
  EXPECT_FALSE(r2.passes[1].changed);
}

}  // namespace
}  // namespace tsopt
