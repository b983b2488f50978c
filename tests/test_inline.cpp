// inline: IR checks and numerics on every fixture, options, interfaces, other methods.
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "tests/test_util.h"

namespace tsopt {
namespace {

using test::Fixture;
using torch::jit::testing::FileCheck;

class InlineOnFixture : public ::testing::TestWithParam<Fixture> {};

TEST_P(InlineOnFixture, ExpandsEveryCallAndChangesNoValue) {
  const Fixture& f = GetParam();
  auto [m, r] = test::runPipeline(f, "inline");
  const auto& graph = *m.get_method("forward").graph();
  if (f.name == "with_interface") {
    FileCheck().check_count("prim::CallMethod", 1, /*exactly=*/true)->run(graph);
    EXPECT_EQ(r.passes[0].stats.at("skipped.interface"), 1);
  } else {
    FileCheck().check_not("prim::CallMethod")->check_not("prim::CallFunction")->run(graph);
  }
  test::expectIdenticalOutputs(f, m);
}

INSTANTIATE_TEST_SUITE_P(All, InlineOnFixture, ::testing::ValuesIn(test::fixtures()),
                         [](const auto& info) { return info.param.id(); });

TEST(Inline, NestedTracedExpandsAllLevels) {
  auto [m, r] = test::runPipeline(test::fixture("nested", "traced"), "inline");
  FileCheck()
      .check_count("aten::_convolution", 4, true)
      ->check_not("prim::CallMethod")
      ->run(*m.get_method("forward").graph());
  // m1 and m2 (2), the two Inner each of them calls (4), and each Inner's conv and bn (8); the
  // relu is traced as an operator, not a call.
  EXPECT_EQ(r.passes[0].stats.at("inlined"), 14);
}

TEST(Inline, MaxDepthStopsAtTheGivenLevel) {
  const Fixture& f = test::fixture("nested", "traced");
  auto [m, r] = test::runPipeline(f, "inline{max-depth=1}");
  // m1 and m2 are expanded; their calls to the four Inner modules stay.
  FileCheck().check_count("prim::CallMethod", 4, true)->run(*m.get_method("forward").graph());
  EXPECT_EQ(r.passes[0].stats.at("inlined"), 2);
  EXPECT_EQ(r.passes[0].stats.at("skipped.depth"), 4);
  test::expectIdenticalOutputs(f, m);

  auto [m0, r0] = test::runPipeline(f, "inline{max-depth=0}");
  EXPECT_FALSE(r0.passes[0].changed);
}

TEST(Inline, OnlyAndSkipFilterByModuleType) {
  const Fixture& f = test::fixture("nested", "scripted");
  auto [mSkip, rSkip] = test::runPipeline(f, "inline{skip=Inner}");
  FileCheck()
      .check_count("prim::CallMethod[name=\"forward\"]", 4, true)
      ->run(*mSkip.get_method("forward").graph());
  EXPECT_EQ(rSkip.passes[0].stats.at("skipped.filtered"), 4);
  test::expectIdenticalOutputs(f, mSkip);

  auto [mOnly, rOnly] = test::runPipeline(f, "inline{only=[Middle]}");
  // m1 and m2 (Middle) are expanded; their Inner calls and the helper method stay.
  const auto& g = *mOnly.get_method("forward").graph();
  FileCheck().check_count("prim::CallMethod[name=\"forward\"]", 4, true)->run(g);
  FileCheck().check("prim::CallMethod[name=\"helper\"]")->run(g);
  test::expectIdenticalOutputs(f, mOnly);
}

TEST(Inline, EachCalleeIsPreparedOnce) {
  // Four calls into Inner share one prepared graph: preparing is not repeated per call site.
  auto [m, r] = test::runPipeline(test::fixture("nested", "scripted"), "inline");
  const auto& stats = r.passes[0].stats;
  EXPECT_LT(stats.at("prepared"), stats.at("inlined"));
  FileCheck().check_not("prim::CallMethod")->run(*m.get_method("forward").graph());
}

TEST(Inline, OtherMethodsAndCallsInsideControlFlow) {
  const Fixture& nested = test::fixture("nested", "scripted");
  auto [m, r] = test::runPipeline(nested, "inline", {"forward", "encode"});
  FileCheck().check_not("prim::CallMethod")->run(*m.get_method("encode").graph());
  test::expectIdenticalOutputs(nested, m, "encode");

  const Fixture& cf = test::fixture("control_flow", "scripted");
  auto [mc, rc] = test::runPipeline(cf, "inline");
  FileCheck()
      .check("prim::If")
      ->check("aten::conv2d")
      ->check("aten::batch_norm")
      ->check_not("prim::CallMethod")
      ->run(*mc.get_method("forward").graph());
  test::expectIdenticalOutputs(cf, mc);
}

}  // namespace
}  // namespace tsopt
