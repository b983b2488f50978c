// fold-conv-bn: folds eval-mode aten::batch_norm into the convolution producing its input:
// aten::conv1d/2d/3d, aten::conv_transpose1d/2d/3d, aten::_convolution (traced models) and
// aten::convolution, grouped, depthwise and transposed, with or without bias. See bn_folding.h.
#include "passes/builtin/bn_folding.h"
#include "passes/builtin/builtin.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using torch::jit::Node;

/// Reads a constant int/bool argument into `out`; marks the target unresolved if it is not one.
template <typename T>
void readArg(Node* n, size_t i, ValueResolver& r, FoldTarget& t, T& out) {
  auto v = r.resolve(n->input(i));
  if (v && (v->isInt() || v->isBool())) {
    out = static_cast<T>(v->isInt() ? v->toInt() : v->toBool());
  } else {
    t.unresolved = true;
  }
}

bool matchConvolution(Node* n, ValueResolver& r, FoldTarget& t) {
  using namespace c10;
  Symbol k = n->kind();
  if (k == aten::conv1d || k == aten::conv2d || k == aten::conv3d) return true;
  if (k == aten::conv_transpose1d || k == aten::conv_transpose2d || k == aten::conv_transpose3d) {
    t.transposed = true;
    readArg(n, 6, r, t, t.groups);  // (input, weight, bias, stride, padding, output_padding, groups
    return true;
  }
  if (k == aten::_convolution || k == aten::convolution) {
    readArg(n, 6, r, t, t.transposed);  // (input, weight, bias, stride, padding, dilation,
    readArg(n, 8, r, t, t.groups);      //  transposed, output_padding, groups, ...)
    return true;
  }
  return false;
}

class FoldConvBnPass : public GraphPass {
 public:
  std::string name() const override { return "fold-conv-bn"; }
  std::string description() const override {
    return "Fold eval-mode BatchNorm into the preceding convolution (1d/2d/3d, transposed, "
           "grouped) as new weights";
  }
  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    return foldConvBatchNorm(ctx.module, *graph, &ctx.stats);
  }
};

TSOPT_REGISTER_PASS(FoldConvBnPass);

}  // namespace

bool foldConvBatchNorm(torch::jit::Module& module, torch::jit::Graph& graph, Statistics* stats) {
  Statistics local;
  return foldBatchNorms(module, graph, matchConvolution, {}, stats ? *stats : local);
}

}  // namespace tsopt
