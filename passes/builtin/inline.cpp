// inline: expands prim::CallMethod and prim::CallFunction recursively, in nested blocks too.
// Each callee is prepared (its own calls expanded) once per remaining depth and then copied into
// every call site, so the work is linear in the size of the result. A callee without calls
// needs no preparing: its own graph is copied into the call site directly. Every inlined node
// keeps where it came from as LibTorch's inliner records it (an InlinedCallStack naming the
// submodule, e.g. layer1 -> 0 -> conv1), so views can group nodes by module; the IR text and the
// saved model do not show it.
//
//   %c = prim::GetAttr[name="conv"](%self)          %c = prim::GetAttr[name="conv"](%self)
//   %y = prim::CallMethod[name="forward"](%c, %x) -> %w = prim::GetAttr[name="weight"](%c)
//                                                    %y = aten::conv2d(%x, %w, ...)
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <map>

#include "passes/builtin/builtin.h"
#include "passes/core/pass_manager.h"
#include "passes/core/registry.h"

// LibTorch 1.13 declares this constructor in its headers but does not export it from its library;
// defined here as LibTorch defines it.
torch::jit::ModuleInstanceInfo::ModuleInstanceInfo(c10::ClassTypePtr module_type,
                                                   std::string instance_name)
    : module_type_(std::move(module_type)), instance_name_(std::move(instance_name)) {}

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::GraphFunction;
using torch::jit::Node;

bool hasCalls(const Block* block) {
  for (const Node* n : block->nodes()) {
    if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction) return true;
    for (const Block* b : n->blocks()) {
      if (hasCalls(b)) return true;
    }
  }
  return false;
}

bool nameMatches(const std::string& qualified, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (qualified == p) return true;
    if (qualified.size() > p.size() &&
        qualified.compare(qualified.size() - p.size(), p.size(), p) == 0 &&
        qualified[qualified.size() - p.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

class Inliner {
 public:
  explicit Inliner(const InlineOptions& options) : options_(options) {}

  /// Callee graphs prepared so far (each distinct callee and depth once).
  int64_t prepared() const { return prepared_; }

  /// Expands calls in `block`; `depth` levels remain (-1: unlimited). Counts into `stats`.
  bool run(Block* block, int64_t depth, Statistics& stats) {
    bool changed = false;
    for (auto it = block->nodes().begin(); it != block->nodes().end();) {
      Node* n = *it++;
      if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction) {
        changed |= expand(n, depth, stats);
      } else {
        for (Block* b : n->blocks()) changed |= run(b, depth, stats);
      }
    }
    return changed;
  }

 private:
  struct Prepared {
    std::shared_ptr<Graph> graph;
    Statistics stats;  // what preparing it did; added once per call site expanded
  };

  bool expand(Node* call, int64_t depth, Statistics& stats) {
    bool isMethod = call->kind() == c10::prim::CallMethod;
    torch::jit::Function* fn = nullptr;
    std::string qualified;
    if (isMethod) {
      auto cls = call->input(0)->type()->cast<c10::ClassType>();
      if (!cls) {  // an interface-typed submodule: the callee is only known at run time
        stats.add("skipped.interface");
        return false;
      }
      fn = cls->findMethod(call->s(c10::attr::name));
      qualified = cls->name() ? cls->name()->qualifiedName() : "";
    } else {
      auto fnType = call->input(0)->type()->cast<c10::FunctionType>();
      if (fnType) {
        fn = fnType->function();
        qualified = fn->qualname().qualifiedName();
      }
    }
    GraphFunction* graphFn = fn ? torch::jit::tryToGraphFunction(*fn) : nullptr;
    if (!graphFn) {
      stats.add("skipped.not-graph-function");
      return false;
    }
    if ((!options_.only.empty() && !nameMatches(qualified, options_.only)) ||
        nameMatches(qualified, options_.skip)) {
      stats.add("skipped.filtered");
      return false;
    }
    if (depth == 0) {
      stats.add("skipped.depth");
      return false;
    }
    const Prepared& callee = prepare(graphFn, depth < 0 ? -1 : depth - 1);

    // Methods take the module as their first input; functions take the arguments only.
    auto args = call->inputs().slice(isMethod ? 0 : 1);
    Graph& graph = *call->owningGraph();
    std::vector<torch::jit::Value*> outs;
    Node* before = call->prev();
    {
      torch::jit::WithInsertPoint guard(call);
      outs = torch::jit::insertGraph(graph, *callee.graph, args);
    }
    CallSite site{graphFn, call->sourceRange(), moduleInstance(call), {}};
    for (Node* n = before->next(); n != call; n = n->next()) site.mark(n);
    for (size_t i = 0; i < outs.size(); ++i) call->output(i)->replaceAllUsesWith(outs[i]);
    Node* fnConstant = isMethod ? nullptr : call->input(0)->node();
    call->destroy();
    if (fnConstant && !fnConstant->hasUses()) fnConstant->destroy();
    stats.add("inlined");
    stats.merge(callee.stats);
    return true;
  }

  /// The submodule a CallMethod calls into, named as LibTorch's inliner names it.
  static c10::optional<torch::jit::ModuleInstanceInfo> moduleInstance(const Node* call) {
    if (call->kind() != c10::prim::CallMethod) return c10::nullopt;
    const torch::jit::Value* self = call->input(0);
    std::string name = self->node()->kind() == c10::prim::GetAttr ? self->node()->s(c10::attr::name)
                       : self == call->owningGraph()->inputs().at(0) ? "SELF"
                                                                     : "INSTANCE_NAME_UNKNOWN";
    return torch::jit::ModuleInstanceInfo(self->type()->expect<c10::ClassType>(), name);
  }

  /// Prefixes the call stacks of the nodes one call inlined with that call.
  struct CallSite {
    torch::jit::Function* fn;
    torch::jit::SourceRange range;
    c10::optional<torch::jit::ModuleInstanceInfo> module;
    // Nodes from one callee share their call stacks; so do their prefixed ones.
    std::map<const torch::jit::InlinedCallStack*, torch::jit::InlinedCallStackPtr> prefixed;

    void mark(Node* n) {
      auto inner = n->callstack();
      torch::jit::InlinedCallStackPtr& cs = prefixed[inner ? inner->get() : nullptr];
      if (!cs) {
        cs = inner ? c10::make_intrusive<torch::jit::InlinedCallStack>(*inner, fn, range, module)
                   : c10::make_intrusive<torch::jit::InlinedCallStack>(fn, range, module);
      }
      n->setCallStack(cs);
      for (Block* b : n->blocks()) {
        for (Node* inside : b->nodes()) mark(inside);
      }
    }
  };

  const Prepared& prepare(GraphFunction* fn, int64_t depth) {
    auto key = std::make_pair(fn, depth);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    Prepared p;
    prepared_++;
    if (!hasCalls(fn->graph()->block())) {
      p.graph = fn->graph();  // nothing to expand: only ever read
    } else {
      p.graph = fn->graph()->copy();
      run(p.graph->block(), depth, p.stats);
    }
    return cache_.emplace(key, std::move(p)).first->second;
  }

  const InlineOptions& options_;
  int64_t prepared_ = 0;
  std::map<std::pair<GraphFunction*, int64_t>, Prepared> cache_;
};

class InlinePass : public GraphPass {
 public:
  std::string name() const override { return "inline"; }
  std::string description() const override {
    return "Inline method and function calls (prim::CallMethod, prim::CallFunction), "
           "recursively and inside control flow";
  }
  bool run(const std::shared_ptr<Graph>& graph, PassContext& ctx) override {
    InlineOptions o{only_, skip_, maxDepth_};
    return inlineCalls(*graph, o, &ctx.stats);
  }

 private:
  ListOption only_{*this, "only", "inline only calls into these module types or functions", {}};
  ListOption skip_{*this, "skip", "never inline calls into these module types or functions", {}};
  IntOption maxDepth_{*this, "max-depth", "levels of nested calls to expand (-1: all)", -1, -1};
};

TSOPT_REGISTER_PASS(InlinePass);

}  // namespace

bool inlineCalls(Graph& graph, const InlineOptions& options, Statistics* stats) {
  Statistics local;
  Statistics& out = stats ? *stats : local;
  Inliner inliner(options);
  bool changed = inliner.run(graph.block(), options.maxDepth, out);
  if (inliner.prepared()) out.add("prepared", inliner.prepared());
  return changed;
}

std::shared_ptr<Graph> inlinedCopy(const torch::jit::Module& module, const std::string& method) {
  std::shared_ptr<Graph> graph = methodGraph(module, method)->copy();
  inlineCalls(*graph, InlineOptions{}, nullptr);
  return graph;
}

}  // namespace tsopt
