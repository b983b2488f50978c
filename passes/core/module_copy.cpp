// Copying live modules in memory: new classes of the same names, copied graphs, copied storages.
#include "passes/core/module_copy.h"

#include <sys/mman.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/shape_analysis.h>

#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/torch_compat.h"

namespace tsopt {

namespace {

using torch::jit::Function;
using torch::jit::Graph;
using torch::jit::Node;
using ObjectPtr = c10::intrusive_ptr<c10::ivalue::Object>;

bool isModuleClass(const c10::TypePtr& type) {
  auto cls = type->cast<c10::ClassType>();
  return cls && cls->is_module();
}

/// Calls fn on every tensor constant of `graph`'s nodes (a traced model's captured tensors).
template <typename Fn>
void forEachConstantTensor(Graph& graph, Fn&& fn) {
  forEachNode(graph.block(), [&](Node* n) {
    if (n->kind() == c10::prim::Constant && n->hasAttribute(c10::attr::value) &&
        n->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
      fn(n);
    }
  });
}

/// Calls fn on the graph of every method of `type`.
template <typename Fn>
void forEachMethodGraph(const c10::ClassType& type, Fn&& fn) {
  for (Function* method : type.methods()) {
    if (method->isGraphFunction()) fn(*torch::jit::toGraphFunction(*method).graph());
  }
}

bool isContainer(const c10::IValue& v) { return v.isList() || v.isTuple() || v.isGenericDict(); }

/// A new list, tuple or dict of the same type as `v` holding fn(element) for each element.
c10::IValue mapContained(const c10::IValue& v,
                         const std::function<c10::IValue(const c10::IValue&)>& fn) {
  if (v.isList()) {
    const c10::List<c10::IValue> in = v.toList();
    c10::impl::GenericList out(in.elementType());
    out.reserve(in.size());
    for (const c10::IValue& e : in) out.push_back(fn(e));
    return out;
  }
  if (v.isTuple()) {
    const auto& in = v.toTupleRef();
    std::vector<c10::IValue> elements;
    elements.reserve(in.elements().size());
    for (const c10::IValue& e : in.elements()) elements.push_back(fn(e));
    auto type = in.type();
    return type->name() ? c10::ivalue::Tuple::createNamed(std::move(elements), type)
                        : c10::ivalue::Tuple::create(std::move(elements));
  }
  const c10::impl::GenericDict in = v.toGenericDict();
  c10::impl::GenericDict out(in.keyType(), in.valueType());
  out.reserve(in.size());
  for (const auto& entry : in) out.insert(fn(entry.key()), fn(entry.value()));
  return out;
}

/// A plain CPU tensor: one whose storage can be copied as bytes and viewed again with set_.
bool copiesByStorage(const at::Tensor& t) {
  return t.layout() == at::kStrided && t.device().is_cpu() && !t.is_quantized() && !t.is_conj() &&
         !t.is_neg() && t.has_storage();
}

class ModuleCopier {
 public:
  explicit ModuleCopier(TensorCopies tensors) : shareTensors_(tensors == TensorCopies::kShared) {}

  torch::jit::Module copy(const torch::jit::Module& module) {
    torch::NoGradGuard noGrad;
    return torch::jit::Module(copyObject(module._ivalue()));
  }

  /// Replaces each tensor of `module` (in its objects' slots, the containers they hold and its
  /// methods' graph constants) whose storage is one of `storages` with a copy.
  void own(const torch::jit::Module& module,
           const std::unordered_set<const c10::StorageImpl*>& storages) {
    torch::NoGradGuard noGrad;
    std::unordered_map<const void*, c10::IValue> containers;
    std::function<c10::IValue(const c10::IValue&)> owned = [&](const c10::IValue& v) {
      if (v.isTensor()) {
        const at::Tensor& t = v.toTensor();
        const bool shared =
            t.defined() && t.has_storage() && storages.count(t.storage().unsafeGetStorageImpl());
        return shared ? c10::IValue(copyTensor(t)) : v;
      }
      if (!isContainer(v)) return v;
      auto [it, added] = containers.emplace(v.internalToPointer(), c10::IValue());
      if (added) it->second = mapContained(v, owned);
      return it->second;
    };
    std::unordered_set<const c10::ivalue::Object*> seen;
    std::unordered_set<const c10::Type*> types;
    std::function<void(const ObjectPtr&)> walk = [&](const ObjectPtr& object) {
      if (!seen.insert(object.get()).second) return;
      for (size_t i = 0; i < object->slots().size(); ++i) {
        const c10::IValue& slot = object->getSlot(i);
        if (slot.isObject() && slot.toObjectRef().type()->is_module()) {
          walk(slot.toObject());
        } else if (slot.isTensor() || isContainer(slot)) {
          object->setSlot(i, owned(slot));
        }
      }
      if (!types.insert(object->type().get()).second) return;
      forEachMethodGraph(*object->type(), [&](Graph& graph) {
        forEachConstantTensor(graph, [&](Node* n) {
          n->t_(c10::attr::value, owned(n->t(c10::attr::value)).toTensor());
        });
      });
    };
    walk(module._ivalue());
  }

 private:
  const bool shareTensors_;
  std::shared_ptr<torch::jit::CompilationUnit> cu_ =
      std::make_shared<torch::jit::CompilationUnit>();
  std::unordered_map<const c10::Type*, c10::ClassTypePtr> types_;
  std::unordered_map<const c10::ivalue::Object*, ObjectPtr> objects_;
  std::unordered_map<const c10::StorageImpl*, c10::Storage> storages_;
  std::unordered_map<const c10::TensorImpl*, at::Tensor> tensors_;
  std::unordered_map<const void*, c10::IValue> containers_;  ///< lists, tuples, dicts copied
  compat::DeepCopyMemo memo_;

  /// `type` with every module class in it replaced by its copy.
  c10::TypePtr remap(const c10::TypePtr& type) {
    if (isModuleClass(type)) return copyType(type->expect<c10::ClassType>());
    const auto contained = type->containedTypes();
    if (contained.empty()) return type;
    std::vector<c10::TypePtr> mapped;
    mapped.reserve(contained.size());
    bool changed = false;
    for (const c10::TypePtr& t : contained) {
      mapped.push_back(remap(t));
      changed |= mapped.back() != t;
    }
    return changed ? type->withContained(std::move(mapped)) : type;
  }

  c10::ClassTypePtr copyType(const c10::ClassTypePtr& type) {
    if (auto it = types_.find(type.get()); it != types_.end()) return it->second;
    auto copy = c10::ClassType::create(type->name(), cu_, /*is_module=*/true, type->doc_string());
    types_.emplace(type.get(), copy);
    cu_->register_type(copy);
    for (size_t i = 0; i < type->numAttributes(); ++i) {
      copy->addAttribute(type->getAttributeName(i), remap(type->getAttribute(i)),
                         type->is_parameter(i), type->is_buffer(i));
    }
    for (size_t i = 0; i < type->numConstants(); ++i) {
      copy->addConstant(type->getConstantName(i), type->getConstant(i));
    }
    std::unordered_map<const Function*, Function*> functions;
    auto copied = [&](const Function* fn) {
      auto [it, added] = functions.emplace(fn, nullptr);
      if (added) it->second = copyFunction(*fn, *copy);
      return it->second;
    };
    for (const Function* method : type->methods()) copy->addMethod(copied(method));
    for (const Function* hook : type->getForwardPreHooks()) copy->addForwardPreHook(copied(hook));
    for (const Function* hook : type->getForwardHooks()) copy->addForwardHook(copied(hook));
    for (const auto& property : type->properties()) {
      copy->addProperty(property.name, copied(property.getter),
                        property.setter ? copied(property.setter) : nullptr);
    }
    return copy;
  }

  Function* copyFunction(const Function& fn, const c10::ClassType& owner) {
    if (!fn.isGraphFunction()) {
      throw Error("cannot copy the module: method " + fn.qualname().qualifiedName() +
                  " is not TorchScript");
    }
    std::shared_ptr<Graph> graph = torch::jit::toGraphFunction(fn).graph()->copy();
    auto mapType = [this](c10::TypePtr t) { return remap(t); };
    graph->remapTypes(mapType);
    // A traced graph's recorded shapes are not part of the model (its saved code has none), and
    // passes must not specialize to them.
    torch::jit::EraseShapeInformation(graph);
    forEachConstantTensor(
        *graph, [this](Node* n) { n->t_(c10::attr::value, copyTensor(n->t(c10::attr::value))); });
    Function* copy = cu_->create_function(c10::QualifiedName(*owner.name(), fn.name()),
                                          std::move(graph), /*shouldMangle=*/false);
    copy->setSchema(fn.getSchema().cloneWithRemappedTypes(mapType));
    return copy;
  }

  ObjectPtr copyObject(const ObjectPtr& object) {
    if (auto it = objects_.find(object.get()); it != objects_.end()) return it->second;
    c10::ClassTypePtr type = copyType(object->type());
    auto copy = c10::ivalue::Object::create(c10::StrongTypePtr(cu_, type), type->numAttributes());
    objects_.emplace(object.get(), copy);
    for (size_t i = 0; i < type->numAttributes(); ++i) {
      copy->setSlot(i, copyValue(object->getSlot(i)));
    }
    return copy;
  }

  /// Modules and tensors as copyObject and copyTensor copy them, also inside lists, tuples and
  /// dicts (an RNN's `_flat_weights` holds its parameters: the copies must too); anything else
  /// deep-copied.
  c10::IValue copyValue(const c10::IValue& value) {
    if (value.isObject() && value.toObjectRef().type()->is_module()) {
      return copyObject(value.toObject());
    }
    if (value.isTensor()) return copyTensor(value.toTensor());
    if (isContainer(value)) {
      auto [it, added] = containers_.emplace(value.internalToPointer(), c10::IValue());
      if (added)
        it->second = mapContained(value, [this](const c10::IValue& v) { return copyValue(v); });
      return it->second;
    }
    return value.deepcopy(memo_);
  }

  /// A copy of `t`; tensors that shared a storage share the copy of it.
  at::Tensor copyTensor(const at::Tensor& t) {
    if (!t.defined() || shareTensors_) return t;
    if (auto it = tensors_.find(t.unsafeGetTensorImpl()); it != tensors_.end()) return it->second;
    at::Tensor copy;
    if (copiesByStorage(t)) {
      const c10::Storage& storage = t.storage();
      auto [it, added] = storages_.emplace(storage.unsafeGetStorageImpl(), c10::Storage());
      if (added) {
        const auto bytes = static_cast<int64_t>(storage.nbytes());
        at::Tensor buffer = emptyPrefaulted({bytes}, at::kByte);
        if (bytes > 0) std::memcpy(buffer.data_ptr(), storage.data_ptr().get(), bytes);
        it->second = buffer.storage();
      }
      copy =
          at::empty({0}, t.options()).set_(it->second, t.storage_offset(), t.sizes(), t.strides());
    } else {
      copy = t.detach().clone(at::MemoryFormat::Preserve);
    }
    copy.set_requires_grad(t.requires_grad());
    tensors_.emplace(t.unsafeGetTensorImpl(), copy);
    return copy;
  }
};

}  // namespace

at::Tensor emptyPrefaulted(at::IntArrayRef sizes, const at::TensorOptions& options) {
  constexpr size_t kThreshold = 128 * 1024;  // glibc's initial mmap threshold
  const size_t bytes = c10::multiply_integers(sizes) * options.dtype().itemsize();
  if (bytes < kThreshold || options.device().type() != c10::DeviceType::CPU) {
    return at::empty(sizes, options);
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (data == MAP_FAILED) return at::empty(sizes, options);
  return at::from_blob(
      data, sizes, [bytes](void* p) { munmap(p, bytes); }, options);
}

namespace {

/// Calls fn on every tensor `module` holds: in its objects' slots, containers and C++ objects'
/// state, and its methods' graph constants.
void forEachTensor(const torch::jit::Module& module,
                   const std::function<void(const at::Tensor&)>& fn) {
  std::unordered_set<const c10::ivalue::Object*> seen;
  std::unordered_set<const c10::Type*> types;
  std::function<bool(const c10::IValue&)> visit = [&](const c10::IValue& v) {
    if (v.isTensor()) {
      fn(v.toTensor());
      return true;  // nothing inside
    }
    if (!v.isObject()) return false;
    const auto& object = v.toObjectRef();
    if (!seen.insert(&object).second) return true;
    auto type = object.type();
    // Objects of C++ classes (quantized packed weights) hold their tensors out of sight: their
    // state is what an archive stores.
    if (!type->is_module() && type->findMethod("__getstate__")) {
      type->getMethod("__getstate__")({v}).visit(visit);
      return true;
    }
    if (type->is_module() && types.insert(type.get()).second) {
      forEachMethodGraph(*type, [&](Graph& graph) {
        forEachConstantTensor(graph, [&](Node* n) { fn(n->t(c10::attr::value)); });
      });
    }
    return false;  // visit its slots
  };
  c10::IValue(module._ivalue()).visit(visit);
}

std::unordered_set<const c10::StorageImpl*> storagesOf(const torch::jit::Module& module) {
  std::unordered_set<const c10::StorageImpl*> storages;
  forEachTensor(module, [&](const at::Tensor& t) {
    if (t.defined() && t.has_storage()) storages.insert(t.storage().unsafeGetStorageImpl());
  });
  return storages;
}

}  // namespace

torch::jit::Module copyModule(const torch::jit::Module& module, TensorCopies tensors) {
  try {
    return ModuleCopier(tensors).copy(module);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("cannot copy the module: " + describeException(e));
  }
}

void ownTensors(const torch::jit::Module& copy, const torch::jit::Module& source) {
  ModuleCopier(TensorCopies::kCopied).own(copy, storagesOf(source));
}

uint64_t tensorBytes(const torch::jit::Module& module) {
  uint64_t bytes = 0;
  for (const c10::StorageImpl* storage : storagesOf(module)) bytes += storage->nbytes();
  return bytes;
}

}  // namespace tsopt
