// IR helpers shared by passes.
#include "passes/core/graph_utils.h"

#include <algorithm>

namespace tsopt {

using torch::jit::Node;
using torch::jit::Value;

std::optional<std::vector<std::string>> attrPath(const Value* v) {
  std::vector<std::string> path;
  while (v->node()->kind() == c10::prim::GetAttr) {
    path.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  const Node* owner = v->node();
  // `self` is the first input of the outermost graph, of class type.
  if (owner->kind() != c10::prim::Param || owner->owningBlock()->owningNode() != nullptr ||
      v->offset() != 0 || !v->type()->cast<c10::ClassType>()) {
    return std::nullopt;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

std::optional<c10::IValue> resolveAttr(const torch::jit::Module& module, const Value* v) {
  auto path = attrPath(v);
  if (!path) return std::nullopt;
  c10::IValue cur = module._ivalue();
  for (const std::string& name : *path) {
    if (!cur.isObject()) return std::nullopt;
    auto obj = cur.toObject();
    auto slot = obj->type()->findAttributeSlot(name);
    if (!slot) return std::nullopt;
    cur = obj->getSlot(*slot);
  }
  return cur;
}

std::optional<c10::IValue> constantValue(const Value* v, const torch::jit::Module* module) {
  if (auto c = torch::jit::toIValue(v)) return c;
  if (module && v->node()->kind() == c10::prim::GetAttr) {
    auto iv = resolveAttr(*module, v);
    if (iv && !iv->isObject() && !iv->isTensor()) return iv;
  }
  return std::nullopt;
}

void forEachNode(torch::jit::Block* block, const std::function<void(Node*)>& fn) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it++;
    for (torch::jit::Block* b : n->blocks()) forEachNode(b, fn);
    fn(n);
  }
}

}  // namespace tsopt
