// transpose-frozen-linear: a linear whose weight is a constant becomes a matmul with the weight
// stored transposed, so that BLAS reads it in order (as LibTorch's FrozenLinearTranspose does),
// but only where the transposed copy replaces the weight in the saved model: the weight constant
// has no other reader, and no other tensor shares its storage. Scripted MultiheadAttention keeps
// its packed weight for a runtime branch and slices it in another; LibTorch's pass stores a
// transposed copy of each slice beside it (ViT-B/16 under -O2: 346 MB -> 544 MB).
//
//   %w : Tensor = prim::Constant[value=<Tensor>]()      %wt : Tensor = prim::Constant[...]()
//   %y = aten::linear(%x, %w, %b)                   ->   %m = aten::matmul(%x, %wt)
//                                                        %y = aten::add(%m, %b, %one)
#include <torch/csrc/jit/ir/constants.h>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using torch::jit::Node;
using torch::jit::Value;

class TransposeFrozenLinearPass : public GraphPass {
 public:
  std::string name() const override { return "transpose-frozen-linear"; }
  std::string description() const override {
    return "A linear whose weight is a constant held nowhere else becomes a matmul with the "
           "weight stored transposed (frozen models; BLAS reads it in order)";
  }
  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    return transposeFrozenLinears(*graph, &ctx.stats);
  }
};

TSOPT_REGISTER_PASS(TransposeFrozenLinearPass);

}  // namespace

bool transposeFrozenLinears(torch::jit::Graph& graph, Statistics* stats) {
  Statistics local;
  Statistics& s = stats ? *stats : local;
  std::vector<Node*> linears;
  forEachNode(graph.block(), [&](Node* n) {
    if (n->kind() == c10::aten::linear) linears.push_back(n);
  });
  bool changed = false;
  for (Node* n : linears) {
    Value* weight = n->input(1);
    auto w = constantTensor(weight->node());
    if (!w) continue;  // read at run time: nothing to transpose once
    if (w->dim() != 2 || w->layout() != at::kStrided) {
      s.add("skipped.not-2d");
      continue;
    }
    // Another reader, or another tensor on the same storage, keeps the weight in the model:
    // a transposed copy would be stored beside it.
    if (weight->uses().size() != 1 || w->storage().use_count() != 1) {
      s.add("skipped.weight-kept");
      continue;
    }
    torch::jit::WithInsertPoint guard(n);
    Value* transposed = graph.insertConstant(w->t().contiguous());
    Value* out = graph.insert(c10::aten::matmul, {n->input(0), transposed});
    Value* bias = n->input(2);
    if (!bias->mustBeNone()) out = graph.insert(c10::aten::add, {out, bias});
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    if (!weight->hasUses()) weight->node()->destroy();
    s.add("transposed");
    changed = true;
  }
  return changed;
}

}  // namespace tsopt
