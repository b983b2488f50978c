// dce: removes nodes whose results are unused and that have no observable effect, through
// nested blocks, including unused prim::If outputs and prim::Loop carried values.
//
// One reverse sweep per block decides liveness: walking backwards, the set of live values holds
// exactly what is read after the current node, so a mutation is kept only if it writes (through
// any alias) to something read later, a graph input or a graph output. Loop bodies are re-swept
// until the carried values that are live stop growing. Alias analysis is built only if a node
// that may write memory is met with its results unused (and only then is a set of live values
// kept for it). Liveness lives in bit arrays indexed by Value::unique(), not hash sets: on graphs
// of tens of thousands of nodes, hashing pointers is mostly cache misses, and the pass would grow
// faster than the graph; for the same reason the sweep prefetches each next node. It also records
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
#include <unordered_map>
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
  /// Sets bit `i` of `bits`, growing it as needed; returns whether it was clear. Bits, not
  /// bytes: at 50,000 values a byte array is a 100 KB block, which glibc would merge the freed
  /// nodes' chunks for when it is freed, inside the pass.
  static bool setFlag(std::vector<uint64_t>& bits, size_t i) {
    if (i / 64 >= bits.size()) bits.resize(std::max<size_t>(i / 32 + 1, 16), 0);
    uint64_t mask = uint64_t{1} << (i % 64);
    if (bits[i / 64] & mask) return false;
    bits[i / 64] |= mask;
    return true;
  }
  static bool flag(const std::vector<uint64_t>& bits, size_t i) {
    return i / 64 < bits.size() && (bits[i / 64] >> (i % 64) & 1);
  }

  bool isLive(const Value* v) const { return flag(liveValues_, v->unique()); }
  void setLive(const Value* v) {
    if (!setFlag(liveValues_, v->unique())) return;
    ++liveValueCount_;
    if (aliasDb_) liveSet_.insert(v);
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
      // It also wants the live values as a set: collect those marked so far; setLive adds
      // the rest from now on. Most graphs never get here, and pay nothing for the set.
      auto collect = [&](at::ArrayRef<Value*> values) {
        for (const Value* v : values) {
          if (isLive(v)) liveSet_.insert(v);
        }
      };
      collect(graph_.inputs());
      forEachNode(graph_.block(), [&](Node* node) {
        collect(node->outputs());
        for (Block* inner : node->blocks()) collect(inner->inputs());
      });
    }
    return aliasDb_->writesToAlias(n, liveSet_);
  }

  /// Asks for the cache lines of `n` that the sweep reads first (its links, kind, inputs and
  /// outputs), while the current node is worked on. Nodes are separate heap objects; on graphs
  /// larger than the caches each one is a miss, and the sweep waited on each in turn (at 1600
  /// blocks of the chain this made the pass 15-27% faster).
  static void prefetchNode(const Node* n) {
    const char* p = reinterpret_cast<const char*>(n);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
  }

  /// Decides liveness of every node in `b`, last to first. Returns true if any node is live.
  bool sweep(Block* b) {
    bool any = false;
    for (auto it = b->nodes().rbegin(); it != b->nodes().rend(); ++it) {
      Node* n = *it;
      prefetchNode(n->prev());  // the next node visited
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
      size_t liveBefore = liveValueCount_, nodesBefore = liveNodeCount_;
      truncate(bodyMarks);  // only the last sweep's findings count
      inner |= sweep(body);
      bool grew = false;
      for (size_t i = 0; i < carried; ++i) {
        if (!liveCarried[i] && isLive(body->inputs()[i + 1])) {
          liveCarried[i] = true;
          grew = true;
        }
      }
      if (!grew && liveValueCount_ == liveBefore && liveNodeCount_ == nodesBefore) break;
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
  // the end of the graph, and their uses are handed in one O(U) step
  // (replaceAllUsesDominatedByNodeWith) to a placeholder placed before them; the placeholder's
  // uses are then split in halves among new placeholders until each holds at most kGroup, in
  // O(D log D), so that dropping each dead use costs O(kGroup). Returns the placeholders, to be
  // destroyed after the dead nodes.
  std::vector<Node*> detachDeadReadersOfWidelyUsedValues() {
    static constexpr size_t kMinCost = size_t{1} << 16;  // dead uses x all uses
    std::unordered_map<const Value*, uint32_t> deadUses;
    for (Node* n : dead_) {
      for (Value* in : n->inputs()) ++deadUses[in];
    }
    Node* ret = graph_.return_node();
    std::unordered_map<const Value*, std::vector<Node*>> readers;  // of each wide value
    std::vector<Value*> wide;
    for (Node* n : dead_) {
      for (Value* in : n->inputs()) {
        uint32_t& d = deadUses[in];
        if (d > 0 && size_t{d} * in->uses().size() >= kMinCost &&
            std::none_of(in->uses().begin(), in->uses().end(),
                         [&](const torch::jit::Use& u) { return u.user == ret; })) {
          wide.push_back(in);
          readers.emplace(in, std::vector<Node*>());
        }
        d = 0;  // each value once
      }
    }
    std::vector<Node*> placeholders;
    if (wide.empty()) return placeholders;
    for (Node* n : dead_) {
      bool moved = false;
      for (const Value* in : n->inputs()) {
        auto it = readers.find(in);
        if (it == readers.end()) continue;
        if (!moved) n->moveBefore(ret);  // dead, so where it sits no longer matters
        moved = true;
        if (it->second.empty() || it->second.back() != n) it->second.push_back(n);
      }
    }
    for (Value* v : wide) {
      const std::vector<Node*>& rs = readers.at(v);
      Node* p = graph_.createUninitialized(v->type())->insertBefore(rs.front());
      placeholders.push_back(p);
      v->replaceAllUsesDominatedByNodeWith(p, p->output());
      splitUses(p->output(), rs, 0, rs.size(), placeholders);
    }
    for (Node* p : placeholders) {
      Value* v = p->output();
      while (v->hasUses()) v->uses().front().user->removeAllInputs();
    }
    return placeholders;
  }

  /// `holder`'s uses are by `readers[lo, hi)`, which follow it in this order: hands them to new
  /// placeholders (appended to `out`) until none holds more than kGroup readers.
  void splitUses(Value* holder, const std::vector<Node*>& readers, size_t lo, size_t hi,
                 std::vector<Node*>& out) {
    static constexpr size_t kGroup = 32;
    while (hi - lo > kGroup) {
      size_t mid = lo + (hi - lo) / 2;
      Node* q = graph_.createUninitialized(holder->type())->insertBefore(readers[mid]);
      out.push_back(q);
      holder->replaceAllUsesDominatedByNodeWith(q, q->output());  // readers[mid, hi)
      splitUses(q->output(), readers, mid, hi, out);
      hi = mid;
    }
  }

  Graph& graph_;
  std::vector<Node*> dead_, pruned_;  // found by sweep, see removeDead
  std::shared_ptr<Graph> graphRef_;
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;
  std::vector<uint64_t> liveValues_, liveNodes_;  // bits, by Value::unique()
  std::unordered_set<const Node*> liveNoOutput_;
  size_t liveValueCount_ = 0, liveNodeCount_ = 0;
  torch::jit::ValueSet liveSet_;  // the live values again, for AliasDb, once it exists
  int64_t ifOutputs_ = 0, loopCarried_ = 0;
};

class DcePass : public GraphPass {
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
