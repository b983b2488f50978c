// IR helpers shared by passes and plugins: resolving prim::GetAttr chains to module values,
// reading constants, walking blocks.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace tsopt {

/// If `v` is `self` (the method's first input) or a prim::GetAttr chain rooted at it, the
/// attribute names from `self` down ({} for self itself); otherwise nullopt.
std::optional<std::vector<std::string>> attrPath(const torch::jit::Value* v);

/// Finds attributes by name in constant time. c10::ClassType scans its attribute list, so looking
/// up each submodule of a long nn.Sequential that way makes a pass quadratic in the model's size;
/// types of at most kScanLimit attributes are still scanned, which is cheaper than indexing them.
/// Types may gain attributes while an index is in use (they are indexed as they appear); the
/// types themselves must outlive the index.
class AttributeIndex {
 public:
  std::optional<size_t> slot(const c10::ClassType& type, const std::string& name);

 private:
  static constexpr size_t kScanLimit = 16;
  struct Names {
    size_t indexed = 0;
    std::unordered_map<std::string, size_t> slots;
  };
  std::unordered_map<const c10::ClassType*, Names> types_;
};

/// The tensor a prim::Constant node holds, if `n` is one that holds a tensor.
std::optional<at::Tensor> constantTensor(const torch::jit::Node* n);

/// The tensors held by the attributes of `module` and its submodules (parameters and buffers
/// included, tensor lists too): how many, and the bytes of their distinct storages.
struct AttributeTensors {
  size_t count = 0;
  int64_t bytes = 0;
};
AttributeTensors attributeTensors(const torch::jit::Module& module);

/// Whether `schema` marks any argument as written (`Tensor(a!) self`).
bool schemaWrites(const c10::FunctionSchema& schema);

/// Calls `fn` once on the graph of each method of `module` and of its submodules (instances of
/// one type share its methods' graphs).
void forEachMethodGraph(const torch::jit::Module& module,
                        const std::function<void(torch::jit::Graph&)>& fn);

/// Calls `fn` on every value `block` defines: its inputs, then each node's outputs followed by
/// the values of the node's own blocks, in order.
void forEachValue(torch::jit::Block* block, const std::function<void(torch::jit::Value*)>& fn);

/// Calls `fn` on every node in `block`, nested blocks first, then the node itself, in order.
/// `fn` may destroy the node it is given, and nothing else.
void forEachNode(torch::jit::Block* block, const std::function<void(torch::jit::Node*)>& fn);

/// Computes values fixed by constants and by the module's attributes: prim::Constant, GetAttr
/// chains rooted at `self` (tensors included), prim::If outputs whose condition is known, and
/// side-effect-free operators with non-tensor results (`aten::__not__`, `aten::__is__`, ...).
/// An attribute the graph assigns (prim::SetAttr) or writes in place (`aten::_set_item` on a
/// dict, `aten::append` on a list, `aten::add_` on a tensor, ...) is not fixed.
/// Values are memoised: after changing the graph, call forgetValues() before resolving again.
class ValueResolver {
 public:
  explicit ValueResolver(const torch::jit::Module& module) : module_(module) {}

  /// The value of `v`, if it is fixed.
  std::optional<c10::IValue> resolve(torch::jit::Value* v);
  /// The branch of `ifNode` its condition selects (0 or 1), if the condition is fixed.
  std::optional<size_t> takenBranch(torch::jit::Node* ifNode);
  /// Whether `n` sits in a branch that fixed conditions never take, so it never runs.
  bool neverRuns(torch::jit::Node* n);
  /// Drops memoised values (they are keyed by Value*, which a changed graph may free and reuse);
  /// the attribute index is kept.
  void forgetValues() { memo_.clear(); }

 private:
  std::optional<c10::IValue> compute(torch::jit::Value* v);
  std::optional<c10::IValue> evaluate(torch::jit::Node* n, size_t output);
  bool written(const torch::jit::Graph* graph, const c10::ClassType* cls, const std::string& name);

  using Attribute = std::pair<const c10::ClassType*, std::string>;
  const torch::jit::Module& module_;
  std::unordered_map<torch::jit::Value*, std::optional<c10::IValue>> memo_;
  AttributeIndex attributes_;
  // Per graph, the attributes it assigns or writes in place (collected once: passes that
  // resolve values add no writes).
  std::unordered_map<const torch::jit::Graph*, std::set<Attribute>> written_;
};

}  // namespace tsopt
