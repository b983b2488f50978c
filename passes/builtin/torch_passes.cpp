// LibTorch's own graph passes, registered as "torch-<name>" so pipelines can mix them with ours
// and benchmarks and tests can compare against them.
#include <torch/csrc/jit/passes/common_subexpression_elimination.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/peephole.h>

#include <functional>

#include "passes/core/registry.h"

namespace tsopt {

namespace {

using GraphPtr = std::shared_ptr<torch::jit::Graph>;

/// For LibTorch passes that do not say whether they changed anything: compare the IR text.
bool changedBy(const GraphPtr& g, const std::function<void(GraphPtr&)>& fn) {
  std::string before = g->toString(false);
  GraphPtr copy = g;
  fn(copy);
  return copy->toString(false) != before;
}

class TorchInlinePass : public Pass {
 public:
  std::string name() const override { return "torch-inline"; }
  std::string description() const override {
    return "LibTorch's Inline: inline all calls (callees are pre-optimized first)";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::Inline(*x); });
  }
};

class TorchDcePass : public Pass {
 public:
  std::string name() const override { return "torch-dce"; }
  std::string description() const override {
    return "LibTorch's EliminateDeadCode: remove unused nodes without side effects";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::EliminateDeadCode(x); });
  }
};

class TorchConstantPropagationPass : public Pass {
 public:
  std::string name() const override { return "torch-constant-propagation"; }
  std::string description() const override {
    return "LibTorch's ConstantPropagation: evaluate nodes whose inputs are all constants";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    GraphPtr x = g;
    return torch::jit::ConstantPropagation(x);
  }
};

class TorchCsePass : public Pass {
 public:
  std::string name() const override { return "torch-cse"; }
  std::string description() const override {
    return "LibTorch's EliminateCommonSubexpression: merge identical pure computations";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return torch::jit::EliminateCommonSubexpression(g);
  }
};

class TorchPeepholePass : public Pass {
 public:
  std::string name() const override { return "torch-peephole"; }
  std::string description() const override {
    return "LibTorch's PeepholeOptimize: local algebraic and shape simplifications";
  }
  bool run(const GraphPtr& g, PassContext&) override { return torch::jit::PeepholeOptimize(g); }
};

class TorchConstantPoolingPass : public Pass {
 public:
  std::string name() const override { return "torch-constant-pooling"; }
  std::string description() const override {
    return "LibTorch's ConstantPooling: deduplicate constants and hoist them to the top";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::ConstantPooling(x); });
  }
};

TSOPT_REGISTER_PASS(TorchInlinePass);
TSOPT_REGISTER_PASS(TorchDcePass);
TSOPT_REGISTER_PASS(TorchConstantPropagationPass);
TSOPT_REGISTER_PASS(TorchCsePass);
TSOPT_REGISTER_PASS(TorchPeepholePass);
TSOPT_REGISTER_PASS(TorchConstantPoolingPass);

}  // namespace

}  // namespace tsopt
