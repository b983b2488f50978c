// The IR checker against a table of deliberately broken graphs: it must catch everything
// Graph::lint() catches, and name the defect in words. Each case breaks a valid graph the way a
// faulty pass would. Compiled with -fno-access-control (tests/CMakeLists.txt) so that cases can
// break what LibTorch's API keeps consistent (use lists, value numbers, topological positions).
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <functional>

#include "passes/core/ir_check.h"

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;

/// A valid graph with a nested block, a loop, and an operator with a schema.
std::shared_ptr<Graph> validGraph() {
  auto g = std::make_shared<Graph>();
  torch::jit::parseIR(R"IR(
    graph(%x : Tensor, %c : bool, %n : int):
      %one : int = prim::Constant[value=1]()
      %y : Tensor = prim::If(%c)
        block0():
          %z : Tensor = aten::add(%x, %x, %one)
          -> (%z)
        block1():
          -> (%x)
      %w : Tensor = prim::Loop(%n, %c, %y)
        block0(%i : int, %acc : Tensor):
          %s : Tensor = aten::mul(%acc, %acc)
          -> (%c, %s)
      return (%w))IR",
                      g.get());
  // The parser numbers values; name them as written, so that the messages below can say them.
  Node* loop = g->outputs()[0]->node();
  Node* ifn = loop->input(2)->node();
  Node* add = ifn->blocks()[0]->nodes().front();
  Node* mul = loop->blocks()[0]->nodes().front();
  const std::vector<std::pair<torch::jit::Value*, const char*>> names = {
      {g->inputs()[0], "x"},
      {g->inputs()[1], "c"},
      {g->inputs()[2], "n"},
      {add->input(2), "one"},
      {ifn->output(), "y"},
      {add->output(), "z"},
      {loop->output(), "w"},
      {loop->blocks()[0]->inputs()[0], "i"},
      {loop->blocks()[0]->inputs()[1], "acc"},
      {mul->output(), "s"}};
  for (const auto& [v, name] : names) v->setDebugName(name);
  return g;
}

Node* ifNode(Graph& g) { return g.outputs()[0]->node()->input(2)->node(); }
Node* addNode(Graph& g) { return ifNode(g)->blocks()[0]->nodes().front(); }
Node* loopNode(Graph& g) { return g.outputs()[0]->node(); }
Node* mulNode(Graph& g) { return loopNode(g)->blocks()[0]->nodes().front(); }

struct BrokenCase {
  std::string what;
  std::function<void(Graph&)> breakIt;
  std::string defect;  ///< what findGraphDefect must say (a prefix; value names vary)
  bool lintCatches;    ///< what Graph::lint() does on it (recorded, and checked)
};

std::vector<BrokenCase> brokenCases() {
  return {
      {"a use moved before its definition",
       [](Graph& g) { addNode(g)->input(2)->node()->moveAfter(ifNode(g)); },
       "node aten::add (defining %z) uses %one where it is not defined", true},
      {"a value of a nested block used after the block",
       [](Graph& g) { g.registerOutput(addNode(g)->output()); },
       "node prim::Return uses %z where it is not defined", true},
      {"a value of another graph",
       [](Graph& g) {
         static auto other = validGraph();  // outlives the broken graph that points into it
         Node* add = addNode(g);
         add->inputs_[0] = other->inputs()[0];  // replaceInput refuses; a pass could still do it
         other->inputs()[0]->uses_.push_back(torch::jit::Use(add, 0));
       },
       "node aten::add (defining %z) uses %x, a value of another graph", true},
      {"an input set without recording the use",
       [](Graph& g) {
         Node* add = addNode(g);
         add->inputs_[1] = g.inputs()[2];  // what a pass writing inputs_ directly leaves
       },
       "%x lists a use by node aten::add (defining %z) that does not use it there", true},
      {"a use listed twice",
       [](Graph& g) {
         Node* add = addNode(g);
         add->input(0)->uses_.push_back(torch::jit::Use(add, 0));
       },
       "%x lists the same use by node aten::add (defining %z) twice", true},
      {"a use not listed",
       [](Graph& g) {
         auto& uses = addNode(g)->input(2)->uses_;
         uses.erase(uses.begin());
       },
       "node aten::add (defining %z) uses %one, but %one does not list that use", true},
      {"a node made with inputs but never inserted",
       [](Graph& g) { g.create(c10::aten::relu, {g.inputs()[0]}); },
       "%x lists a use by a node that is not in the graph", true},
      {"a node made without inputs and never inserted",
       [](Graph& g) { g.create(c10::prim::Constant); }, "node prim::Constant (defining %", true},
      {"a constant with an input",
       [](Graph& g) { addNode(g)->input(2)->node()->addInput(g.inputs()[2]); },
       "node prim::Constant (defining %one) has inputs", true},
      {"topological positions out of order",
       [](Graph& g) { ifNode(g)->topo_position_ = loopNode(g)->topo_position_ + 1; },
       "node prim::Loop (defining %w) has a topological position", true},
      {"an output whose offset is wrong", [](Graph& g) { addNode(g)->output()->offset_ = 1; },
       "node aten::add (defining %z) has output %z that does not name it as its node", true},
      {"two values with one number",
       [](Graph& g) { addNode(g)->output()->unique_ = g.inputs()[0]->unique(); },
       "node aten::add (defining %", true},
      {"a node that names another block as its owner",
       [](Graph& g) { addNode(g)->owning_block_ = g.block(); },
       "node aten::add (defining %z) does not name the block it stands in as its owner", true},
      {"an if whose blocks return more than it has outputs",
       [](Graph& g) { ifNode(g)->blocks()[1]->registerOutput(g.inputs()[0]); },
       "node prim::If (defining %y) has 1 outputs but a block with 0 inputs and 2 outputs", false},
      {"a loop body with a carried value too few",
       [](Graph& g) { loopNode(g)->blocks()[0]->eraseOutput(1); },
       "node prim::Loop (defining %w) carries 1 values, but has 1 outputs and a body with 2 "
       "inputs and 1 outputs",
       false},
      {"an operator output of the wrong type",
       [](Graph& g) { mulNode(g)->output()->setType(c10::IntType::get()); },
       "node aten::mul (defining %s) output 0 is of type int where its schema says Tensor", false},
  };
}

TEST(IrCheck, AValidGraphHasNoDefect) {
  auto g = validGraph();
  EXPECT_NO_THROW(g->lint());
  EXPECT_EQ(findGraphDefect(*g), "");
}

TEST(IrCheck, CatchesEveryBrokenGraphLintCatchesAndMore) {
  for (const BrokenCase& c : brokenCases()) {
    SCOPED_TRACE(c.what);
    auto g = validGraph();
    c.breakIt(*g);
    std::string defect = findGraphDefect(*g);
    EXPECT_EQ(defect.rfind(c.defect, 0), 0u) << "said: " << defect;
    bool lintThrew = false;
    try {
      g->lint();
    } catch (const std::exception&) {
      lintThrew = true;
    }
    EXPECT_EQ(lintThrew, c.lintCatches);
  }
}

}  // namespace
}  // namespace tsopt
