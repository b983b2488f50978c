// mkldnn-blocked: keeps activations in oneDNN's blocked layout (MKLDNN tensors) through regions
// of convolutions, ReLUs, pooling and same-shape adds, as torch.jit.optimize_for_inference does,
// but with operators that save and load:
//
//   %y = aten::conv2d(%x, %w, %b, %stride, %padding, %dilation, %groups)    (constant %w)
//     -> %h = prim::GetAttr[name="_tsopt_mkldnn"](%self)           (once, at the top)
//        %w' = prim::GetAttr[name="weight_0"](%h)                  (reordered MKLDNN weight)
//        %x' = aten::to_mkldnn(%x)                                 (where a region is entered)
//        %y = aten::mkldnn_convolution(%x', %w', %b, %padding, %stride, %dilation, %groups)
//
// aten::relu(_), aten::max_pool2d, aten::avg_pool2d and aten::adaptive_avg_pool2d to 1x1 run on
// MKLDNN tensors as they are. oneDNN's sum does not broadcast, so aten::add(_) of two region
// tensors checks the sizes first:
//
//   %r = prim::If(aten::eq(aten::size(%a), aten::size(%b)))
//     block0: aten::add(_)(%a, %b, %alpha)
//     block1: aten::to_mkldnn(aten::add(aten::to_dense(%a), aten::to_dense(%b), %alpha))
//
// A region tensor read by anything else is converted back (aten::to_dense) once, after the node
// that makes it. The reordered weights live on a holder submodule: its __getstate__ saves them
// dense and its __setstate__ reorders them again (aten::mkldnn_reorder_conv2d_weight) when the
// model is loaded. A region is only formed where it pays: it must hold several convolutions
// for each conversion it needs (convs-per-conversion, 4 by default). Convolutions left out stay
// as they are (prepack-conv, run after this pass, takes them).
#include <ATen/ops/mkldnn_reorder_conv2d_weight.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>

#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "passes/builtin/mkldnn_util.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using namespace mkldnn;
using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

/// How a node takes part in a region.
enum class Role {
  kNone,
  kConv,    // a convolution with a constant weight: may start a region
  kFollow,  // runs on MKLDNN tensors as it is when its input 0 is a region tensor
  kAdd,     // a tensor add: joins when both operands are region tensors
};

bool constantIs(Value* v, const c10::IValue& expected) {
  auto iv = torch::jit::toIValue(v);
  return iv && *iv == expected;
}

/// What `n` can do in a region; counts the convolutions it cannot take, and why, in `stats`.
Role roleOf(Node* n, Statistics& stats) {
  using namespace c10;
  if (size_t groupsAt = groupsInput(n)) {
    std::string why = rejection(n, groupsAt);
    if (why.empty()) return Role::kConv;
    stats.add("skipped." + why);
    return Role::kNone;
  }
  const std::vector<int64_t> ones = {1, 1};
  switch (n->kind()) {
    case aten::relu:
    case aten::relu_:
      return Role::kFollow;
    case aten::max_pool2d:  // oneDNN pooling has no dilation
      return n->inputs().size() == 6 && intPair(n->input(4)) == ones ? Role::kFollow : Role::kNone;
    case aten::avg_pool2d:  // nor a divisor override
      return n->inputs().size() == 7 && constantIs(n->input(6), c10::IValue()) ? Role::kFollow
                                                                               : Role::kNone;
    case aten::adaptive_avg_pool2d:  // only to sizes that divide the input's: 1x1 always does
      return intPair(n->input(1)) == ones ? Role::kFollow : Role::kNone;
    case aten::add:
    case aten::add_:
      return n->inputs().size() == 3 && n->input(1)->type()->cast<TensorType>() ? Role::kAdd
                                                                                : Role::kNone;
    default:
      return Role::kNone;
  }
}

bool inPlace(const Node* n) {
  return n->kind() == c10::aten::relu_ || n->kind() == c10::aten::add_;
}

/// The regions of a graph: which nodes run on MKLDNN tensors, grouped into connected components.
class Regions {
 public:
  Regions(const std::shared_ptr<torch::jit::Graph>& graph, Statistics& stats) : graph_(graph) {
    forEachNode(graph->block(), [&](Node* n) { consider(n, stats); });
  }

  /// Drops every component that would be wrong (a tensor it hands out is written outside it)
  /// or slower (fewer than `convsPerConversion` convolutions per conversion); counts why in
  /// `stats`.
  void keepProfitable(int64_t convsPerConversion, Statistics& stats) {
    std::vector<Component> parts(parent_.size());
    for (Node* n : members_) {
      Component& c = parts[find(component_.at(n))];
      if (role_.at(n) == Role::kConv) {
        ++c.convs;
        if (!isRegionValue(n->input(0), n)) c.entries.insert(entryKey(n));
      }
      for (Value* v : n->outputs()) {
        if (readOutside(v)) c.exits.push_back(v);
      }
    }
    std::vector<Node*> writers;
    forEachNode(graph_->block(), [&](Node* n) {
      if (member(n)) return;
      const c10::FunctionSchema* schema = n->maybeSchema();
      if (!schema || schemaWrites(*schema)) writers.push_back(n);
    });
    for (Component& c : parts) {
      if (c.convs == 0 || c.exits.empty()) continue;
      torch::jit::ValueSet exits(c.exits.begin(), c.exits.end());
      for (Node* w : writers) c.writtenOutside |= aliasDb().writesToAlias(w, exits);
    }
    for (Component& c : parts) {
      c.pays = c.convs >= static_cast<size_t>(convsPerConversion) * c.conversions();
      if (!c.kept()) continue;
      stats.add("regions");
      stats.add("conversions", c.conversions());
    }
    std::vector<Node*> kept;
    for (Node* n : members_) {
      const Component& c = parts[find(component_.at(n))];
      if (c.kept()) {
        kept.push_back(n);
        continue;
      }
      component_.erase(n);
      if (role_.at(n) == Role::kConv) {
        stats.add(c.writtenOutside ? "skipped.written-outside" : "skipped.unprofitable");
      }
    }
    members_ = std::move(kept);
  }

  /// Records that region node `old` is replaced by `now`.
  void replaced(Node* old, Node* now) {
    component_[now] = component_.at(old);
    role_[now] = role_.at(old);
    component_.erase(old);
  }

  /// The nodes that run on MKLDNN tensors, nested blocks first, in order.
  const std::vector<Node*>& members() const { return members_; }
  Role role(Node* n) const { return role_.at(n); }
  bool member(const Node* n) const { return component_.count(const_cast<Node*>(n)) != 0; }
  /// Whether `v` is a region tensor where `reader`, a node of its block, reads it.
  bool isRegionValue(Value* v, const Node* reader) const {
    return member(v->node()) && v->node()->owningBlock() == reader->owningBlock();
  }
  /// Whether a node outside the regions reads `v`.
  bool readOutside(Value* v) const {
    for (const torch::jit::Use& u : v->uses()) {
      if (!member(u.user)) return true;
    }
    return false;
  }
  /// Whether an entry can be converted once for all the convolutions that read it: not if
  /// anything may write to it between them.
  bool sharedEntry(Value* x) { return !aliasDb().hasWriters(x); }

 private:
  struct Component {
    size_t convs = 0;
    std::set<std::pair<Value*, Node*>> entries;
    std::vector<Value*> exits;
    bool writtenOutside = false;
    bool pays = false;

    size_t conversions() const { return entries.size() + exits.size(); }
    bool kept() const { return convs > 0 && !writtenOutside && pays; }
  };

  /// One conversion per entry value, or per convolution where it is written.
  std::pair<Value*, Node*> entryKey(Node* conv) {
    Value* x = conv->input(0);
    return {x, sharedEntry(x) ? nullptr : conv};
  }

  void consider(Node* n, Statistics& stats) {
    Role r = roleOf(n, stats);
    if (r == Role::kNone) return;
    if (r != Role::kConv) {
      size_t operands = r == Role::kAdd ? 2 : 1;
      for (size_t i = 0; i < operands; ++i) {
        if (!isRegionValue(n->input(i), n)) return;
      }
      // An in-place write is only unobservable if nothing else reads what it overwrites.
      if (inPlace(n) && n->input(0)->uses().size() != 1) return;
    }
    size_t id = parent_.size();
    parent_.push_back(id);
    component_[n] = id;
    role_[n] = r;
    members_.push_back(n);
    size_t operands = r == Role::kAdd ? 2 : 1;
    for (size_t i = 0; i < operands; ++i) {
      if (isRegionValue(n->input(i), n)) parent_[find(component_.at(n->input(i)->node()))] = id;
    }
  }

  /// Alias analysis of the graph as it was before the pass changed it.
  torch::jit::AliasDb& aliasDb() {
    if (!aliasDb_) aliasDb_ = std::make_unique<torch::jit::AliasDb>(graph_);
    return *aliasDb_;
  }

  size_t find(size_t id) {
    while (parent_[id] != id) id = parent_[id] = parent_[parent_[id]];
    return id;
  }

  std::shared_ptr<torch::jit::Graph> graph_;
  std::vector<Node*> members_;
  std::unordered_map<Node*, size_t> component_;
  std::unordered_map<Node*, Role> role_;
  std::vector<size_t> parent_;
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;
};

/// The source of the holder's __getstate__ and __setstate__ for `convs`.
std::string holderMethods(const std::vector<ConvParams>& convs) {
  const char* stateType = "Tuple[List[Tensor], bool]";
  std::ostringstream weights, src;
  for (size_t i = 0; i < convs.size(); ++i) {
    weights << (i ? ", " : "") << "self.weight_" << i << ".to_dense()";
  }
  src << "def __getstate__(self) -> " << stateType << ":\n"
      << "    return ([" << weights.str() << "], self.training)\n"
      << "def __setstate__(self, state: " << stateType << ") -> None:\n";
  for (size_t i = 0; i < convs.size(); ++i) {
    const ConvParams& c = convs[i];
    src << "    self.weight_" << i << " = torch.mkldnn_reorder_conv2d_weight(state[0][" << i
        << "].to_mkldnn(), " << intList(c.padding) << ", " << intList(c.stride) << ", "
        << intList(c.dilation) << ", " << c.groups << ")\n";
  }
  src << "    self.training = state[1]\n";
  return src.str();
}

at::Tensor reorder(const ConvParams& c) {
  return at::mkldnn_reorder_conv2d_weight(c.weight.contiguous().to_mkldnn(), c.padding, c.stride,
                                          c.dilation, c.groups);
}

class MkldnnBlockedPass : public GraphPass {
 public:
  std::string name() const override { return "mkldnn-blocked"; }
  std::vector<LaterConstraint> constraintsOnLater() const override {
    return {{"freezes",
             "freezing drops the __getstate__ that saves its MKLDNN weights, so the model "
             "cannot be saved"}};
  }
  std::string description() const override {
    return "Keep activations in oneDNN's blocked layout through regions of 2-d convolutions "
           "with constant weights, ReLU, pooling and same-shape add; weights are reordered once, "
           "when the model loads, and the model saves. Run after torch-freeze";
  }

  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    Regions regions(graph, ctx.stats);
    regions.keepProfitable(convsPerConversion_, ctx.stats);
    if (regions.members().empty()) return false;

    std::vector<ConvParams> convs;
    for (Node* n : regions.members()) {
      if (regions.role(n) == Role::kConv) convs.push_back(convParams(n, groupsInput(n)));
    }
    // One reordered weight per distinct convolution; slot[i] is convs[i]'s.
    std::vector<ConvParams> weights;
    std::vector<size_t> slot;
    std::map<ConvKey, size_t> slots;
    for (const ConvParams& c : convs) {
      auto [it, added] = slots.emplace(convKey(c), weights.size());
      if (added) weights.push_back(c);
      slot.push_back(it->second);
    }
    if (weights.size() < convs.size()) {
      ctx.stats.add("shared", static_cast<int64_t>(convs.size() - weights.size()));
    }
    torch::jit::Module holder = newHolder(ctx.module, "MkldnnWeights");
    for (size_t i = 0; i < weights.size(); ++i) {
      holder.register_attribute("weight_" + std::to_string(i), c10::TensorType::get(),
                                reorder(weights[i]));
    }
    holder.define(holderMethods(weights));
    Value* h = attachHolder(ctx.module, *graph, holder, "_tsopt_mkldnn");

    // Exits first, while the region's nodes are still the original ones.
    for (Node* n : regions.members()) {
      for (Value* v : n->outputs()) leaveRegion(*graph, regions, v);
    }
    std::map<std::pair<Block*, Value*>, Value*> entered;
    size_t conv = 0;
    for (Node* n : regions.members()) {
      torch::jit::WithInsertPoint guard(n);
      switch (regions.role(n)) {
        case Role::kConv: {
          Value* x = n->input(0);
          Value* input = nullptr;
          if (regions.isRegionValue(x, n)) {
            input = x;
          } else if (!regions.sharedEntry(x)) {
            input = graph->insert(c10::aten::to_mkldnn, {x});
          } else {
            Value*& shared = entered[{n->owningBlock(), x}];
            if (!shared) shared = graph->insert(c10::aten::to_mkldnn, {x});
            input = shared;
          }
          Value* weight = graph->insertGetAttr(h, "weight_" + std::to_string(slot[conv]));
          const ConvParams& c = convs[conv++];
          Node* run = graph->insertNode(
              graph->create(c10::aten::mkldnn_convolution,
                            {input, weight, n->input(2), graph->insertConstant(c.padding),
                             graph->insertConstant(c.stride), graph->insertConstant(c.dilation),
                             graph->insertConstant(c.groups)}));
          replace(regions, n, run->output());
          ctx.stats.add("rewritten");
          break;
        }
        case Role::kAdd:
          replace(regions, n, guardedAdd(*graph, n));
          break;
        case Role::kFollow:
          if (n->kind() == c10::aten::max_pool2d) {
            // Its MKLDNN kernel by name: LibTorch 2.x's dispatcher refuses aten::max_pool2d on
            // an MKLDNN tensor in TorchScript (it has a CompositeImplicitAutograd kernel).
            replace(regions, n,
                    graph->insertNode(graph->create(c10::aten::mkldnn_max_pool2d, n->inputs()))
                        ->output());
            break;
          }
          n->output()->setType(c10::TensorType::get());
          break;
        case Role::kNone:
          n->output()->setType(c10::TensorType::get());
          break;
      }
    }
    return true;
  }

 private:
  /// Reads `v` back as a dense tensor, right after its node, for every reader outside the region.
  static void leaveRegion(torch::jit::Graph& graph, const Regions& regions, Value* v) {
    std::vector<torch::jit::Use> outside;
    for (const torch::jit::Use& u : v->uses()) {
      if (!regions.member(u.user)) outside.push_back(u);
    }
    if (outside.empty()) return;
    torch::jit::WithInsertPoint guard(v->node()->next());
    Value* dense = graph.insert(c10::aten::to_dense, {v});
    dense->setType(v->type());
    for (const torch::jit::Use& u : outside) u.user->replaceInput(u.offset, dense);
  }

  static void replace(Regions& regions, Node* n, Value* by) {
    regions.replaced(n, by->node());
    by->setType(c10::TensorType::get());
    n->output()->replaceAllUsesWith(by);
    n->destroy();
  }

  /// Add `n` on MKLDNN tensors when the operands' sizes match, on dense tensors otherwise
  /// (broadcasting), before `n`.
  static Value* guardedAdd(torch::jit::Graph& graph, Node* n) {
    Value* a = n->input(0);
    Value* b = n->input(1);
    Value* same = graph.insert(
        c10::aten::eq, {graph.insert(c10::aten::size, {a}), graph.insert(c10::aten::size, {b})});
    Node* ifNode = graph.insertNode(graph.create(c10::prim::If, {same}, 1));
    Block* sameSize = ifNode->addBlock();
    Block* broadcast = ifNode->addBlock();
    Node* add = sameSize->appendNode(graph.createClone(n, [](Value* v) { return v; }));
    add->output()->setType(c10::TensorType::get());
    sameSize->registerOutput(add->output());
    {
      torch::jit::WithInsertPoint guard(broadcast);
      Value* sum = graph.insert(
          c10::aten::add,
          {graph.insert(c10::aten::to_dense, {a}), graph.insert(c10::aten::to_dense, {b})},
          {torch::jit::NamedValue("alpha", n->input(2))});
      broadcast->registerOutput(graph.insert(c10::aten::to_mkldnn, {sum}));
    }
    return ifNode->output();
  }

  IntOption convsPerConversion_{
      *this, "convs-per-conversion",
      "form a region only where it holds at least this many convolutions per conversion in or "
      "out (each reorders a whole activation)",
      4, 1};
};

TSOPT_REGISTER_PASS(MkldnnBlockedPass);

}  // namespace

}  // namespace tsopt
