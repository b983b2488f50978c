// Test plugin with a deliberately wrong pass: it treats aten::relu as the identity. It keeps the
// graph valid, so only numerical verification can catch it (`tsopt run --verify --bisect`).
#include "passes/core/plugin_api.h"

namespace {

class UnsafeDropReluPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return "unsafe-drop-relu"; }
  std::string description() const override { return "wrongly removes aten::relu (for tests)"; }
  bool run(const std::shared_ptr<torch::jit::Graph>& g, tsopt::PassContext& ctx) override {
    std::vector<torch::jit::Node*> relus;
    for (torch::jit::Node* n : g->nodes()) {
      if (n->kind() == c10::aten::relu) relus.push_back(n);
    }
    for (torch::jit::Node* n : relus) {
      n->output()->replaceAllUsesWith(n->input(0));
      n->destroy();
      ctx.stats.add("dropped");
    }
    return !relus.empty();
  }
};

void registerPasses(tsopt::PassRegistry& registry) { registry.add<UnsafeDropReluPass>(); }

}  // namespace

TSOPT_PLUGIN("unsafe", "1.0", registerPasses)
