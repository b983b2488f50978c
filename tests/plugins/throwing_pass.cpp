// Test plugin whose passes throw (always, or on a graph with a batch norm), and one that breaks
// the graph (lint must catch it).
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

/// Throws only on a graph holding aten::batch_norm: a failure `tsopt reduce` must keep one of.
class ThrowOnBatchNormPass : public tsopt::GraphPass {
 public:
  std::string name() const override { return "test-throw-on-batch-norm"; }
  std::string description() const override { return "throws if the graph has a batch norm"; }
  bool run(const std::shared_ptr<torch::jit::Graph>& g, tsopt::PassContext&) override {
    for (torch::jit::Node* n : g->nodes()) {
      if (n->kind() == c10::aten::batch_norm) throw std::runtime_error("found a batch norm");
    }
    return false;
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
  registry.add<ThrowOnBatchNormPass>();
  registry.add<BreakGraphPass>();
}

}  // namespace

TSOPT_PLUGIN("throwing", "1.0", registerPasses)
