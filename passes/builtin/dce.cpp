// dce: removes nodes whose results are unused and that have no observable effect, through
// nested blocks, including unused prim::If outputs and prim::Loop carried values.
//
// One reverse sweep per block decides liveness: walking backwards, the set of live values holds
// exactly what is read after the current node, so a mutation is kept only if it writes (through
// any alias) to something read later, a graph input or a graph output. Loop bodies are re-swept
// until the carried values that are live stop growing. Alias analysis is built only if a node
// that may write memory is met with its results unused. Liveness lives in flat arrays indexed by
// Value::unique(), not hash sets: on graphs of tens of thousands of nodes, hashing pointers is
// mostly cache misses, and the pass would grow faster than the graph. The sweep also records
// what to remove, so removal needs no second walk, and dead readers of a value with thousands
// of uses give up their uses in bulk (see detachDeadReadersOfWidelyUsedValues).
//
//   %a = aten::mul(%x, %x)        # unused          ->   (removed)
//   %l = prim::ListConstruct()                          %l = prim::ListConstruct()
//   %_ = aten::append(%l, %x)     # writes %l           %_ = aten::append(%l, %x)   (kept)
//   return (%l)                                         return (%l)
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <memory>
#include <unordered_set>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Nodes without a schema known not to write memory (creators, unpackers, attribute reads).
bool isPureWithoutSchema(c10::Symbol kind) {
  using namespace c10;
  static const std::unordered_set<Symbol> pure = {
      prim::Constant,
      prim::ListConstruct,
      prim::TupleConstruct,
      prim::DictConstruct,
      prim::ListUnpack,
      prim::TupleUnpack,
      prim::TupleIndex,
      prim::GetAttr,
      prim::Uninitialized,
      prim::unchecked_cast,
      prim::If,
      prim::Loop,
      prim::Param,
      prim::Return,
      prim::NumToTensor,
      prim::device,
      prim::dtype,
      prim::requires_grad,
      prim::TupleSlice,
      prim::isinstance,
      prim::tolist,
      prim::CreateObject,
      prim::ConstantChunk,
  };
  return pure.count(kind) > 0;
}

/// Whether `n` may write to memory (so its liveness depends on aliasing).
bool mayWrite(const Node* n) {
  if (const c10::FunctionSchema* s = n->maybeSchema()) return schemaWrites(*s);
  return !isPureWithoutSchema(n->kind());
}

class DeadCodeEliminator {
 public:
  explicit DeadCodeEliminator(Graph& graph) : graph_(graph) {}

  bool run(Statistics& stats) {
    // Writes to graph inputs are visible to the caller: treat inputs as read after the graph.
    for (Value* in : graph_.inputs()) setLive(in);
    markBlockOutputsAll(graph_.block());
    sweep(graph_.block());
    removeDead();
    if (!dead_.empty()) stats.add("removed", static_cast<int64_t>(dead_.size()));
    if (ifOutputs_) stats.add("removed.if-outputs", ifOutputs_);
    if (loopCarried_) stats.add("removed.loop-carried", loopCarried_);
    return !dead_.empty() || ifOutputs_ > 0 || loopCarried_ > 0;
  }

 private:
  /// Sets `flags[i]`, growing it as needed; returns whether it was clear.
  static bool setFlag(std::vector<uint8_t>& flags, size_t i) {
    if (i >= flags.size()) flags.resize(std::max<size_t>(2 * i, 1024), 0);
    if (flags[i]) return false;
    flags[i] = 1;
    return true;
  }
  static bool flag(const std::vector<uint8_t>& flags, size_t i) {
    return i < flags.size() && flags[i];
  }

  bool isLive(const Value* v) const { return flag(liveValues_, v->unique()); }
  void setLive(const Value* v) {
    if (setFlag(liveValues_, v->unique())) liveOrder_.push_back(v);
  }

  /// A node is keyed by its first output's id; the few nodes without outputs go in a set.
  bool isLive(const Node* n) const {
    return n->outputs().empty() ? liveNoOutput_.count(n) > 0
                                : flag(liveNodes_, n->outputs()[0]->unique());
  }
  void markLive(Node* n) {
    bool added = n->outputs().empty() ? liveNoOutput_.insert(n).second
                                      : setFlag(liveNodes_, n->outputs()[0]->unique());
    if (!added) return;
    ++liveNodeCount_;
    for (Value* in : n->inputs()) setLive(in);
  }

  void markBlockOutputsAll(Block* b) {
    for (Value* v : b->outputs()) setLive(v);
  }

  bool anyOutputLive(const Node* n) const {
    for (const Value* o : n->outputs()) {
      if (isLive(o)) return true;
    }
    return false;
  }

  bool writesLive(Node* n) {
    if (!mayWrite(n)) return false;
    if (!aliasDb_) {
      // AliasDb wants the shared_ptr owning the graph; build one that does not own it.
      graphRef_ = std::shared_ptr<Graph>(&graph_, [](Graph*) {});
      aliasDb_ = std::make_unique<torch::jit::AliasDb>(graphRef_);
    }
    // AliasDb wants a set: bring it up to date with the values made live since the last call.
    for (; liveSetSynced_ < liveOrder_.size(); ++liveSetSynced_) {
      liveSet_.insert(liveOrder_[liveSetSynced_]);
    }
    return aliasDb_->writesToAlias(n, liveSet_);
  }

  /// Decides liveness of every node in `b`, last to first. Returns true if any node is live.
  bool sweep(Block* b) {
    bool any = false;
    for (auto it = b->nodes().rbegin(); it != b->nodes().rend(); ++it) {
      Node* n = *it;
      bool live = isLive(n) || anyOutputLive(n) || n->hasSideEffects();
      Marks inside = marks();
      if (n->kind() == c10::prim::If) {
        live |= sweepIf(n);
      } else if (n->kind() == c10::prim::Loop) {
        live |= sweepLoop(n);
      } else if (!n->blocks().empty()) {
        // Unknown node with blocks: keep it and everything in it, conservatively.
        for (Block* inner : n->blocks()) {
          markBlockOutputsAll(inner);
          sweep(inner);
        }
        live = true;
      }
      if (!live) live = writesLive(n);
      if (live) {
        markLive(n);
        any = true;
        if (n->kind() == c10::prim::If || n->kind() == c10::prim::Loop) pruned_.push_back(n);
      } else {
        truncate(inside);  // what is inside a dead node goes with it
        dead_.push_back(n);
      }
    }
    return any;
  }

  struct Marks {
    size_t dead, pruned;
  };
  Marks marks() const { return {dead_.size(), pruned_.size()}; }
  void truncate(Marks m) {
    dead_.resize(m.dead);
    pruned_.resize(m.pruned);
  }

  bool sweepIf(Node* n) {
    bool inner = false;
    for (Block* b : n->blocks()) {
      for (size_t i = 0; i < n->outputs().size(); ++i) {
        if (isLive(n->output(i))) setLive(b->outputs()[i]);
      }
      inner |= sweep(b);
    }
    return inner;
  }

  // Loop: inputs (trip count, cond, carried...), body params (iter, carried...),
  // body outputs (cond, carried...), node outputs (carried...).
  bool sweepLoop(Node* n) {
    Block* body = n->blocks()[0];
    size_t carried = n->outputs().size();
    std::vector<bool> liveCarried(carried);
    for (size_t i = 0; i < carried; ++i) liveCarried[i] = isLive(n->output(i));
    bool inner = false;
    Marks bodyMarks = marks();
    while (true) {
      setLive(body->outputs()[0]);
      for (size_t i = 0; i < carried; ++i) {
        if (liveCarried[i]) setLive(body->outputs()[i + 1]);
      }
      size_t liveBefore = liveOrder_.size(), nodesBefore = liveNodeCount_;
      truncate(bodyMarks);  // only the last sweep's findings count
      inner |= sweep(body);
      bool grew = false;
      for (size_t i = 0; i < carried; ++i) {
        if (!liveCarried[i] && isLive(body->inputs()[i + 1])) {
          liveCarried[i] = true;
          grew = true;
        }
      }
      if (!grew && liveOrder_.size() == liveBefore && liveNodeCount_ == nodesBefore) break;
    }
    bool anyCarried = false;
    for (size_t i = 0; i < carried; ++i) {
      if (liveCarried[i]) {
        anyCarried = true;
        setLive(n->output(i));  // keeps the carried slot when the loop is pruned
      }
    }
    return inner || anyCarried;
  }

  /// Removes what sweep found dead. `dead_` holds the outermost dead nodes, users before what
  /// they use; `pruned_` the live If and Loop nodes, whose dead outputs go in two steps: their
  /// uses by block returns first (so the dead nodes inside can go), the outputs and loop
  /// parameters last (once the nodes using them are gone). No second walk over the graph.
  void removeDead() {
    for (Node* n : pruned_) dropDeadBlockOutputs(n);
    std::vector<Node*> placeholders = detachDeadReadersOfWidelyUsedValues();
    for (Node* n : dead_) n->destroy();
    for (Node* p : placeholders) p->destroy();
    for (Node* n : pruned_) eraseDeadOutputs(n);
  }

  void dropDeadBlockOutputs(Node* n) {
    bool isLoop = n->kind() == c10::prim::Loop;
    for (size_t i = n->outputs().size(); i-- > 0;) {
      if (isLive(n->output(i))) continue;
      if (isLoop) {
        n->blocks()[0]->eraseOutput(i + 1);
        n->removeInput(i + 2);
      } else {
        for (Block* b : n->blocks()) b->eraseOutput(i);
      }
    }
  }

  // Loop: inputs (trip count, cond, carried...), body params (iter, carried...),
  // body outputs (cond, carried...), node outputs (carried...).
  void eraseDeadOutputs(Node* n) {
    bool isLoop = n->kind() == c10::prim::Loop;
    for (size_t i = n->outputs().size(); i-- > 0;) {
      if (isLive(n->output(i))) continue;
      n->eraseOutput(i);
      if (isLoop) {
        n->blocks()[0]->eraseInput(i + 1);
        ++loopCarried_;
      } else {
        ++ifOutputs_;
      }
    }
  }

  // LibTorch drops a use with a linear search and an erase in the value's use vector, so
  // destroying D dead readers of a value with U uses one by one costs D x U: a traced chain of
  // 1600 blocks has 1600 dead GetAttrs of its ReLU submodules, all reading `self`, which has 4800
  // uses, and destroying them was 85% of the pass. For such values the dead readers are moved to
  // the end of the graph, behind a placeholder, and their uses are handed to the placeholder in
  // one O(U) step (replaceAllUsesDominatedByNodeWith); the placeholder's use vector then holds
  // only dead uses, which are dropped from its front. Returns the placeholders, to be destroyed
  // after the dead nodes.
  std::vector<Node*> detachDeadReadersOfWidelyUsedValues() {
    static constexpr size_t kMinCost = size_t{1} << 16;  // dead uses x all uses
    std::vector<uint32_t> deadUses;                      // by Value::unique()
    for (Node* n : dead_) {
      for (Value* in : n->inputs()) {
        if (in->unique() >= deadUses.size()) deadUses.resize(2 * in->unique() + 1, 0);
        ++deadUses[in->unique()];
      }
    }
    Node* ret = graph_.return_node();
    std::vector<Value*> wide;
    for (Node* n : dead_) {
      for (Value* in : n->inputs()) {
        uint32_t& d = deadUses[in->unique()];
        if (d > 0 && size_t{d} * in->uses().size() >= kMinCost &&
            std::none_of(in->uses().begin(), in->uses().end(),
                         [&](const torch::jit::Use& u) { return u.user == ret; })) {
          wide.push_back(in);
        }
        d = 0;  // each value once
      }
    }
    std::vector<Node*> placeholders;
    if (wide.empty()) return placeholders;
    for (Value* v : wide) {
      placeholders.push_back(graph_.createUninitialized(v->type())->insertBefore(ret));
    }
    std::unordered_set<const Value*> isWide(wide.begin(), wide.end());
    for (Node* n : dead_) {
      if (std::any_of(n->inputs().begin(), n->inputs().end(),
                      [&](const Value* in) { return isWide.count(in) > 0; })) {
        n->moveBefore(ret);  // dead, so where it sits no longer matters
      }
    }
    for (size_t i = 0; i < wide.size(); ++i) {
      wide[i]->replaceAllUsesDominatedByNodeWith(placeholders.back(), placeholders[i]->output());
    }
    for (Node* p : placeholders) {
      Value* v = p->output();
      while (v->hasUses()) v->uses().front().user->removeAllInputs();
    }
    return placeholders;
  }

  Graph& graph_;
  std::vector<Node*> dead_, pruned_;  // found by sweep, see removeDead
  std::shared_ptr<Graph> graphRef_;
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;
  std::vector<uint8_t> liveValues_, liveNodes_;  // by Value::unique()
  std::vector<const Value*> liveOrder_;          // live values, in the order they became live
  std::unordered_set<const Node*> liveNoOutput_;
  size_t liveNodeCount_ = 0;
  torch::jit::ValueSet liveSet_;  // for AliasDb, filled from liveOrder_ on demand
  size_t liveSetSynced_ = 0;
  int64_t ifOutputs_ = 0, loopCarried_ = 0;
};

class DcePass : public Pass {
 public:
  std::string name() const override { return "dce"; }
  std::string description() const override {
    return "Remove unused nodes without side effects, unused If outputs and Loop carried "
           "values (alias-aware)";
  }
  bool run(const std::shared_ptr<Graph>& graph, PassContext& ctx) override {
    return eliminateDeadCode(*graph, &ctx.stats);
  }
};

TSOPT_REGISTER_PASS(DcePass);

}  // namespace

bool eliminateDeadCode(Graph& graph, Statistics* stats) {
  Statistics local;
  return DeadCodeEliminator(graph).run(stats ? *stats : local);
}

}  // namespace tsopt
