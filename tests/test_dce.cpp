// dce: precise IR cases (mutation, side effects, If outputs, Loop carried values) with numerics,
// every fixture, and "removes at least what LibTorch's EliminateDeadCode removes".
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "passes/builtin/builtin.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using torch::jit::testing::FileCheck;

std::shared_ptr<torch::jit::Graph> parse(const std::string& ir) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, g.get());
  return g;
}

/// Runs our dce on `ir`, checks the result with `checks`, and compares outputs and the inputs
/// afterwards (mutations of inputs are observable) on `inputs`. The graph after dce goes to
/// `result` if given.
Statistics dceAndCheck(const std::string& ir, const std::string& checks,
                       const std::vector<c10::IValue>& inputs,
                       std::shared_ptr<torch::jit::Graph>* result = nullptr) {
  auto g = parse(ir);
  auto before = g->copy();
  Statistics stats;
  eliminateDeadCode(*g, &stats);
  g->lint();
  FileCheck().run(checks, *g);
  std::vector<c10::IValue> in1, in2;
  for (const auto& v : inputs) {
    in1.push_back(v.isTensor() ? c10::IValue(v.toTensor().clone()) : v);
    in2.push_back(v.isTensor() ? c10::IValue(v.toTensor().clone()) : v);
  }
  torch::jit::Stack s1(in1.begin(), in1.end()), s2(in2.begin(), in2.end());
  torch::jit::GraphFunction f1("before", before, nullptr), f2("after", g->copy(), nullptr);
  f1.run(s1);
  f2.run(s2);
  Comparison c = compareOutputs(s1.back(), s2.back(), {});
  EXPECT_TRUE(c.equal) << c.mismatch;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].isTensor()) continue;
    EXPECT_TRUE(in1[i].toTensor().equal(in2[i].toTensor())) << "input " << i << " differs";
  }
  if (result) *result = g;
  return stats;
}

TEST(Dce, RemovesUnusedNodesAndConstants) {
  Statistics s = dceAndCheck(R"IR(
graph(%x : Tensor):
  %one : int = prim::Constant[value=1]()
  %unused : int = prim::Constant[value=7]()
  %a : Tensor = aten::mul(%x, %x)
  %b : Tensor = aten::add(%x, %x, %one)
  return (%b)
)IR",
                             R"(# CHECK-NOT: value=7
# CHECK-NOT: aten::mul
# CHECK: aten::add)",
                             {torch::randn({3})});
  EXPECT_EQ(s.get("removed"), 2);
}

TEST(Dce, KeepsSideEffects) {
  dceAndCheck(R"IR(
graph(%x : Tensor, %c : bool):
  %s : str = prim::Constant[value="hi"]()
  %none : NoneType = prim::Constant()
  prim::Print(%s)
  %r : Tensor = aten::relu(%x)
  prim::If(%c)
    block0():
      prim::RaiseException(%s, %none)
      -> ()
    block1():
      -> ()
  return (%x)
)IR",
              R"(# CHECK: prim::Print
# CHECK-NOT: aten::relu
# CHECK: prim::If
# CHECK: prim::RaiseException)",
              {torch::randn({3}), false});
}

TEST(Dce, KeepsInPlaceWriteToAViewOfAnInput) {
  dceAndCheck(R"IR(
graph(%x : Tensor):
  %zero : int = prim::Constant[value=0]()
  %one : int = prim::Constant[value=1]()
  %v : Tensor = aten::select(%x, %zero, %zero)
  %w : Tensor = aten::add_(%v, %one, %one)
  return (%one)
)IR",
              "# CHECK: aten::select\n# CHECK: aten::add_", {torch::randn({2, 3})});
}

TEST(Dce, KeepsAppendToAReturnedList) {
  dceAndCheck(R"IR(
graph(%x : Tensor):
  %l : Tensor[] = prim::ListConstruct()
  %_ : Tensor[] = aten::append(%l, %x)
  return (%l)
)IR",
              "# CHECK: prim::ListConstruct\n# CHECK: aten::append", {torch::randn({2})});
}

TEST(Dce, RemovesMutationsNothingReads) {
  // The write to %t happens after its last read; the clone and its write are both unread.
  Statistics s = dceAndCheck(R"IR(
graph(%x : Tensor):
  %none : NoneType = prim::Constant()
  %one : int = prim::Constant[value=1]()
  %t : Tensor = aten::clone(%x, %none)
  %y : Tensor = aten::mul(%t, %t)
  %u : Tensor = aten::add_(%t, %one, %one)
  %d : Tensor = aten::clone(%x, %none)
  %e : Tensor = aten::mul_(%d, %one)
  return (%y)
)IR",
                             R"(# CHECK: aten::clone
# CHECK: aten::mul
# CHECK-NOT: aten::add_
# CHECK-NOT: aten::mul_)",
                             {torch::randn({4})});
  EXPECT_EQ(s.get("removed"), 4);  // add_, the second clone, mul_ and the constant 1
}

TEST(Dce, KeepsMutationBeforeARead) {
  dceAndCheck(R"IR(
graph(%x : Tensor):
  %none : NoneType = prim::Constant()
  %one : int = prim::Constant[value=1]()
  %t : Tensor = aten::clone(%x, %none)
  %u : Tensor = aten::add_(%t, %one, %one)
  %y : Tensor = aten::mul(%t, %t)
  return (%y)
)IR",
              "# CHECK: aten::add_\n# CHECK: aten::mul", {torch::randn({4})});
}

TEST(Dce, PrunesUnusedIfOutputs) {
  Statistics s = dceAndCheck(R"IR(
graph(%c : bool, %x : Tensor):
  %y : Tensor, %z : Tensor = prim::If(%c)
    block0():
      %a : Tensor = aten::relu(%x)
      %b : Tensor = aten::neg(%x)
      -> (%a, %b)
    block1():
      %d : Tensor = aten::sigmoid(%x)
      %e : Tensor = aten::tanh(%x)
      -> (%d, %e)
  return (%y)
)IR",
                             R"(# CHECK: : Tensor = prim::If(%c)
# CHECK-NEXT: block0
# CHECK-NEXT: aten::relu
# CHECK-NEXT: ->
# CHECK-NEXT: block1
# CHECK-NEXT: aten::sigmoid
# CHECK-NOT: aten::tanh)",
                             {true, torch::randn({3})});
  EXPECT_EQ(s.get("removed.if-outputs"), 1);
  EXPECT_EQ(s.get("removed"), 2);
}

TEST(Dce, PrunesUnusedLoopCarriedValues) {
  Statistics s = dceAndCheck(R"IR(
graph(%x : Tensor):
  %n : int = prim::Constant[value=3]()
  %true : bool = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %y : Tensor, %c : Tensor = prim::Loop(%n, %true, %x, %x)
    block0(%i : int, %y.1 : Tensor, %c.1 : Tensor):
      %y.2 : Tensor = aten::add(%y.1, %one, %one)
      %c.2 : Tensor = aten::mul(%c.1, %c.1)
      -> (%true, %y.2, %c.2)
  return (%y)
)IR",
                             R"(# CHECK: : Tensor = prim::Loop(
# CHECK-SAME: , %x)
# CHECK-NEXT: block0(
# CHECK: aten::add
# CHECK-NOT: aten::mul)",
                             {torch::randn({3})});
  EXPECT_EQ(s.get("removed.loop-carried"), 1);
}

TEST(Dce, KeepsLoopCarriedValuesThatFeedLiveOnes) {
  // %c is not returned, but each iteration's %y reads it.
  dceAndCheck(R"IR(
graph(%x : Tensor):
  %n : int = prim::Constant[value=3]()
  %true : bool = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %y : Tensor, %c : Tensor = prim::Loop(%n, %true, %x, %x)
    block0(%i : int, %y.1 : Tensor, %c.1 : Tensor):
      %y.2 : Tensor = aten::add(%y.1, %c.1, %one)
      %c.2 : Tensor = aten::mul(%c.1, %c.1)
      -> (%true, %y.2, %c.2)
  return (%y)
)IR",
              R"(# CHECK: prim::Loop(
# CHECK-SAME: , %x, %x)
# CHECK: aten::add
# CHECK: aten::mul)",
              {torch::randn({3})});
}

TEST(Dce, RemovesWholeDeadLoopsAndIfs) {
  dceAndCheck(R"IR(
graph(%x : Tensor, %c : bool):
  %n : int = prim::Constant[value=3]()
  %true : bool = prim::Constant[value=1]()
  %y : Tensor = prim::Loop(%n, %true, %x)
    block0(%i : int, %y.1 : Tensor):
      %y.2 : Tensor = aten::neg(%y.1)
      -> (%true, %y.2)
  %z : Tensor = prim::If(%c)
    block0():
      -> (%x)
    block1():
      -> (%y)
  return (%x)
)IR",
              "# CHECK-NOT: prim::Loop\n# CHECK-NOT: prim::If", {torch::randn({3}), true});
}

/// A graph where `%x` has `live` live readers and, between them, `dead` dead ones: a mul that
/// reads it twice, a neg of that mul (a dead user of a dead reader), and a mul inside a live
/// If. Enough dead uses of one value for dce to hand them over in bulk
/// (detachDeadReadersOfWidelyUsedValues); returning `%x` (written in place) takes the
/// one-by-one path.
std::string manyDeadReaders(int live, int dead, bool returnX) {
  std::string ir = "graph(%x : Tensor, %c : bool):\n  %one : int = prim::Constant[value=1]()\n";
  ir += "  %acc0 : Tensor = aten::neg(%x)\n";
  for (int i = 0; i < std::max(live, dead); ++i) {
    std::string k = std::to_string(i);
    if (i < live) {
      ir += "  %acc" + std::to_string(i + 1) + " : Tensor = aten::add(%acc" + k + ", %x, %one)\n";
    }
    if (i < dead) {
      ir += "  %d" + k + " : Tensor = aten::mul(%x, %x)\n  %e" + k + " : Tensor = aten::neg(%d" +
            k + ")\n";
    }
  }
  std::string acc = "%acc" + std::to_string(live);
  ir += "  %r : Tensor = prim::If(%c)\n    block0():\n      %u : Tensor = aten::mul(%x, %x)\n";
  ir += "      -> (" + acc + ")\n    block1():\n      -> (%x)\n";
  ir += returnX ? "  %w : Tensor = aten::add_(%x, %r, %one)\n  return (%x)\n" : "  return (%r)\n";
  return ir;
}

TEST(Dce, RemovesManyDeadReadersOfOneValue) {
  for (bool returnX : {false, true}) {
    SCOPED_TRACE(returnX ? "x returned" : "x not returned");
    const int live = 300, dead = 300;
    std::shared_ptr<torch::jit::Graph> g;
    Statistics s = dceAndCheck(manyDeadReaders(live, dead, returnX),
                               "# CHECK-NOT: aten::mul\n# CHECK-NOT: prim::Uninitialized",
                               {torch::randn({4}), true}, &g);
    EXPECT_EQ(s.get("removed"), 2 * dead + 1);
    // What is left: the neg, the adds, the If's block output (and the add_ and the return)
    // read %x, and nothing else does.
    EXPECT_EQ(g->inputs()[0]->uses().size(), static_cast<size_t>(1 + live + 1 + (returnX ? 2 : 0)));
    FileCheck().check_count("aten::add(", live, true)->run(*g);
  }
}

class DceOnFixture : public ::testing::TestWithParam<test::Fixture> {};

TEST_P(DceOnFixture, RemovesAtLeastWhatLibTorchRemovesAndChangesNoValue) {
  const test::Fixture& f = GetParam();
  auto [m, r] = test::runPipeline(f, "inline,dce");
  test::expectIdenticalOutputs(f, m);

  auto [ref, unused] = test::runPipeline(f, "inline");
  auto theirs = ref.get_method("forward").graph()->copy();
  torch::jit::EliminateDeadCode(theirs);
  int64_t ours = countNodes(m.get_method("forward").graph()->block());
  EXPECT_LE(ours, countNodes(theirs->block())) << f.id();
}

INSTANTIATE_TEST_SUITE_P(All, DceOnFixture, ::testing::ValuesIn(test::fixtures()),
                         [](const auto& info) { return info.param.id(); });

TEST(Dce, DeadCodeFixtureLosesTheUnusedLayer) {
  const test::Fixture& f = test::fixture("dead_code", "scripted");
  auto [m, r] = test::runPipeline(f, "inline,dce");
  const auto& g = *m.get_method("forward").graph();
  FileCheck().check_count("aten::linear", 1, true)->run(g);
  FileCheck().check_not("prim::GetAttr[name=\"unused\"]")->run(g);
  // After inlining, the unused layer is four nodes: GetAttr of the layer, of its weight and of
  // its bias, and the linear. The fifth is the loop's aten::mul of its unused carried `c`.
  // (TorchScript's frontend already drops the unused If output here; see PrunesUnusedIfOutputs.)
  EXPECT_EQ(r.passes[1].stats.at("removed"), 5);
  EXPECT_EQ(r.passes[1].stats.at("removed.loop-carried"), 1);
}

TEST(Dce, MutationFixtureKeepsObservableWrites) {
  const test::Fixture& f = test::fixture("mutation", "scripted");
  auto [m, r] = test::runPipeline(f, "inline,dce");
  FileCheck()
      .check("aten::add_")
      ->check("aten::append")
      ->check_not("aten::mul_")
      ->run(*m.get_method("forward").graph());
  // The model writes into its input: the same write must happen after dce.
  auto before = test::fixture("mutation", "scripted");
  torch::jit::Module orig = torch::jit::load(before.path());
  at::Tensor x1 = torch::randn({3, 4}), x2 = x1.clone();
  orig.forward({x1});
  m.forward({x2});
  EXPECT_TRUE(x1.equal(x2));
}

}  // namespace
}  // namespace tsopt
