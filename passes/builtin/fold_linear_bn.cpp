// fold-linear-bn: folds eval-mode aten::batch_norm (BatchNorm1d) into the aten::linear producing
// its input. BatchNorm1d normalises dim 1, which is the linear's output features only for a 2-d
// input: inputs of unknown rank are skipped unless assume-2d is set. See bn_folding.h.
#include "passes/builtin/bn_folding.h"
#include "passes/builtin/builtin.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

bool matchLinear(torch::jit::Node* n, ValueResolver&, FoldTarget& t) {
  if (n->kind() != c10::aten::linear) return false;
  t.requireRank2Input = true;
  return true;
}

class FoldLinearBnPass : public GraphPass {
 public:
  std::string name() const override { return "fold-linear-bn"; }
  std::string description() const override {
    return "Fold eval-mode BatchNorm1d into the preceding aten::linear as new weights";
  }
  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) override {
    return foldLinearBatchNorm(ctx.module, *graph, assume2d_, &ctx.stats);
  }

 private:
  BoolOption assume2d_{*this, "assume-2d",
                       "fold when the linear input's rank is unknown, assuming it is 2-d", false};
};

TSOPT_REGISTER_PASS(FoldLinearBnPass);

}  // namespace

bool foldLinearBatchNorm(torch::jit::Module& module, torch::jit::Graph& graph, bool assume2d,
                         Statistics* stats) {
  Statistics local;
  return foldBatchNorms(module, graph, matchLinear, BnFoldOptions{assume2d},
                        stats ? *stats : local);
}

}  // namespace tsopt
