// Two rewrites of 2-d convolutions for oneDNN: mkldnn-conv here, prepack-conv below.
//
// mkldnn-conv: routes 2-d convolutions with constant float weights (frozen models) to oneDNN,
// as aten::mkldnn_convolution on ordinary dense tensors, so the model still saves and loads
// anywhere. LibTorch 1.13 sends a batch-1 convolution with a 1x1 or 3x3 kernel and fewer than
// 20480 input elements to its native kernel instead, which on a BLAS-less build (Debian's) is
// many times slower. With channels-last=true the weights are stored NHWC, and oneDNN then keeps
// activations NHWC from one convolution to the next without reordering them.
//
//   %y = aten::conv2d(%x, %w, %b, %stride, %padding, %dilation, %groups)          (constant %w)
//   %y = aten::_convolution(%x, %w, %b, %stride, %padding, %dilation, false, ...)   (traced)
//   %y = aten::convolution(%x, %w, %b, %stride, %padding, %dilation, false, %op, %groups)
//     -> %y = aten::mkldnn_convolution(%x, %w', %b, %padding, %stride, %dilation, %groups)
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/ir/constants.h>

#include <map>
#include <sstream>

#include "passes/builtin/mkldnn_util.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using namespace mkldnn;
using torch::jit::Node;
using torch::jit::Value;

class MkldnnConvPass : public GraphPass {
 public:
  std::string name() const override { return "mkldnn-conv"; }
  std::string description() const override {
    return "Run 2-d convolutions with constant float weights through oneDNN "
           "(aten::mkldnn_convolution); the model still saves. Run after torch-freeze";
  }

  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    bool changed = false;
    forEachNode(graph->block(), [&](Node* n) {
      size_t groupsAt = groupsInput(n);
      if (groupsAt == 0) return;
      std::string why = rejection(n, groupsAt);
      if (!why.empty()) {
        ctx.stats.add("skipped." + why);
        return;
      }
      torch::jit::WithInsertPoint guard(n);
      Value* weight = n->input(1);
      if (channelsLast_) {
        at::Tensor w = torch::jit::toIValue(weight)->toTensor();
        weight = graph->insertConstant(w.contiguous(at::MemoryFormat::ChannelsLast));
      }
      auto list = [&](size_t i) { return graph->insertConstant(*intPair(n->input(i))); };
      Node* conv = graph->create(
          c10::aten::mkldnn_convolution,
          {n->input(0), weight, n->input(2), list(4), list(3), list(5), n->input(groupsAt)});
      conv->insertBefore(n);
      conv->output()->setType(n->output()->type());
      n->output()->replaceAllUsesWith(conv->output());
      n->destroy();
      ctx.stats.add("rewritten");
      changed = true;
    });
    return changed;
  }

 private:
  BoolOption channelsLast_{*this, "channels-last",
                           "store the weights channels-last (NHWC); activations follow", false};
};

TSOPT_REGISTER_PASS(MkldnnConvPass);

// prepack-conv: the same convolutions, with their weights reordered once into the layout oneDNN
// wants (an MKLDNN op context, `mkldnn_prepacked::conv2d_prepack`) and a following ReLU fused
// into the convolution. A context cannot be saved as it is (LibTorch 1.13 saves it without its
// fusion and cannot load it back), so the contexts live on a new submodule whose
// __getstate__ saves the dense weights and whose __setstate__ prepacks them again at load:
//
//   %y = aten::conv2d(%x, %w, %b, ...); %r = aten::relu(%y)          (constant %w, %b)
//     -> %h = prim::GetAttr[name="_tsopt_prepacked"](%self)
//        %c = prim::GetAttr[name="conv_0"](%h)
//        %x' = aten::contiguous(%x, channels_last)                   (channels-last=true)
//        %r = mkldnn_prepacked::conv2d_run(%x', %c)
//
// With channels-last activations oneDNN reads and writes the tensors without reordering them;
// other operators (add, pooling, hardtanh) run on NHWC tensors natively. Tensor outputs of the
// graph are made contiguous again, so callers see the layout they saw before.

/// One convolution to prepack: where it is, and what __setstate__ needs to rebuild its context.
struct PrepackedConv : ConvParams {
  Node* conv;
  Node* relu;  // the ReLU fused into it, or nullptr
  std::optional<at::Tensor> bias;
  std::vector<int64_t> inputSize;
  /// Which convolutions can share one context: the weight as the graph holds it (before its
  /// layout changes), the bias and the fusion.
  std::tuple<ConvKey, const c10::TensorImpl*, bool> key;

  const char* fusion() const { return relu ? "relu" : "none"; }
};

/// The source of the holder's __getstate__ and __setstate__ for `convs`.
std::string holderMethods(const std::vector<PrepackedConv>& convs) {
  const char* stateType = "Tuple[List[Tensor], List[Optional[Tensor]], bool]";
  std::ostringstream weights, biases, src;
  for (size_t i = 0; i < convs.size(); ++i) {
    weights << (i ? ", " : "") << "self.weight_" << i;
    biases << (i ? ", " : "") << "self.bias_" << i;
  }
  src << "def __getstate__(self) -> " << stateType << ":\n"
      << "    return ([" << weights.str() << "], [" << biases.str() << "], self.training)\n"
      << "def __setstate__(self, state: " << stateType << ") -> None:\n";
  for (size_t i = 0; i < convs.size(); ++i) {
    const PrepackedConv& c = convs[i];
    src << "    self.weight_" << i << " = state[0][" << i << "]\n"
        << "    self.bias_" << i << " = state[1][" << i << "]\n"
        << "    self.conv_" << i << " = mkldnn_prepacked.conv2d_prepack(state[0][" << i
        << "], state[1][" << i << "], " << intList(c.stride) << ", " << intList(c.padding) << ", "
        << intList(c.dilation) << ", " << c.groups << ", " << intList(c.inputSize) << ", \""
        << c.fusion() << "\")\n";
  }
  src << "    self.training = state[2]\n";
  return src.str();
}

/// Resolves `mkldnn_prepacked.<op>` in the holder's source to the operator namespace (saved
/// models spell it `ops.mkldnn_prepacked.<op>`, which only the model loader knows).
struct PrepackedOpsResolver : torch::jit::NativeResolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(
      const std::string& name, torch::jit::GraphFunction& m,
      const torch::jit::SourceRange& loc) override {
    if (name == "mkldnn_prepacked") return std::make_shared<torch::jit::BuiltinModule>(name);
    return NativeResolver::resolveValue(name, m, loc);
  }
};

c10::IValue prepack(const PrepackedConv& c) {
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_prepack", "");
  torch::jit::Stack stack{c.weight,    c.bias ? c10::IValue(*c.bias) : c10::IValue(),
                          c.stride,    c.padding,
                          c.dilation,  c.groups,
                          c.inputSize, std::string(c.fusion())};
  op.callBoxed(&stack);
  return stack.at(0);
}

/// `x.contiguous(memory_format=format)` at the graph's insertion point.
Value* contiguous(const std::shared_ptr<torch::jit::Graph>& graph, Value* x,
                  at::MemoryFormat format) {
  return graph->insert(c10::aten::contiguous, {x},
                       {torch::jit::NamedValue("memory_format", static_cast<int64_t>(format))});
}

class PrepackConvPass : public GraphPass {
 public:
  std::string name() const override { return "prepack-conv"; }
  std::vector<LaterConstraint> constraintsOnLater() const override {
    return {{"freezes",
             "freezing makes its prepacked convolutions constants, which LibTorch saves in a "
             "form it cannot load"}};
  }
  std::string description() const override {
    return "Prepack the weights of 2-d convolutions with constant float weights for oneDNN and "
           "fuse a following ReLU; the model saves and prepacks again when loaded. Run after "
           "torch-freeze";
  }

  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    std::vector<PrepackedConv> convs;
    forEachNode(graph->block(), [&](Node* n) {
      size_t groupsAt = groupsInput(n);
      if (groupsAt == 0) return;
      std::string why = rejection(n, groupsAt);
      if (why.empty() && !torch::jit::toIValue(n->input(2))) why = "bias-not-constant";
      if (!why.empty()) {
        ctx.stats.add("skipped." + why);
        return;
      }
      convs.push_back(describe(n, groupsAt));
    });
    if (convs.empty()) return false;

    // One context per distinct convolution; slot[i] is convs[i]'s.
    std::vector<PrepackedConv> contexts;
    std::vector<size_t> slot;
    std::map<decltype(PrepackedConv::key), size_t> slots;
    for (const PrepackedConv& c : convs) {
      auto [it, added] = slots.emplace(c.key, contexts.size());
      if (added) contexts.push_back(c);
      slot.push_back(it->second);
    }
    // Each weight in the layout the contexts want, once (one weight may serve a context with
    // a fused ReLU and one without).
    std::map<const c10::TensorImpl*, at::Tensor> laidOut;
    for (PrepackedConv& c : contexts) {
      at::Tensor& t = laidOut[c.weight.unsafeGetTensorImpl()];
      if (!t.defined()) {
        t = channelsLast_ ? c.weight.contiguous(at::MemoryFormat::ChannelsLast)
                          : c.weight.contiguous();
      }
      c.weight = t;
    }
    if (contexts.size() < convs.size()) {
      ctx.stats.add("shared", static_cast<int64_t>(convs.size() - contexts.size()));
    }

    torch::jit::Module holder = newHolder(ctx.module, "PrepackedConvolutions");
    for (size_t i = 0; i < contexts.size(); ++i) {
      const PrepackedConv& c = contexts[i];
      std::string id = std::to_string(i);
      holder.register_attribute("weight_" + id, c10::TensorType::get(), c.weight);
      holder.register_attribute("bias_" + id, c10::OptionalType::ofTensor(),
                                c.bias ? c10::IValue(*c.bias) : c10::IValue());
      c10::IValue context = prepack(c);
      holder.register_attribute("conv_" + id, context.type(), context);
    }
    holder.define(holderMethods(contexts), std::make_shared<PrepackedOpsResolver>());
    Value* h = attachHolder(ctx.module, *graph, holder, "_tsopt_prepacked");
    for (size_t i = 0; i < convs.size(); ++i) {
      Node* conv = convs[i].conv;
      Node* relu = convs[i].relu;
      torch::jit::WithInsertPoint guard(conv);
      Value* context = graph->insertGetAttr(h, "conv_" + std::to_string(slot[i]));
      Value* input = conv->input(0);
      if (channelsLast_) {
        input = contiguous(graph, input, at::MemoryFormat::ChannelsLast);
      }
      Node* run = graph->create(c10::Symbol::fromQualString("mkldnn_prepacked::conv2d_run"),
                                {input, context});
      run->insertBefore(conv);
      Node* last = relu ? relu : conv;
      run->output()->setType(last->output()->type());
      last->output()->replaceAllUsesWith(run->output());
      if (relu) relu->destroy();
      conv->destroy();
      ctx.stats.add(relu ? "rewritten.relu-fused" : "rewritten");
    }
    if (channelsLast_) restoreOutputLayout(graph);
    return true;
  }

 private:
  /// The ReLU that is the only use of convolution `n`'s output, if there is one.
  static Node* fusableRelu(Node* n) {
    const auto& uses = n->output()->uses();
    if (uses.size() != 1 || uses[0].offset != 0) return nullptr;
    Node* user = uses[0].user;
    bool relu = user->kind() == c10::aten::relu || user->kind() == c10::aten::relu_;
    return relu && user->owningBlock() == n->owningBlock() ? user : nullptr;
  }

  PrepackedConv describe(Node* n, size_t groupsAt) const {
    PrepackedConv c;
    static_cast<ConvParams&>(c) = convParams(n, groupsAt);
    c.conv = n;
    c.relu = fusableRelu(n);
    const at::Tensor& w = c.weight;
    c.key = {convKey(c), nullptr, c.relu != nullptr};
    if (auto b = torch::jit::toIValue(n->input(2)); b->isTensor()) {
      c.bias = b->toTensor();
      std::get<1>(c.key) = c.bias->unsafeGetTensorImpl();
    }
    // The input size only guides oneDNN's choice of weight layout; any input size runs.
    // Use the smallest input the kernel fits.
    c.inputSize = {1, w.size(1) * c.groups, 1, 1};
    for (size_t d = 0; d < 2; ++d) {
      int64_t extent = c.dilation[d] * (w.size(2 + d) - 1) + 1;
      c.inputSize[2 + d] = std::max<int64_t>(extent - 2 * c.padding[d], 1);
    }
    return c;
  }

  /// Makes every tensor the graph returns contiguous (a no-op for tensors that are).
  static void restoreOutputLayout(const std::shared_ptr<torch::jit::Graph>& graph) {
    torch::jit::WithInsertPoint guard(graph->return_node());
    for (size_t i = 0; i < graph->outputs().size(); ++i) {
      Value* out = graph->outputs()[i];
      if (!out->type()->cast<c10::TensorType>()) continue;
      graph->return_node()->replaceInput(i, contiguous(graph, out, at::MemoryFormat::Contiguous));
    }
  }

  BoolOption channelsLast_{*this, "channels-last",
                           "keep activations channels-last (NHWC) between convolutions", true};
};

TSOPT_REGISTER_PASS(PrepackConvPass);

}  // namespace

}  // namespace tsopt
