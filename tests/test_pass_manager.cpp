// PassManager: hooks, records, fixed-point groups, failures and lint naming the pass.
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <sstream>

#include "ir_dump/stages.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/instrumentations.h"
#include "passes/core/ir_check.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/plugin.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

/// Appends `aten::neg` to the first `budget` relus it finds; reports changed while it works.
class CountdownPass : public GraphPass {
 public:
  std::string name() const override { return "countdown"; }
  std::string description() const override { return "changes the graph `budget` times"; }
  bool run(const std::shared_ptr<torch::jit::Graph>& g, PassContext& ctx) override {
    if (runs_++ >= budget_.value()) return false;
    torch::jit::Value* out = g->outputs()[0];
    torch::jit::WithInsertPoint guard(g->return_node());
    torch::jit::Value* neg = g->insert(c10::aten::neg, {out});
    g->return_node()->replaceInputWith(out, neg);
    ctx.stats.add("negated");
    return true;
  }
  IntOption budget_{*this, "budget", "how many runs change the graph", 1, int64_t{0}};
  int64_t runs_ = 0;
};

/// Adds a node but says it changed nothing: a pass with a bug in its return value.
class SilentPass : public GraphPass {
 public:
  std::string name() const override { return "silent"; }
  std::string description() const override { return "changes the graph and says it did not"; }
  bool run(const std::shared_ptr<torch::jit::Graph>& g, PassContext&) override {
    torch::jit::Value* out = g->outputs()[0];
    torch::jit::WithInsertPoint guard(g->return_node());
    g->return_node()->replaceInputWith(out, g->insert(c10::aten::neg, {out}));
    return false;
  }
};

class Recorder : public PassInstrumentation {
 public:
  void beforePass(const Pass& p, const PassRunInfo& info, torch::jit::Module&,
                  const std::vector<std::string>&) override {
    events.push_back("before " + p.name() + " #" + std::to_string(info.index) + " it" +
                     std::to_string(info.iteration));
  }
  void afterPass(const Pass& p, const PassRunInfo&, PassRecord& r, torch::jit::Module&,
                 const std::vector<std::string>&) override {
    events.push_back("after " + p.name() + (r.changed ? " changed" : " unchanged"));
  }
  bool onFailure(const Pass& p, const PassRunInfo&, const std::string& msg,
                 torch::jit::Module&) override {
    events.push_back("failed " + p.name() + ": " + msg);
    return false;
  }
  std::vector<std::string> events;
};

PassRegistry& testRegistry() {
  static PassRegistry r = [] {
    PassRegistry reg;
    reg.add<CountdownPass>();
    reg.add<SilentPass>();
    reg.add([] { return PassRegistry::global().create("dce"); });
    loadPlugin(test::pluginPath("tsopt_test_plugin_throwing_pass"), reg);
    return reg;
  }();
  return r;
}

torch::jit::Module model() { return loadModule(test::fixture("conv2d_bn", "traced").path()); }

TEST(PassManager, HooksRunInOrderAndRecordsAreFilled) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("countdown,dce", testRegistry()));
  auto rec = std::make_shared<Recorder>();
  pm.addInstrumentation(rec);
  pm.addInstrumentation(std::make_shared<NodeCounts>());
  int64_t nodes = countNodes(m.get_method("forward").graph()->block());
  RunResult r = pm.run(m, {"forward"});
  EXPECT_EQ(rec->events,
            (std::vector<std::string>{"before countdown #0 it0", "after countdown changed",
                                      "before dce #1 it0", "after dce unchanged"}));
  ASSERT_EQ(r.passes.size(), 2u);
  EXPECT_EQ(r.passes[0].nodesBefore, nodes);
  EXPECT_EQ(r.passes[0].nodesAfter, nodes + 1);
  EXPECT_EQ(r.passes[0].stats.at("negated"), 1);
  EXPECT_EQ(r.passes[1].nodesBefore, nodes + 1);
  EXPECT_EQ(r.passes[1].nodesAfter, nodes + 1);
  EXPECT_EQ(r.passes[1].index, 1u);
  EXPECT_GE(r.totalMs, r.passes[0].ms + r.passes[1].ms);
}

TEST(PassManager, StageIrIsTheOneJudgeOfChangeForEveryoneAfterIt) {
  // Without StageIr the record says what the pass returned; with it, a pass that changed the
  // canonical IR is changed for the printer, the dumps, the report and fixed-point groups alike.
  torch::jit::Module m = model();
  RunResult bare = PassManager(parsePipeline("silent", testRegistry())).run(m, {"forward"});
  EXPECT_FALSE(bare.passes[0].changed);

  m = model();
  PassManager pm(parsePipeline("silent,dce", testRegistry()));
  auto stages = std::make_shared<StageIr>(true);
  auto rec = std::make_shared<Recorder>();
  std::ostringstream printed;
  IrPrintConfig print;
  print.afterChange = true;
  pm.addInstrumentation(stages);
  pm.addInstrumentation(std::make_shared<IrPrinter>(*stages, print, printed));
  pm.addInstrumentation(rec);
  RunResult r = pm.run(m, {"forward"});
  EXPECT_TRUE(r.passes[0].changed);
  EXPECT_FALSE(r.passes[1].changed);
  EXPECT_EQ(rec->events[1], "after silent changed");
  EXPECT_EQ(printed.str().rfind("// -----// IR Dump After silent //----- //\n", 0), 0u);
  EXPECT_EQ(printed.str().find("IR Dump After dce"), std::string::npos);
  EXPECT_NE(stages->ir().find("aten::neg"), std::string::npos);
}

TEST(PassManager, AStageDiffStartsFromTheStageWhereItsIrFirstAppeared) {
  // dce changes nothing between the two silent passes: the second diff is against 01-silent,
  // which holds the same IR as 02-dce and is the stage that was dumped.
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("silent,dce,silent", testRegistry()));
  auto stages = std::make_shared<StageIr>(true);
  pm.addInstrumentation(stages);
  pm.run(m, {"forward"});
  EXPECT_EQ(stages->stem(), "03-silent");
  EXPECT_EQ(stages->diff().rfind("--- a/01-silent.ir\n+++ b/03-silent.ir\n@@", 0), 0u)
      << stages->diff();
}

TEST(PassManager, NodesAreCountedOnlyWhenAsked) {
  torch::jit::Module m = model();
  RunResult r = PassManager(parsePipeline("countdown,dce", testRegistry())).run(m, {"forward"});
  ASSERT_EQ(r.passes.size(), 2u);
  for (const PassRecord& p : r.passes) {
    EXPECT_EQ(p.nodesBefore, -1);
    EXPECT_EQ(p.nodesAfter, -1);
  }
}

TEST(PassManager, FixedPointRepeatsUntilNothingChanges) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("fixed-point(countdown{budget=3},dce)", testRegistry()));
  RunResult r = pm.run(m, {"forward"});
  // Iterations 1-3 change the graph, iteration 4 does not and ends the group.
  ASSERT_EQ(r.passes.size(), 8u);
  EXPECT_EQ(r.passes.back().iteration, 4);
  EXPECT_FALSE(r.passes[6].changed);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(PassManager, FixedPointStopsAtTheLimitWithAWarning) {
  torch::jit::Module m = model();
  PassManager pm(
      parsePipeline("fixed-point{max-iterations=2}(countdown{budget=5})", testRegistry()));
  RunResult r = pm.run(m, {"forward"});
  EXPECT_EQ(r.passes.size(), 2u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("still changed the graph after 2 iterations"), std::string::npos);
}

TEST(PassManager, AThrowingPassIsNamedAndReported) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("dce,test-throw,dce", testRegistry()));
  auto rec = std::make_shared<Recorder>();
  pm.addInstrumentation(rec);
  try {
    pm.run(m, {"forward"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "pass 'test-throw' failed on method 'forward': deliberate failure");
  }
  EXPECT_EQ(rec->events.back(),
            "failed test-throw: pass 'test-throw' failed on method 'forward': deliberate failure");
}

TEST(PassManager, LintFailureNamesThePass) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("dce,test-break-graph", testRegistry()));
  try {
    pm.run(m, {"forward"});
    FAIL() << "an invalid graph passed lint";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("pass 'test-break-graph' left an invalid graph in method 'forward': node "
                        "prim::TupleConstruct (defining %",
                        0),
              0u)
        << msg;
    EXPECT_EQ(msg.find("INTERNAL ASSERT"), std::string::npos) << msg;
  }
}

TEST(PassManager, InvalidGraphsAreExplainedInWords) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(R"IR(
    graph(%x : Tensor, %c : bool):
      %one : int = prim::Constant[value=1]()
      %y : Tensor = prim::If(%c)
        block0():
          %z : Tensor = aten::add(%x, %x, %one)
          -> (%z)
        block1():
          -> (%x)
      return (%y))IR",
                      g.get());
  EXPECT_EQ(findGraphDefect(*g), "");

  // A use moved before its definition.
  torch::jit::Node* add = g->outputs()[0]->node()->blocks()[0]->nodes().front();
  torch::jit::Node* one = add->input(2)->node();
  one->moveAfter(g->outputs()[0]->node());
  const std::string z = add->output()->debugName(), c = one->output()->debugName();
  EXPECT_EQ(findGraphDefect(*g), "node aten::add (defining %" + z + ") uses %" + c +
                                     " where it is not defined (used before its definition, "
                                     "or outside its block)");
  EXPECT_ANY_THROW(g->lint());
  one->moveBefore(g->outputs()[0]->node());
  EXPECT_EQ(findGraphDefect(*g), "");

  // A value of a nested block used after the block.
  g->registerOutput(add->output());
  EXPECT_EQ(findGraphDefect(*g), "node prim::Return uses %" + z +
                                     " where it is not defined (used before its definition, or "
                                     "outside its block)");
}

TEST(PassManager, LintEachCanBeTurnedOff) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("test-break-graph", testRegistry()));
  pm.setIrCheck(IrCheck::None);
  RunResult r = pm.run(m, {"forward"});
  // The pass ran and left its broken graph, unchecked.
  ASSERT_EQ(r.passes.size(), 1u);
  EXPECT_EQ(r.passes[0].checkMs, 0);
  EXPECT_NE(findGraphDefect(*m.get_method("forward").graph()), "");
}

TEST(PassManager, PassLimitRunsOnlyThePrefixAndEndsFixedPointGroups) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("countdown,fixed-point(countdown{budget=3},dce)", testRegistry()));
  pm.setPassLimit(4);
  auto rec = std::make_shared<Recorder>();
  pm.addInstrumentation(rec);
  pm.addInstrumentation(std::make_shared<NodeCounts>());
  RunResult r = pm.run(m, {"forward"});
  // countdown; iteration 1 (countdown, dce); iteration 2 runs countdown and then hits the limit.
  ASSERT_EQ(r.passes.size(), 4u);
  EXPECT_EQ(r.passes[3].name, "countdown");
  EXPECT_EQ(r.passes[3].iteration, 2);
  EXPECT_EQ(rec->events.size(), 8u);
  EXPECT_EQ(r.passes[3].nodesAfter, r.passes[0].nodesBefore + 3);
}

TEST(PassManager, KeepGoingSkipsAFailingPassAndRestoresTheModel) {
  for (const char* failing : {"test-throw", "test-break-graph"}) {
    torch::jit::Module m = model();
    int64_t nodes = countNodes(m.get_method("forward").graph()->block());
    PassManager pm(parsePipeline(std::string("countdown,") + failing + ",countdown{budget=2}",
                                 testRegistry()));
    pm.addInstrumentation(std::make_shared<KeepGoing>());
    RunResult r = pm.run(m, {"forward"});
    ASSERT_EQ(r.passes.size(), 3u) << failing;
    EXPECT_TRUE(r.passes[1].failed);
    EXPECT_FALSE(r.passes[1].changed);
    EXPECT_EQ(r.passes[1].error.rfind(std::string("pass '") + failing, 0), 0u) << r.passes[1].error;
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("skipped (keep-going)"), std::string::npos);
    // The two countdowns' changes are there, the failing pass's are not.
    auto g = m.get_method("forward").graph();
    EXPECT_EQ(countNodes(g->block()), nodes + 2) << failing;
    EXPECT_NO_THROW(g->lint());
    EXPECT_EQ(test::irOf(m).find("prim::TupleConstruct"), std::string::npos);
  }
}

TEST(PassManager, UnknownMethodIsAClearError) {
  torch::jit::Module m = model();
  PassManager pm(parsePipeline("dce", testRegistry()));
  try {
    pm.run(m, {"fwd"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the model has no method 'fwd' (it has: forward)");
  }
}

TEST(PassManager, LibTorchsPassesReportAChangeExactlyWhenTheyMakeOne) {
  // LibTorch's Inline, EliminateDeadCode and ConstantPooling return nothing; their wrappers
  // compare fingerprints of the graph. A second Inline or EliminateDeadCode finds nothing left to
  // do; ConstantPooling hoists the constants to the top in reverse order each time it runs, so
  // it always changes the graph (and a fixed-point group of it alone never settles).
  const test::Fixture& f = test::fixture("dead_code", "scripted");
  auto [m, r] = test::runPipeline(f,
                                  "torch-inline,torch-inline,torch-dce,torch-dce,"
                                  "torch-constant-pooling,torch-constant-pooling");
  std::vector<bool> changed;
  for (const PassRecord& p : r.passes) changed.push_back(p.changed);
  EXPECT_EQ(changed, (std::vector<bool>{true, false, true, false, true, true}));
  EXPECT_LT(r.passes[2].nodesAfter, r.passes[2].nodesBefore);
  EXPECT_EQ(r.passes[4].nodesAfter, r.passes[4].nodesBefore)
      << "nothing to pool here: only the order of the constants changed";
}

TEST(PassManager, NodeCountsIncludeNestedBlocks) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(R"IR(
graph(%c : bool, %x : Tensor):
  %y : Tensor = prim::If(%c)
    block0():
      %a : Tensor = aten::relu(%x)
      -> (%a)
    block1():
      %b : Tensor = aten::neg(%x)
      %d : Tensor = aten::neg(%b)
      -> (%d)
  return (%y)
)IR",
                      g.get());
  EXPECT_EQ(countNodes(g->block()), 4);
}

}  // namespace
}  // namespace tsopt
