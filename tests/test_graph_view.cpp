// The viewer's JSON of a graph (ir_dump/graph_view): nodes grouped by the submodules and calls the
// inliner recorded, blocks as groups, runs of long groups, values wired to their producers, and
// keys that match nodes across a pass.
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <set>

#include "engine/views.h"
#include "ir_dump/graph_view.h"
#include "ir_dump/stages.h"
#include "passes/core/module_io.h"
#include "passes/core/pipeline.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using nlohmann::json;

json viewOf(const std::string& fixture, const std::string& kind, bool inlined = true,
            GraphViewOptions options = {}) {
  torch::jit::Module m = loadModule(test::fixturePath(fixture, kind));
  return graphView(*viewGraph(m, "forward", inlined), options);
}

std::vector<std::string> groupKeys(const json& view) {
  std::vector<std::string> keys;
  for (const json& g : view["groups"]) keys.push_back(g["key"]);
  return keys;
}

/// The kinds of the nodes directly in the group with `key`, in order.
std::vector<std::string> kindsIn(const json& view, const std::string& key) {
  std::vector<std::string> kinds;
  for (const json& n : view["nodes"]) {
    if (view["groups"][n["g"].get<size_t>()]["key"] == key) kinds.push_back(n["kind"]);
  }
  return kinds;
}

/// Every value a node reads is produced by the node it names (or shown inline), every group's
/// parent comes before it in the tree, and every node sits in a group.
void expectWellFormed(const json& view) {
  const json& nodes = view["nodes"];
  const json& values = view["values"];
  for (size_t i = 0; i < nodes.size(); ++i) {
    ASSERT_LT(nodes[i]["g"].get<size_t>(), view["groups"].size());
    for (const json& v : nodes[i]["out"]) EXPECT_EQ(values[v.get<size_t>()]["p"], i);
    for (const json& v : nodes[i]["in"]) {
      int p = values[v.get<size_t>()]["p"];
      if (p < 0) continue;
      const json& outs = nodes[p]["out"];
      bool produced = std::find(outs.begin(), outs.end(), v) != outs.end();
      bool ownerOfBlock = nodes[p]["kind"] == "prim::Loop" || nodes[p]["kind"] == "prim::If";
      EXPECT_TRUE(produced || ownerOfBlock) << nodes[i]["kind"] << " reads value " << v;
    }
  }
  for (size_t g = 1; g < view["groups"].size(); ++g) {
    int parent = view["groups"][g]["parent"];
    EXPECT_GE(parent, 0);
    EXPECT_NE(parent, static_cast<int>(g));
  }
}

TEST(GraphView, InlinedNodesGroupBySubmoduleTracedAndScripted) {
  for (const char* kind : {"traced", "scripted"}) {
    json view = viewOf("nested", kind);
    expectWellFormed(view);
    std::vector<std::string> keys = groupKeys(view);
    for (const char* key : {"m1", "m1/a", "m1/b", "m2", "m2/a", "m2/b"}) {
      EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << kind << " " << key;
    }
    for (const json& g : view["groups"]) {
      if (g["key"] == "m1") {
        EXPECT_EQ(g["type"], "Middle");
      }
      if (g["key"] == "m2/b") {
        EXPECT_EQ(g["type"], "Inner");
      }
    }
    // The top level holds only the input, the two Middles' groups, what forward adds, the return.
    std::vector<std::string> top = kindsIn(view, "");
    EXPECT_EQ(top.front(), "input") << kind;
    EXPECT_EQ(top.back(), "return") << kind;
  }
  // Traced: Inner's forward is conv, bn, relu and the traced helper's mul.
  EXPECT_EQ(kindsIn(viewOf("nested", "traced"), "m1/a"),
            (std::vector<std::string>{"aten::_convolution", "aten::batch_norm", "aten::relu",
                                      "aten::mul"}));
}

TEST(GraphView, ScriptedCallsToFunctionsAreGroupsAndSelfCallsAreNot) {
  json view = viewOf("nested", "scripted");
  std::vector<std::string> keys = groupKeys(view);
  // F.relu is a function group inside a; Inner.scale, a method of the same module, is no level.
  EXPECT_NE(std::find(keys.begin(), keys.end(), "m1/a/relu()"), keys.end());
  for (const std::string& k : keys) EXPECT_EQ(k.find("scale"), std::string::npos) << k;
  std::vector<std::string> inA = kindsIn(view, "m1/a");
  EXPECT_NE(std::find(inA.begin(), inA.end(), "aten::mul"), inA.end());  // scale's x * 0.5
}

TEST(GraphView, EachCallOfASharedSubmoduleIsAGroupOfItsOwn) {
  json view = viewOf("shared_bn", "scripted");
  expectWellFormed(view);
  std::vector<std::string> keys = groupKeys(view);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "bn"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "bn~2"), keys.end());
  EXPECT_EQ(kindsIn(view, "bn"), kindsIn(view, "bn~2"));
  // Between them, the second convolution: the groups are the two calls, in order.
  std::vector<std::string> top = kindsIn(view, "");
  EXPECT_EQ(std::count(top.begin(), top.end(), "aten::conv2d"), 2);
}

TEST(GraphView, BlocksOfIfAndLoopAreGroupsUnderTheirNodesGroup) {
  json view = viewOf("control_flow", "scripted", false);
  expectWellFormed(view);
  std::map<std::string, std::vector<std::string>> blocks;  // owner kind -> block names
  for (const json& g : view["groups"]) {
    if (g["kind"] != "block" || g["parent"] != 0) continue;
    blocks[g["type"]].push_back(g["name"]);
  }
  EXPECT_EQ(blocks["prim::If"], (std::vector<std::string>{"block0", "block1"}));
  EXPECT_EQ(blocks["prim::Loop"], (std::vector<std::string>{"block0"}));
  // Each block ends in its return, which reads the block's outputs.
  for (size_t g = 0; g < view["groups"].size(); ++g) {
    if (view["groups"][g]["kind"] != "block") continue;
    std::vector<std::string> kinds = kindsIn(view, view["groups"][g]["key"]);
    ASSERT_FALSE(kinds.empty());
    EXPECT_EQ(kinds.back(), "block return");
  }
}

TEST(GraphView, AttributesAndArgumentsAreShown) {
  json view = viewOf("nested", "traced", false);
  size_t calls = 0;
  for (const json& n : view["nodes"]) {
    if (n["kind"] != "prim::CallMethod") continue;
    ++calls;
    // The method the call names (tracing calls a module's forward "forward1" when its type is
    // traced more than once).
    ASSERT_EQ(n["attrs"].size(), 1u);
    EXPECT_EQ(n["attrs"][0].get<std::string>().rfind("name = \"forward", 0), 0u) << n["attrs"];
    ASSERT_EQ(n["args"].size(), 1u);  // the submodule it calls, as its users read it
    EXPECT_TRUE(n["args"][0] == "#0 = self.m1" || n["args"][0] == "#0 = self.m2") << n["args"];
  }
  EXPECT_EQ(calls, 2u);
}

TEST(GraphView, LongGroupsSplitIntoRunsAndNoNodeIsLost) {
  json whole = viewOf("long_chain", "traced");
  json split = viewOf("long_chain", "traced", true, GraphViewOptions{4});
  expectWellFormed(split);
  EXPECT_EQ(split["nodes"].size(), whole["nodes"].size());
  std::map<int, size_t> members;  // group -> nodes and groups directly in it
  for (const json& n : split["nodes"]) members[n["g"]]++;
  for (size_t g = 1; g < split["groups"].size(); ++g) members[split["groups"][g]["parent"]]++;
  size_t runs = 0;
  for (const auto& [g, count] : members) EXPECT_LE(count, 4u) << "group " << g;
  for (const json& g : split["groups"]) runs += g["kind"] == "run";
  EXPECT_GT(runs, 1u);
  EXPECT_GT(whole["nodes"].size(), 16u);  // so that runs of runs were needed
}

TEST(GraphView, KeysMatchNodesAcrossAPassAndDigestsTellWhatChanged) {
  torch::jit::Module m = loadModule(test::fixturePath("conv2d_bn", "traced"));
  std::shared_ptr<torch::jit::Graph> g = viewGraph(m, "forward", true);
  json before = graphView(*g);
  EXPECT_EQ(graphView(*g), before);  // the same graph reads the same
  // A node whose input changes (the relu now reads the convolution, skipping the batch norm)
  // keeps its key and gets another digest; no other node changes.
  auto relu = std::find_if(g->nodes().begin(), g->nodes().end(), [](torch::jit::Node* n) {
    return n->kind() == c10::aten::relu || n->kind() == c10::aten::relu_;
  });
  ASSERT_NE(relu, g->nodes().end());
  torch::jit::Value* bnOut = relu->input(0);
  relu->replaceInput(0, bnOut->node()->input(0));
  json after = graphView(*g);
  std::map<json, json> digests;
  for (const json& n : before["nodes"]) digests[n["k"]] = n.value("s", "");
  size_t changed = 0;
  for (const json& n : after["nodes"]) {
    ASSERT_TRUE(digests.count(n["k"])) << n["kind"];
    if (digests[n["k"]] != n.value("s", "")) {
      ++changed;
      EXPECT_TRUE(n["kind"] == "aten::relu" || n["kind"] == "aten::relu_") << n["kind"];
    }
  }
  EXPECT_EQ(changed, 1u);
}

/// The views a run's report gets: the recorder after StageIr, as the engine attaches them.
ViewerData recordRun(const std::string& pipeline, size_t budget) {
  torch::jit::Module m = loadModule(test::fixturePath("nested"));
  auto stages = std::make_shared<StageIr>(false);
  auto views = std::make_shared<GraphViewRecorder>(budget);
  PassManager pm(parsePipeline(pipeline));
  pm.addInstrumentation(stages);
  pm.addInstrumentation(views);
  pm.run(m, {"forward"});
  return views->finish(m, {"forward"});
}

std::vector<std::string> stageNames(const ViewerData& d) {
  std::vector<std::string> names;
  for (const ViewerStage& s : d.stages) names.push_back(s.name);
  return names;
}

TEST(GraphViewRecorder, KeepsTheInputAndEveryStageThatChanged) {
  ViewerData d = recordRun("inline,dce,fold-conv-bn,dce", 1000000);
  // The first dce finds nothing dead after inlining: no stage.
  EXPECT_EQ(stageNames(d),
            (std::vector<std::string>{"00-input", "01-inline", "03-fold-conv-bn", "04-dce"}));
  ASSERT_EQ(d.passes.size(), 4u);
  EXPECT_EQ(d.passes[0].name, "the whole run: 00-input to 04-dce");
  EXPECT_EQ(d.passes[2].name, "03-fold-conv-bn: fold-conv-bn");
  EXPECT_EQ(std::make_pair(d.passes[2].before, d.passes[2].after), std::make_pair(1ul, 2ul));
  // One graph throughout (inline changes it in place): its nodes can be matched.
  for (const ViewerStage& s : d.stages) EXPECT_EQ(s.graphId, d.stages[0].graphId);
  // torch-freeze makes a new graph: nothing to match across it.
  ViewerData frozen = recordRun("inline,torch-freeze", 1000000);
  ASSERT_EQ(frozen.stages.size(), 3u);
  EXPECT_EQ(frozen.stages[0].graphId, frozen.stages[1].graphId);
  EXPECT_NE(frozen.stages[1].graphId, frozen.stages[2].graphId);
}

TEST(GraphViewRecorder, PastItsBudgetKeepsTheInputAndTheResult) {
  ViewerData all = recordRun("inline,fold-conv-bn,dce", 1000000);
  size_t input = all.stages[0].graph["nodes"].size();
  size_t inlined = all.stages[1].graph["nodes"].size();
  ViewerData some = recordRun("inline,fold-conv-bn,dce", input + inlined);
  EXPECT_EQ(stageNames(some), (std::vector<std::string>{"00-input", "01-inline", "final"}));
  EXPECT_EQ(some.passes.front().name, "the whole run: 00-input to final (stages between not kept)");
  EXPECT_EQ(some.stages.back().graph, all.stages.back().graph);
}

}  // namespace
}  // namespace tsopt
