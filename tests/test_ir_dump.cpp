// ir_dump: canonical IR, diffs, DOT (accepted by Graphviz for every fixture) and rendering.
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <regex>

#include "ir_dump/diff.h"
#include "ir_dump/dot.h"
#include "ir_dump/node_text.h"
#include "ir_dump/ir_text.h"
#include "passes/builtin/builtin.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

std::shared_ptr<torch::jit::Graph> parse(const std::string& ir) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, g.get());
  return g;
}

const char* kLoopIr = R"IR(
graph(%x.1 : Tensor, %n : int):
  %t : bool = prim::Constant[value=1]()
  %y.3 : Tensor = aten::relu(%x.1)
  %out : Tensor = prim::Loop(%n, %t, %y.3)
    block0(%i : int, %acc.1 : Tensor):
      %acc.2 : Tensor = aten::add(%acc.1, %x.1, %n)
      -> (%t, %acc.2)
  %z : Tensor = aten::neg(%out)
  return (%z)
)IR";

TEST(CanonicalIr, NumbersValuesInOrderOfDefinition) {
  std::string text = canonicalIr(*parse(kLoopIr));
  EXPECT_EQ(text,
            "graph(%0 : Tensor,\n"
            "      %1 : int):\n"
            "  %2 : bool = prim::Constant[value=1]()\n"
            "  %3 : Tensor = aten::relu(%0)\n"
            "  %4 : Tensor = prim::Loop(%1, %2, %3)\n"
            "    block0(%5 : int, %6 : Tensor):\n"
            "      %7 : Tensor = aten::add(%6, %0, %1)\n"
            "      -> (%2, %7)\n"
            "  %8 : Tensor = aten::neg(%4)\n"
            "  return (%8)\n");
}

TEST(CanonicalIr, IsTheSameWhateverTheNamesAndDropsSourceLocations) {
  std::string renamed = std::regex_replace(std::string(kLoopIr), std::regex("%acc"), "%other");
  EXPECT_EQ(canonicalIr(*parse(kLoopIr)), canonicalIr(*parse(renamed)));
  // Scripted models carry source locations, which LibTorch prints inside nested blocks.
  const test::Fixture& f = test::fixture("control_flow", "scripted");
  torch::jit::Module a = loadModule(f.path()), b = loadModule(f.path());
  auto ga = a.get_method("forward").graph(), gb = b.get_method("forward").graph();
  inlineCalls(*ga, {}, nullptr);
  inlineCalls(*gb, {}, nullptr);
  EXPECT_NE(ga->toString(false).find(".py:"), std::string::npos);  // the LibTorch quirk
  std::string text = canonicalIr(*ga);
  EXPECT_EQ(text.find(".py:"), std::string::npos) << text;
  EXPECT_EQ(text, canonicalIr(*gb));
}

TEST(CanonicalIr, KeysFollowValueIdentityLineForLine) {
  auto g = parse(kLoopIr);
  CanonicalText t = canonicalIrWithKeys(*g);
  EXPECT_EQ(std::count(t.text.begin(), t.text.end(), '\n'),
            std::count(t.keys.begin(), t.keys.end(), '\n'));
  EXPECT_NE(t.keys.find("aten::relu(%u"), std::string::npos) << t.keys;
}

TEST(Diff, UnifiedFormatWithContext) {
  std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
  std::string b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11\n";
  EXPECT_EQ(unifiedDiff(a, b, "a/x", "b/x", 2),
            "--- a/x\n+++ b/x\n"
            "@@ -3,5 +3,5 @@\n 3\n 4\n-5\n+five\n 6\n 7\n"
            "@@ -9,2 +9,3 @@\n 9\n 10\n+11\n");
  EXPECT_EQ(unifiedDiff(a, a, "a", "b"), "");
  EXPECT_EQ(unifiedDiff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
  // Changes closer than twice the context share a hunk.
  EXPECT_EQ(unifiedDiff("a\nb\nc\nd\n", "A\nb\nc\nD\n", "a", "b", 1),
            "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n-d\n+D\n");
}

TEST(Diff, ByIdentityKeysShowsWhatAPassDidNotTheRenumbering) {
  auto g = parse(kLoopIr);
  CanonicalText before = canonicalIrWithKeys(*g);
  // Remove the relu: every later value is renumbered.
  torch::jit::Node* relu = g->outputs()[0]->node()->input()->node()->input(2)->node();
  ASSERT_EQ(relu->kind(), c10::aten::relu);
  relu->output()->replaceAllUsesWith(g->inputs()[0]);
  relu->destroy();
  CanonicalText after = canonicalIrWithKeys(*g);
  std::string byKeys =
      unifiedDiffByKeys(before.text, after.text, before.keys, after.keys, "a", "b");
  EXPECT_EQ(byKeys,
            "--- a\n+++ b\n@@ -1,8 +1,7 @@\n"
            " graph(%0 : Tensor,\n"
            "       %1 : int):\n"
            "   %2 : bool = prim::Constant[value=1]()\n"
            "-  %3 : Tensor = aten::relu(%0)\n"
            "-  %4 : Tensor = prim::Loop(%1, %2, %3)\n"
            "+  %3 : Tensor = prim::Loop(%1, %2, %0)\n"
            "     block0(%4 : int, %5 : Tensor):\n"
            "       %6 : Tensor = aten::add(%5, %0, %1)\n"
            "       -> (%2, %6)\n");
  // Matching the texts themselves would call every renumbered line changed.
  std::string byText = unifiedDiff(before.text, after.text, "a", "b");
  EXPECT_GT(std::count(byText.begin(), byText.end(), '\n'),
            std::count(byKeys.begin(), byKeys.end(), '\n') + 4);
}

TEST(Dot, GraphvizAcceptsEveryFixtureTracedAndScriptedInlined) {
  for (const test::Fixture& f : test::fixtures()) {
    torch::jit::Module m = loadModule(f.path());
    auto g = m.get_method("forward").graph();
    inlineCalls(*g, {}, nullptr);
    std::string dot = graphToDot(*g, {f.id(), 0, {}});
    EXPECT_EQ(dot.find("prim::Constant"), std::string::npos) << f.id();
    std::string svg;
    ASSERT_NO_THROW(svg = renderDot(dot, "svg")) << f.id();
    EXPECT_NE(svg.find("<svg"), std::string::npos) << f.id();
  }
}

TEST(Dot, BlocksAreClustersAndFamiliesAreColoured) {
  auto g = parse(kLoopIr);
  torch::jit::Node* relu = g->outputs()[0]->node()->input()->node()->input(2)->node();
  DotOptions options;
  options.highlight.insert(relu);
  std::string dot = graphToDot(*g, options);
  EXPECT_NE(dot.find("subgraph cluster_"), std::string::npos);
  EXPECT_NE(dot.find("label=\"block0 of prim::Loop\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=invhouse"), std::string::npos);  // inputs
  EXPECT_NE(dot.find("shape=house"), std::string::npos);     // outputs
  // The relu is an activation, highlighted; the loop is control flow.
  EXPECT_NE(dot.find("label=\"aten::relu\\n: Tensor\", fillcolor=\"#fdae6b\", color=\"#d62728\""),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("prim::Loop\\n#1 = True\\n: Tensor\", fillcolor=\"#f4a6c6\""),
            std::string::npos)
      << dot;
  // Edges are outside clusters, so clusters hold only their own nodes.
  size_t clusterEnd = dot.find("  }\n");
  ASSERT_NE(clusterEnd, std::string::npos);
  EXPECT_EQ(dot.substr(dot.find("subgraph cluster_"), clusterEnd - dot.find("subgraph cluster_"))
                .find("->"),
            std::string::npos)
      << dot;
  EXPECT_EQ(opFamily("aten::_convolution"), "convolution");
  EXPECT_EQ(opFamily("aten::batch_norm"), "normalisation");
  EXPECT_EQ(opFamily("prim::GetAttr"), "attribute");
  EXPECT_EQ(opFamily("aten::view"), "shape");
}

TEST(Dot, AttributesAreShownInTheirUsersAndMaxNodesCuts) {
  torch::jit::Module m = loadModule(test::fixture("conv2d_bn", "traced").path());
  auto g = m.get_method("forward").graph();
  inlineCalls(*g, {}, nullptr);
  std::string dot = graphToDot(*g);
  EXPECT_EQ(dot.find("prim::GetAttr"), std::string::npos) << dot;
  EXPECT_NE(dot.find("weight = self.layers.0.weight"), std::string::npos) << dot;
  std::string cut = graphToDot(*g, {"", 1, {}});
  EXPECT_NE(cut.find("more nodes not drawn (drawn up to 1)"), std::string::npos) << cut;
}

TEST(Dot, RenderingErrorsAreClear) {
  EXPECT_THROW(renderDot("digraph { a -> }", "svg"), Error);
  try {
    renderDot("digraph { a }", "pdf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cannot render 'pdf': tsopt renders svg and png");
  }
  std::string png = renderDot("digraph { a -> b }", "png");
  EXPECT_EQ(png.substr(1, 3), "PNG");
}

TEST(Dot, AGraphvizAbortIsAnErrorNotACrash) {
  // Empty nested clusters with a bounded ranking (nslimit1, which graphToDot no longer sets)
  // make Graphviz 2.43 abort on an assertion: the render runs in a child process.
  std::string dot = test::readFile(TSOPT_SOURCE_FIXTURE_DIR "/graphviz_abort.dot");
  ASSERT_NE(dot.find("nslimit1=1"), std::string::npos);
  try {
    renderDot(dot, "svg");
    FAIL() << "Graphviz laid the graph out";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "Graphviz crashed laying out the graph (write DOT instead: -o FILE.dot)");
  }
  // Without the bound it lays out, and the next render in this process works.
  std::string unbounded = dot;
  unbounded.replace(unbounded.find("nslimit1=1, "), 12, "");
  EXPECT_NE(renderDot(unbounded, "svg").find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace tsopt
