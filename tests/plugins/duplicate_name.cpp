// Test plugin registering a fresh pass and one whose name a built-in pass already has.
#include "passes/core/plugin_api.h"

namespace {

template <const char* Name>
class NoOpPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return Name; }
  std::string description() const override { return "does nothing"; }
  bool run(const std::shared_ptr<torch::jit::Graph>&, tsopt::PassContext&) override {
    return false;
  }
};

constexpr char kFresh[] = "fresh-test-pass";
constexpr char kTaken[] = "dce";

void registerPasses(tsopt::PassRegistry& registry) {
  registry.add<NoOpPass<kFresh>>();
  registry.add<NoOpPass<kTaken>>();
}

}  // namespace

TSOPT_PLUGIN("duplicate-name", "1.0", registerPasses)
