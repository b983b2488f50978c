// strip: removes from a module everything the kept methods cannot reach (submodules, parameters,
// buffers, attributes, methods) and makes equal tensor constants share one copy, so that a
// folded model is saved without the weights the fold replaced. Unless told to keep them, it also
// drops the source ranges of what stays: the saved model's `.debug_pkl` records map its code to
// the Python it was scripted from, for tracebacks only, and inlined code repeats them (a scripted
// two-layer nn.TransformerEncoder: 49 KB of them, compressed, against 28 KB of code).
//
// Reachability is computed per module type, since instances may share a type and a type's
// methods are shared with it: a type keeps every attribute and method that a reached method of
// it names. Following a kept method's graph:
//   %c = prim::GetAttr[name="conv"](%self)     keeps attribute `conv` of self's type
//   %w = prim::GetAttr[name="weight"](%c)      keeps `weight` of conv's type
//   %y = prim::CallMethod[name="f"](%c, %x)    keeps method `f` of conv's type, and follows it
// A module value used any other way (passed to a function, returned, held by an interface-typed
// attribute) keeps everything of its type and of its submodules' types. Types with
// __getstate__/__setstate__ keep them (loading calls them), and `training` stays everywhere.
#include <torch/csrc/jit/api/function_impl.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using c10::ClassType;
using torch::jit::Block;
using torch::jit::Module;
using torch::jit::Node;

const ClassType* moduleType(const torch::jit::Value* v) {
  auto t = v->type()->cast<ClassType>();
  return t && t->is_module() ? t.get() : nullptr;
}

/// What one module type must keep.
struct Needs {
  bool reached = false;  ///< some kept instance has this type
  bool all = false;      ///< keep everything: an instance escapes where it cannot be followed
  std::unordered_set<std::string> attributes, methods;
};

class Reachability {
 public:
  explicit Reachability(const Module& root) {
    std::unordered_set<const c10::ivalue::Object*> seen;
    for (const torch::jit::NameModule& m : root.named_modules()) {
      if (seen.insert(m.value._ivalue().get()).second) {
        instances_[m.value.type().get()].push_back(m.value);
      }
    }
  }

  /// Follows everything `methods` of the root need.
  void fromRoot(const Module& root, const std::vector<std::string>& methods) {
    const ClassType* type = root.type().get();
    reach(type);
    for (const std::string& m : methods) needMethod(type, m);
    while (!work_.empty()) {
      const torch::jit::Function* fn = work_.back();
      work_.pop_back();
      scan(*torch::jit::toGraphFunction(*fn).graph()->block());
    }
  }

  const Needs* needs(const ClassType* type) const {
    auto it = needs_.find(type);
    return it == needs_.end() ? nullptr : &it->second;
  }
  const std::unordered_map<const ClassType*, std::vector<Module>>& instances() const {
    return instances_;
  }

 private:
  void reach(const ClassType* type) {
    Needs& n = needs_[type];
    if (n.reached) return;
    n.reached = true;
    for (const char* m : {"__getstate__", "__setstate__"}) {
      if (type->findMethod(m)) needMethod(type, m);
    }
  }

  void needMethod(const ClassType* type, const std::string& name) {
    if (!needs_[type].methods.insert(name).second) return;
    if (torch::jit::Function* fn = type->findMethod(name)) work_.push_back(fn);
    if (name != "forward") return;
    for (torch::jit::Function* hook : type->getForwardPreHooks()) work_.push_back(hook);
    for (torch::jit::Function* hook : type->getForwardHooks()) work_.push_back(hook);
  }

  void needAttribute(const ClassType* type, const std::string& name) {
    if (!needs_[type].attributes.insert(name).second) return;
    auto slot = type->findAttributeSlot(name);
    if (!slot) return;
    auto declared = type->getAttribute(*slot)->cast<ClassType>();
    if (declared && declared->is_module()) {
      reach(declared.get());
      return;
    }
    // An interface (or Any) may hold a module: whatever it holds is called through methods this
    // analysis cannot name, so its type keeps everything.
    for (const Module& instance : instances_[type]) {
      const c10::IValue& held = instance._ivalue()->getSlot(*slot);
      if (held.isObject() && held.toObjectRef().type()->is_module()) {
        keepAll(held.toObjectRef().type().get());
      }
    }
  }

  void keepAll(const ClassType* type) {
    Needs& n = needs_[type];
    if (n.all) return;
    n.all = true;
    reach(type);
    for (size_t i = 0; i < type->numAttributes(); ++i) {
      needAttribute(type, type->getAttributeName(i));
      // Whatever holds the escaped module may reach into its submodules too.
      auto held = type->getAttribute(i)->cast<ClassType>();
      if (held && held->is_module()) keepAll(held.get());
    }
    for (const torch::jit::Function* fn : type->methods()) needMethod(type, fn->name());
  }

  void scan(const Block& block) {
    for (const Node* n : block.nodes()) {
      for (const Block* b : n->blocks()) scan(*b);
      visit(n);
    }
    visit(block.return_node());
  }

  void visit(const Node* n) {
    const c10::Symbol k = n->kind();
    const bool onReceiver =
        k == c10::prim::GetAttr || k == c10::prim::SetAttr || k == c10::prim::CallMethod;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      const ClassType* type = moduleType(n->input(i));
      if (!type) continue;
      if (i > 0 || !onReceiver) {
        keepAll(type);
      } else if (k == c10::prim::CallMethod) {
        needMethod(type, n->s(c10::attr::name));
      } else {
        needAttribute(type, n->s(c10::attr::name));
      }
    }
  }

  std::unordered_map<const ClassType*, std::vector<Module>> instances_;
  std::unordered_map<const ClassType*, Needs> needs_;
  std::vector<const torch::jit::Function*> work_;
};

/// Removes what `reach` did not reach from the types of `module`; counts it in `stats`.
void removeUnreached(const Reachability& reach, Statistics& stats) {
  for (const auto& [type, instances] : reach.instances()) {
    const Needs* needs = reach.needs(type);
    if (!needs || !needs->reached || needs->all) continue;
    auto* mutableType = const_cast<ClassType*>(type);
    for (size_t i = type->numAttributes(); i-- > 0;) {
      const std::string name = type->getAttributeName(i);
      if (name == "training" || needs->attributes.count(name)) continue;
      auto held = type->getAttribute(i)->cast<ClassType>();
      stats.add(held && held->is_module() ? "removed.submodules" : "removed.attributes");
      for (const Module& m : instances) m._ivalue()->unsafeRemoveAttr(name);
      mutableType->unsafeRemoveAttribute(name);
    }
    std::vector<std::string> unused;
    for (const torch::jit::Function* fn : type->methods()) {
      if (!needs->methods.count(fn->name())) unused.push_back(fn->name());
    }
    for (const std::string& name : unused) mutableType->unsafeRemoveMethod(name);
    stats.add("removed.methods", static_cast<int64_t>(unused.size()));
  }
}

/// Whether `a` and `b` hold the same elements in the same layout.
bool sameTensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.device() != b.device() || a.sizes() != b.sizes() ||
      a.strides() != b.strides() || a.layout() != at::kStrided || b.layout() != at::kStrided ||
      !a.is_contiguous() || !a.device().is_cpu() || a.is_quantized() || b.is_quantized()) {
    return false;
  }
  if (a.is_same(b)) return true;
  return std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

/// Makes tensor constants with equal contents, in all of `methods`, hold one tensor, so that the
/// saved model stores it once. Only contiguous CPU tensors are compared; a group of candidates
/// shares dtype and shape, and distinct weights differ in their first bytes.
void mergeEqualConstants(const Module& module, const std::vector<std::string>& methods,
                         Statistics& stats) {
  using Key = std::pair<c10::ScalarType, std::vector<int64_t>>;
  std::map<Key, std::vector<at::Tensor>> kept;
  std::unordered_set<const c10::StorageImpl*> counted;
  std::function<void(Block*)> visit = [&](Block* block) {
    for (Node* n : block->nodes()) {
      for (Block* b : n->blocks()) visit(b);
      auto constant = constantTensor(n);
      if (!constant) continue;
      const at::Tensor& t = *constant;
      auto& group = kept[{t.scalar_type(), t.sizes().vec()}];
      auto same = std::find_if(group.begin(), group.end(),
                               [&](const at::Tensor& k) { return sameTensor(k, t); });
      if (same == group.end()) {
        group.push_back(t);
      } else if (!same->is_same(t)) {
        if (same->storage().unsafeGetStorageImpl() != t.storage().unsafeGetStorageImpl() &&
            counted.insert(t.storage().unsafeGetStorageImpl()).second) {
          stats.add("merged.bytes", static_cast<int64_t>(t.nbytes()));
        }
        stats.add("merged.constants");
        n->t_(c10::attr::value, *same);
      }
    }
  };
  for (const std::string& m : methods) visit(module.get_method(m).graph()->block());
}

/// Gives every node of the module's methods an empty source range; returns how many had one.
int64_t dropSourceRanges(const Module& module) {
  int64_t dropped = 0;
  auto clear = [&](Node* n) {
    if (n->sourceRange().source()) ++dropped;
    n->setSourceRange(torch::jit::SourceRange());
  };
  std::function<void(Block*)> visit = [&](Block* block) {
    for (Node* n : block->nodes()) {
      for (Block* b : n->blocks()) visit(b);
      clear(n);
    }
    clear(block->param_node());
    clear(block->return_node());
  };
  forEachMethodGraph(module, [&](torch::jit::Graph& graph) { visit(graph.block()); });
  return dropped;
}

class StripPass : public ModulePass {
 public:
  std::string name() const override { return "strip"; }
  std::string description() const override {
    return "Remove the submodules, parameters, buffers, attributes and methods that no kept "
           "method reaches, and the Python source locations of what stays; store equal tensor "
           "constants once (run after inline)";
  }
  bool run(Module& module, ModulePassContext& ctx) override {
    return stripModule(module, ctx.methods, &ctx.stats, &ctx.warnings, debugInfo_);
  }

 private:
  BoolOption debugInfo_{*this, "debug-info",
                        "keep the Python source locations that tracebacks of errors quote", false};
};

TSOPT_REGISTER_PASS(StripPass);

}  // namespace

bool stripModule(Module& module, const std::vector<std::string>& methods, Statistics* stats,
                 std::vector<std::string>* warnings, bool keepDebugInfo) {
  Statistics local;
  Statistics& s = stats ? *stats : local;
  const int64_t before = attributeTensors(module).bytes;
  std::vector<std::string> rootMethods;
  for (const torch::jit::Function* fn : module.type()->methods()) rootMethods.push_back(fn->name());

  Reachability reach(module);
  reach.fromRoot(module, methods);
  Statistics removed;
  removeUnreached(reach, removed);
  mergeEqualConstants(module, methods, removed);
  if (!keepDebugInfo) removed.add("removed.source-ranges", dropSourceRanges(module));

  if (warnings) {
    std::string dropped;
    for (const std::string& m : rootMethods) {
      // Methods named with a leading '_' are helpers by Python's convention (_forward_impl).
      if (m[0] != '_' && !module.type()->findMethod(m)) {
        dropped += (dropped.empty() ? "" : ", ") + m;
      }
    }
    if (!dropped.empty()) {
      warnings->push_back("removed method(s) " + dropped +
                          " of the model, which the run does not keep (name each with --method "
                          "to keep it)");
    }
  }
  removed.add("removed.bytes", before - attributeTensors(module).bytes);
  bool changed = false;
  for (const auto& [k, v] : removed.all()) {
    if (v == 0) continue;
    s.add(k, v);
    changed = true;
  }
  return changed;
}

}  // namespace tsopt
