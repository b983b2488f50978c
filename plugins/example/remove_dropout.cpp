// Example out-of-tree pass, built as a plugin: removes dropout calls that are provably in
// eval mode (train is a constant false, or self...training of a module in eval mode).
//
//   %t : bool = prim::GetAttr[name="training"](%drop)    (drop.training == False)
//   %y = aten::dropout(%x, %p, %t)                   ->   uses of %y become %x
#include "passes/core/graph_utils.h"
#include "passes/core/plugin_api.h"

namespace {

class RemoveEvalDropoutPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return "example-remove-dropout"; }
  std::string description() const override {
    return "Example plugin pass: remove dropout calls that run in eval mode";
  }
  bool run(const std::shared_ptr<torch::jit::Graph>& graph, tsopt::PassContext& ctx) override {
    bool changed = false;
    tsopt::forEachNode(graph->block(), [&](torch::jit::Node* n) {
      // In eval mode every variant is the identity (the in-place ones write nothing).
      static const std::vector<c10::Symbol> kinds = {c10::aten::dropout,
                                                     c10::aten::dropout_,
                                                     c10::aten::feature_dropout,
                                                     c10::aten::feature_dropout_,
                                                     c10::aten::alpha_dropout,
                                                     c10::aten::alpha_dropout_,
                                                     c10::aten::feature_alpha_dropout,
                                                     c10::aten::feature_alpha_dropout_};
      if (std::find(kinds.begin(), kinds.end(), n->kind()) == kinds.end()) return;
      // A fresh resolver per node: its memo must not outlive the nodes this pass destroys.
      auto train = tsopt::ValueResolver(ctx.module).resolve(n->input(2));
      if (!train || !train->isBool() || train->toBool()) {
        ctx.stats.add("skipped.training");
        return;
      }
      n->output()->replaceAllUsesWith(n->input(0));
      n->destroy();
      ctx.stats.add("removed");
      changed = true;
    });
    return changed;
  }
};

void registerPasses(tsopt::PassRegistry& registry) {
  registry.add<RemoveEvalDropoutPass>("example-plugin");
}

}  // namespace

TSOPT_PLUGIN("example", "1.0", registerPasses)
