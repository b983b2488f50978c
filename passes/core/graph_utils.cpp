// IR helpers shared by passes.
#include "passes/core/graph_utils.h"

#include <algorithm>
#include <unordered_set>

namespace tsopt {

using torch::jit::Node;
using torch::jit::Value;

namespace {

/// `self`: the first input of the outermost graph, of class type.
bool isSelf(const Value* v) {
  const Node* n = v->node();
  return n->kind() == c10::prim::Param && n->owningBlock()->owningNode() == nullptr &&
         v->offset() == 0 && v->type()->cast<c10::ClassType>();
}

}  // namespace

std::optional<std::vector<std::string>> attrPath(const Value* v) {
  std::vector<std::string> path;
  while (v->node()->kind() == c10::prim::GetAttr) {
    path.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (!isSelf(v)) return std::nullopt;
  std::reverse(path.begin(), path.end());
  return path;
}

std::optional<size_t> AttributeIndex::slot(const c10::ClassType& type, const std::string& name) {
  // A short list is scanned faster than an index is built (most module types have a handful
  // of attributes, and a fold touches each of them once).
  if (type.numAttributes() <= kScanLimit) {
    auto slot = type.findAttributeSlot(name);
    return slot ? std::optional<size_t>(*slot) : std::nullopt;
  }
  Names& names = types_[&type];
  if (type.numAttributes() < names.indexed) names = Names{};  // attributes were removed
  for (; names.indexed < type.numAttributes(); ++names.indexed) {
    names.slots.emplace(type.getAttributeName(names.indexed), names.indexed);
  }
  auto it = names.slots.find(name);
  if (it == names.slots.end()) return std::nullopt;
  return it->second;
}

std::optional<at::Tensor> constantTensor(const Node* n) {
  if (n->kind() != c10::prim::Constant || !n->hasAttribute(c10::attr::value) ||
      n->kindOf(c10::attr::value) != torch::jit::AttributeKind::t) {
    return std::nullopt;
  }
  return n->t(c10::attr::value);
}

AttributeTensors attributeTensors(const torch::jit::Module& module) {
  AttributeTensors out;
  std::unordered_set<const c10::StorageImpl*> storages;
  auto add = [&](const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return;
    ++out.count;
    if (storages.insert(t.storage().unsafeGetStorageImpl()).second) {
      out.bytes += static_cast<int64_t>(t.storage().nbytes());
    }
  };
  for (const torch::jit::NameValue& a : module.named_attributes(/*recurse=*/true)) {
    if (a.value.isTensor()) add(a.value.toTensor());
    if (a.value.isTensorList()) {
      for (const at::Tensor& t : a.value.toTensorVector()) add(t);
    }
  }
  return out;
}

bool schemaWrites(const c10::FunctionSchema& schema) {
  for (const auto& arg : schema.arguments()) {
    if (arg.alias_info() && arg.alias_info()->isWrite()) return true;
  }
  return false;
}

void forEachMethodGraph(const torch::jit::Module& module,
                        const std::function<void(torch::jit::Graph&)>& fn) {
  std::unordered_set<const torch::jit::Graph*> seen;
  for (const torch::jit::Module& m : module.modules()) {
    for (const torch::jit::Method& method : m.get_methods()) {
      if (seen.insert(method.graph().get()).second) fn(*method.graph());
    }
  }
}

void forEachValue(torch::jit::Block* block, const std::function<void(Value*)>& fn) {
  for (Value* v : block->inputs()) fn(v);
  for (Node* n : block->nodes()) {
    for (Value* v : n->outputs()) fn(v);
    for (torch::jit::Block* b : n->blocks()) forEachValue(b, fn);
  }
}

void forEachNode(torch::jit::Block* block, const std::function<void(Node*)>& fn) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it++;
    for (torch::jit::Block* b : n->blocks()) forEachNode(b, fn);
    fn(n);
  }
}

std::optional<c10::IValue> ValueResolver::resolve(Value* v) {
  auto it = memo_.find(v);
  if (it != memo_.end()) return it->second;
  std::optional<c10::IValue> r = compute(v);
  memo_.emplace(v, r);
  return r;
}

std::optional<size_t> ValueResolver::takenBranch(Node* ifNode) {
  auto cond = resolve(ifNode->input(0));
  if (!cond || !cond->isBool()) return std::nullopt;
  return cond->toBool() ? 0 : 1;
}

bool ValueResolver::neverRuns(Node* n) {
  for (torch::jit::Block* b = n->owningBlock(); b->owningNode();
       b = b->owningNode()->owningBlock()) {
    Node* owner = b->owningNode();
    if (owner->kind() != c10::prim::If) continue;
    auto taken = takenBranch(owner);
    if (taken && owner->blocks()[*taken] != b) return true;
  }
  return false;
}

bool ValueResolver::written(const torch::jit::Graph* graph, const c10::ClassType* cls,
                            const std::string& name) {
  auto it = written_.find(graph);
  if (it == written_.end()) {
    std::set<Attribute> attrs;
    // The attribute a GetAttr reads, if `v` is one's output.
    auto readAttribute = [](const Value* v) -> std::optional<Attribute> {
      const Node* get = v->node();
      const auto* owner = get->kind() == c10::prim::GetAttr
                              ? get->input(0)->type()->castRaw<c10::ClassType>()
                              : nullptr;
      if (!owner) return std::nullopt;
      return Attribute{owner, get->s(c10::attr::name)};
    };
    forEachNode(const_cast<torch::jit::Graph*>(graph)->block(), [&](Node* n) {
      if (n->kind() == c10::prim::SetAttr) {
        if (const auto* owner = n->input(0)->type()->castRaw<c10::ClassType>()) {
          attrs.emplace(owner, n->s(c10::attr::name));
        }
        return;
      }
      const c10::FunctionSchema* schema = n->maybeSchema();
      if (!schema) return;
      const auto& args = schema->arguments();
      for (size_t i = 0; i < args.size() && i < n->inputs().size(); ++i) {
        if (!args[i].alias_info() || !args[i].alias_info()->isWrite()) continue;
        if (auto attr = readAttribute(n->input(i))) attrs.insert(*attr);
      }
    });
    it = written_.emplace(graph, std::move(attrs)).first;
  }
  return it->second.count(Attribute{cls, name}) > 0;
}

std::optional<c10::IValue> ValueResolver::compute(Value* v) {
  Node* n = v->node();
  switch (n->kind()) {
    case c10::prim::Constant:
      return torch::jit::toIValue(v);
    case c10::prim::Param:
      if (isSelf(v)) return c10::IValue(module_._ivalue());
      return std::nullopt;
    case c10::prim::GetAttr: {
      auto owner = resolve(n->input(0));
      if (!owner || !owner->isObject()) return std::nullopt;
      const auto& object = owner->toObjectRef();
      // An object's class is the static type of any value holding it (classes are nominal and
      // final); reading it there spares Object::type() a shared_ptr copy per lookup.
      const auto* cls = n->input(0)->type()->castRaw<c10::ClassType>();
      if (!cls) return std::nullopt;
      const std::string& name = n->s(c10::attr::name);
      auto slot = attributes_.slot(*cls, name);
      if (!slot || written(n->owningGraph(), cls, name)) return std::nullopt;
      return object.getSlot(*slot);
    }
    case c10::prim::unchecked_cast:
      return resolve(n->input(0));
    case c10::prim::If: {
      auto branch = takenBranch(n);
      if (!branch) return std::nullopt;
      return resolve(n->blocks()[*branch]->outputs()[v->offset()]);
    }
    default:
      return evaluate(n, v->offset());
  }
}

std::optional<c10::IValue> ValueResolver::evaluate(Node* n, size_t output) {
  // Only cheap, pure scalar logic: no blocks, no side effects, no writes, no tensor results.
  if (!n->blocks().empty() || n->hasSideEffects() || n->kind() == c10::prim::Return) {
    return std::nullopt;
  }
  if (!n->kind().is_aten() && !n->kind().is_prim()) return std::nullopt;
  for (const Value* o : n->outputs()) {
    if (o->type()->kind() == c10::TypeKind::TensorType) return std::nullopt;
  }
  const c10::FunctionSchema* schema = n->maybeSchema();
  if (!schema || schemaWrites(*schema)) return std::nullopt;
  torch::jit::Stack stack;
  for (Value* in : n->inputs()) {
    auto iv = resolve(in);
    if (!iv) return std::nullopt;
    stack.push_back(*iv);
  }
  try {
    n->getOperation()(stack);
  } catch (const std::exception&) {
    return std::nullopt;  // e.g. the op would raise: not a fixed value
  }
  if (stack.size() != n->outputs().size()) return std::nullopt;
  return stack[output];
}

}  // namespace tsopt
