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
#include <torch/csrc/jit/ir/constants.h>

#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using torch::jit::Node;
using torch::jit::Value;

std::optional<std::vector<int64_t>> intPair(Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (!iv || !iv->isIntList()) return std::nullopt;
  std::vector<int64_t> list = iv->toIntVector();
  if (list.size() == 1) list.push_back(list[0]);
  if (list.size() != 2) return std::nullopt;
  return list;
}

/// Where the groups argument of a convolution this pass handles is; 0 for any other node.
size_t groupsInput(const Node* n) {
  if (n->kind() == c10::aten::conv2d) return 6;
  if (n->kind() == c10::aten::_convolution || n->kind() == c10::aten::convolution) return 8;
  return 0;
}

/// Why convolution `n` cannot be rewritten ("" if it can).
std::string rejection(Node* n, size_t groupsAt) {
  using namespace c10;
  if (n->kind() == aten::conv2d) {
    if (!n->input(4)->type()->cast<ListType>()) return "padding-string";
  } else {
    auto transposed = torch::jit::toIValue(n->input(6));
    if (!transposed || !transposed->isBool() || transposed->toBool()) return "transposed";
  }
  auto w = torch::jit::toIValue(n->input(1));
  if (!w || !w->isTensor()) return "weight-not-constant";
  const at::Tensor& t = w->toTensor();
  if (t.dim() != 4) return "not-2d";
  if (t.scalar_type() != at::kFloat || !t.device().is_cpu()) return "not-float-cpu";
  if (auto x = n->input(0)->type()->cast<TensorType>(); x && x->dim() && *x->dim() != 4)
    return "unbatched";
  for (size_t i = 3; i <= 5; ++i) {
    if (!intPair(n->input(i))) return "params-not-constant";
  }
  if (!torch::jit::toIValue(n->input(groupsAt))) return "params-not-constant";
  return "";
}

class MkldnnConvPass : public Pass {
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
      Node* conv = graph->create(c10::aten::mkldnn_convolution,
                                 {n->input(0), weight, n->input(2), list(4), list(3), list(5),
                                  n->input(groupsAt)});
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

}  // namespace

}  // namespace tsopt
