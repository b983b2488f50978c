// Test plugin whose pass throws, and one that breaks the graph (lint must catch it).
#include "passes/core/plugin_api.h"

namespace {

class ThrowingPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return "test-throw"; }
  std::string description() const override { return "always throws"; }
  bool run(const std::shared_ptr<torch::jit::Graph>&, tsopt::PassContext&) override {
    throw std::runtime_error("deliberate failure");
  }
};

/// Adds a node at the top of the graph that uses the graph's result: defined after its use.
class BreakGraphPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return "test-break-graph"; }
  std::string description() const override { return "leaves a use before its definition"; }
  bool run(const std::shared_ptr<torch::jit::Graph>& g, tsopt::PassContext&) override {
    torch::jit::Value* result = g->outputs()[0];
    torch::jit::Node* n = g->create(c10::prim::TupleConstruct, {result});
    n->insertBefore(g->block()->nodes().front());
    return true;
  }
};

void registerPasses(tsopt::PassRegistry& registry) {
  registry.add<ThrowingPass>();
  registry.add<BreakGraphPass>();
}

}  // namespace

TSOPT_PLUGIN("throwing", "1.0", registerPasses)
