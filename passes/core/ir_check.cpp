// The linear IR checker. Graph::lint() finds each use of an input by searching the value's use
// list and compares every block's nodes with the whole graph's, so it grows with uses x inputs
// and blocks x nodes; here every node, value and use is visited once, through hash sets.
//
// This file is compiled with -fno-access-control (see passes/CMakeLists.txt) to read three
// private members of torch::jit::Graph: all_nodes and all_blocks (to find nodes and blocks made
// but never inserted, or removed without being destroyed) and next_unique_ (the next value
// number), the same members Graph::lint() reads.
#include "passes/core/ir_check.h"

#include <unordered_set>
#include <utility>
#include <vector>

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

std::string where(const Node* n) {
  return "node " + std::string(n->kind().toQualString()) +
         (n->outputs().empty() ? "" : " (defining %" + n->output(0)->debugName() + ")");
}

std::string name(const Value* v) { return "%" + v->debugName(); }

struct UseHash {
  size_t operator()(const std::pair<const Node*, size_t>& u) const {
    return std::hash<const Node*>()(u.first) * 31 + u.second;
  }
};

class Checker {
 public:
  explicit Checker(const Graph& graph) : graph_(graph) {
    // Sized once: growing the sets rehashes them a dozen times on a large graph.
    nodes_.reserve(graph.all_nodes.size());
    blocks_.reserve(graph.all_blocks.size());
    scope_.reserve(graph.all_values.size());
    numbers_.reserve(graph.all_values.size());
    defined_.reserve(graph.all_values.size());
  }

  std::string run() {
    if (checkBlock(graph_.block(), nullptr)) checkUses() && checkAllReached();
    return defect_;
  }

 private:
  bool fail(std::string what) {
    if (defect_.empty()) defect_ = std::move(what);
    return false;
  }

  /// Defines `v`, an output of `n` at `offset`.
  bool define(const Value* v, const Node* n, size_t offset) {
    if (v->node() != n || v->offset() != offset) {
      return fail(where(n) + " has output " + name(v) + " that does not name it as its node");
    }
    if (v->unique() >= graph_.next_unique_ || !numbers_.insert(v->unique()).second) {
      return fail(where(n) + " defines " + name(v) +
                  ", whose number another value has or the graph never gave out");
    }
    scope_.insert(v);
    defined_.push_back(v);
    return true;
  }

  bool checkBlock(const Block* b, const Node* owner) {
    if (b->owningNode() != owner || b->owningGraph() != &graph_) {
      return fail(owner ? "a block of " + where(owner) + " does not name it as its owner"
                        : "the graph's block does not belong to it");
    }
    if (!blocks_.insert(b).second) return fail("a block appears twice in the graph");
    const Node* param = b->param_node();
    const Node* ret = b->return_node();
    if (param->kind() != c10::prim::Param || ret->kind() != c10::prim::Return) {
      return fail("a block's input or return node is of the wrong kind");
    }
    size_t scopeStart = defined_.size();
    if (!checkNode(param, b)) return false;
    const Node* prev = param;
    for (const Node* n : b->nodes()) {
      if (n->kind() == c10::prim::Param || n->kind() == c10::prim::Return) {
        return fail(where(n) + " stands among a block's nodes");
      }
      if (n->prev() != prev) return fail(where(n) + " is not linked back to the node before it");
      if (n->owningBlock() != b) return fail(notOwned(n));
      if (!prev->isBefore(n)) {
        return fail(where(n) + " has a topological position that is not after the node before it");
      }
      if (!checkNode(n, b)) return false;
      prev = n;
    }
    if (ret->prev() != prev || !prev->isBefore(ret)) {
      return fail("a block's return node is not linked after its last node");
    }
    if (!checkNode(ret, b)) return false;
    // Values defined in this block go out of scope with it.
    for (size_t i = scopeStart; i < defined_.size(); ++i) scope_.erase(defined_[i]);
    return true;
  }

  static std::string notOwned(const Node* n) {
    return where(n) + " does not name the block it stands in as its owner";
  }

  bool checkNode(const Node* n, const Block* b) {
    if (n->owningBlock() != b || n->owningGraph() != &graph_) return fail(notOwned(n));
    if (!nodes_.insert(n).second) return fail(where(n) + " appears twice in the graph");
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      const Value* v = n->input(i);
      if (v->owningGraph() != &graph_) {
        return fail(where(n) + " uses " + name(v) + ", a value of another graph");
      }
      if (!scope_.count(v)) {
        return fail(where(n) + " uses " + name(v) +
                    " where it is not defined (used before its definition, or outside its block)");
      }
    }
    inputSlots_ += n->inputs().size();
    if (!checkShape(n)) return false;
    for (const Block* sub : n->blocks()) {
      if (!checkBlock(sub, n)) return false;
    }
    if (!checkSchemaTypes(n)) return false;
    if (n->hasAttribute(c10::attr::Subgraph) &&
        n->kindOf(c10::attr::Subgraph) == torch::jit::AttributeKind::g) {
      std::string inner = findGraphDefect(*n->g(c10::attr::Subgraph));
      if (!inner.empty()) return fail("in the subgraph of " + where(n) + ": " + inner);
    }
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      if (!define(n->output(i), n, i)) return false;
    }
    return true;
  }

  /// The arity of the nodes whose form the interpreter relies on.
  bool checkShape(const Node* n) {
    const size_t ins = n->inputs().size(), outs = n->outputs().size();
    switch (n->kind()) {
      case c10::prim::Constant:
      case c10::prim::Param:
        if (ins != 0) return fail(where(n) + " has inputs");
        break;
      case c10::prim::Return:
        if (outs != 0) return fail("a block's return node has outputs");
        break;
      case c10::prim::If: {
        if (ins != 1 || n->blocks().size() != 2) {
          return fail(where(n) + " needs one condition and two blocks, and has " +
                      std::to_string(ins) + " inputs and " + std::to_string(n->blocks().size()) +
                      " blocks");
        }
        for (const Block* sub : n->blocks()) {
          if (!sub->inputs().empty() || sub->outputs().size() != outs) {
            return fail(where(n) + " has " + std::to_string(outs) + " outputs but a block with " +
                        std::to_string(sub->inputs().size()) + " inputs and " +
                        std::to_string(sub->outputs().size()) + " outputs");
          }
        }
        break;
      }
      case c10::prim::Loop: {
        if (ins < 2 || n->blocks().size() != 1) {
          return fail(where(n) + " needs a trip count, a condition and one block");
        }
        const size_t carried = ins - 2;
        const Block* body = n->blocks()[0];
        if (outs != carried || body->inputs().size() != carried + 1 ||
            body->outputs().size() != carried + 1) {
          return fail(where(n) + " carries " + std::to_string(carried) + " values, but has " +
                      std::to_string(outs) + " outputs and a body with " +
                      std::to_string(body->inputs().size()) + " inputs and " +
                      std::to_string(body->outputs().size()) + " outputs (expected " +
                      std::to_string(carried) + ", " + std::to_string(carried + 1) + ", " +
                      std::to_string(carried + 1) + ")");
        }
        break;
      }
      default:
        break;
    }
    return true;
  }

  /// Outputs of an operator whose schema fixes their types must have those types.
  bool checkSchemaTypes(const Node* n) {
    if (n->kind().is_prim() || n->blocks().size() > 0) return true;
    const c10::FunctionSchema* schema = n->maybeSchema();
    if (!schema || schema->is_varret()) return true;
    const auto& returns = schema->returns();
    if (returns.size() != n->outputs().size()) {
      return fail(where(n) + " has " + std::to_string(n->outputs().size()) +
                  " outputs where its schema has " + std::to_string(returns.size()));
    }
    for (size_t i = 0; i < returns.size(); ++i) {
      const c10::TypePtr& expected = returns[i].type();
      if (expected->hasFreeVariables()) continue;
      const c10::TypePtr& actual = n->output(i)->type();
      if (!actual->isSubtypeOf(*expected)) {
        return fail(where(n) + " output " + std::to_string(i) + " is of type " + actual->str() +
                    " where its schema says " + expected->str());
      }
    }
    return true;
  }

  /// Every use a value lists is an input slot holding it, once; and every input slot is listed.
  bool checkUses() {
    std::unordered_set<std::pair<const Node*, size_t>, UseHash> seen;
    seen.reserve(inputSlots_);
    for (const Value* v : defined_) {
      for (const torch::jit::Use& u : v->uses()) {
        if (!nodes_.count(u.user)) {
          return fail(name(v) +
                      " lists a use by a node that is not in the graph (destroyed, or "
                      "never inserted)");
        }
        if (u.offset >= u.user->inputs().size() || u.user->input(u.offset) != v) {
          return fail(name(v) + " lists a use by " + where(u.user) +
                      " that does not use it there (an input changed without Node::replaceInput?)");
        }
        if (!seen.emplace(u.user, u.offset).second) {
          return fail(name(v) + " lists the same use by " + where(u.user) + " twice");
        }
      }
    }
    if (seen.size() != inputSlots_) return fail(unlistedUse());
    return true;
  }

  /// Names an input slot whose value does not list it (only called when one exists).
  std::string unlistedUse() {
    for (const Node* n : nodes_) {
      for (size_t i = 0; i < n->inputs().size(); ++i) {
        const Value* v = n->input(i);
        bool listed = false;
        for (const torch::jit::Use& u : v->uses()) listed |= u.user == n && u.offset == i;
        if (!listed) {
          return where(n) + " uses " + name(v) + ", but " + name(v) +
                 " does not list that use (an input set without Node::replaceInput?)";
        }
      }
    }
    return "a value's use list does not match its users' inputs";
  }

  /// Nodes and blocks the graph made must all stand in it (or be destroyed).
  bool checkAllReached() {
    for (const Node* n : graph_.all_nodes) {
      if (!nodes_.count(n)) {
        return fail(where(n) +
                    " was made in the graph but stands in no block (never inserted, "
                    "or removed without destroy())");
      }
    }
    for (const Block* b : graph_.all_blocks) {
      if (!blocks_.count(b)) return fail("a block was made in the graph but stands in no node");
    }
    return true;
  }

  const Graph& graph_;
  std::unordered_set<const Node*> nodes_;
  std::unordered_set<const Block*> blocks_;
  std::unordered_set<const Value*> scope_;
  std::unordered_set<size_t> numbers_;
  std::vector<const Value*> defined_;  ///< in order of definition; the block scopes are ranges
  size_t inputSlots_ = 0;
  std::string defect_;
};

}  // namespace

std::string findGraphDefect(const torch::jit::Graph& graph) { return Checker(graph).run(); }

}  // namespace tsopt
