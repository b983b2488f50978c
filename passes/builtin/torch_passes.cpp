// LibTorch's own graph passes, registered as "torch-<name>" so pipelines can mix them with ours
// and benchmarks and tests can compare against them.
#include <torch/csrc/jit/passes/common_subexpression_elimination.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_conv_folding.h>
#include <torch/csrc/jit/passes/frozen_linear_transpose.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/peephole.h>
#include <torch/csrc/jit/passes/remove_dropout.h>

#include <functional>
#include <unordered_map>

#include "passes/core/error.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

using GraphPtr = std::shared_ptr<torch::jit::Graph>;

/// A fingerprint of a graph's structure: node kinds in order, which values (numbered in order
/// of definition, so that a pass that renumbers values changes nothing) each node reads and
/// defines, nested blocks. Adding, removing, moving or rewiring a node changes it; computing it
/// is much cheaper than printing the graph.
class StructureHash {
 public:
  size_t of(const torch::jit::Block* block) {
    for (const torch::jit::Value* v : block->inputs()) define(v);
    for (const torch::jit::Node* n : block->nodes()) {
      mix(static_cast<size_t>(n->kind()));
      for (const torch::jit::Value* v : n->inputs()) mix(number(v));
      for (const torch::jit::Block* b : n->blocks()) mix(of(b));
      for (const torch::jit::Value* v : n->outputs()) define(v);
    }
    for (const torch::jit::Value* v : block->outputs()) mix(number(v));
    return h_;
  }

 private:
  void mix(size_t x) { h_ = h_ * 1000003u ^ x; }
  void define(const torch::jit::Value* v) {
    mix(numbers_.emplace(v, numbers_.size()).first->second);
  }
  size_t number(const torch::jit::Value* v) {
    auto it = numbers_.find(v);
    return it == numbers_.end() ? SIZE_MAX : it->second;
  }

  size_t h_ = 0;
  std::unordered_map<const torch::jit::Value*, size_t> numbers_;
};

/// For LibTorch passes that do not say whether they changed anything: compare fingerprints.
bool changedBy(const GraphPtr& g, const std::function<void(GraphPtr&)>& fn) {
  size_t before = StructureHash().of(g->block());
  GraphPtr copy = g;
  fn(copy);
  return StructureHash().of(copy->block()) != before;
}

class TorchInlinePass : public GraphPass {
 public:
  std::string name() const override { return "torch-inline"; }
  std::string description() const override {
    return "LibTorch's Inline: inline all calls (callees are pre-optimized first)";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::Inline(*x); });
  }
};

class TorchDcePass : public GraphPass {
 public:
  std::string name() const override { return "torch-dce"; }
  std::string description() const override {
    return "LibTorch's EliminateDeadCode: remove unused nodes without side effects";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::EliminateDeadCode(x); });
  }
};

class TorchConstantPropagationPass : public GraphPass {
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

class TorchCsePass : public GraphPass {
 public:
  std::string name() const override { return "torch-cse"; }
  std::string description() const override {
    return "LibTorch's EliminateCommonSubexpression: merge identical pure computations";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return torch::jit::EliminateCommonSubexpression(g);
  }
};

class TorchPeepholePass : public GraphPass {
 public:
  std::string name() const override { return "torch-peephole"; }
  std::string description() const override {
    return "LibTorch's PeepholeOptimize: local algebraic and shape simplifications";
  }
  bool run(const GraphPtr& g, PassContext&) override { return torch::jit::PeepholeOptimize(g); }
};

class TorchConstantPoolingPass : public GraphPass {
 public:
  std::string name() const override { return "torch-constant-pooling"; }
  std::string description() const override {
    return "LibTorch's ConstantPooling: deduplicate constants and hoist them to the top";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::ConstantPooling(x); });
  }
};

/// Replaces the module with a frozen copy that keeps every method of the run.
class TorchFreezePass : public ModulePass {
 public:
  std::string name() const override { return "torch-freeze"; }
  std::vector<std::string> traits() const override { return {"freezes"}; }
  std::string description() const override {
    return "LibTorch's freeze_module: inline everything and turn attributes into constants "
           "(eval-mode models; keeps every --method)";
  }
  bool run(torch::jit::Module& module, ModulePassContext& ctx) override {
    if (module.hasattr("training") && module.is_training()) {
      throw Error(
          "the model is in training mode; freezing needs eval mode (save it after "
          "model.eval())");
    }
    std::vector<std::string> keep(ctx.methods.begin() + 1, ctx.methods.end());
    module = torch::jit::freeze_module(module, keep);
    return true;
  }
};

/// The frozen-graph folds of LibTorch: they read the weights as constants.
template <bool (*Fold)(GraphPtr&), const char* Name, const char* Description>
class TorchFrozenFoldPass : public GraphPass {
 public:
  std::string name() const override { return Name; }
  std::string description() const override { return Description; }
  bool run(const GraphPtr& g, PassContext&) override {
    GraphPtr x = g;
    return Fold(x);
  }
};

constexpr char kConvBn[] = "torch-fold-frozen-conv-bn";
constexpr char kConvBnHelp[] =
    "LibTorch's FoldFrozenConvBatchnorm: fold BatchNorm into convolutions (frozen models)";
constexpr char kConvAdd[] = "torch-fold-frozen-conv-add-or-sub";
constexpr char kConvAddHelp[] =
    "LibTorch's FoldFrozenConvAddOrSub: fold adding or subtracting a constant into the "
    "convolution's bias (frozen models)";
constexpr char kConvMul[] = "torch-fold-frozen-conv-mul-or-div";
constexpr char kConvMulHelp[] =
    "LibTorch's FoldFrozenConvMulOrDiv: fold multiplying or dividing by a constant into the "
    "convolution's weights (frozen models)";
constexpr char kLinearT[] = "torch-transpose-frozen-linear";
constexpr char kLinearTHelp[] =
    "LibTorch's FrozenLinearTranspose: a linear with a constant weight becomes a matmul with "
    "the weight transposed once (frozen models; BLAS reads the weight in order)";
using TorchFoldFrozenConvBnPass =
    TorchFrozenFoldPass<torch::jit::FoldFrozenConvBatchnorm, kConvBn, kConvBnHelp>;
using TorchFoldFrozenConvAddPass =
    TorchFrozenFoldPass<torch::jit::FoldFrozenConvAddOrSub, kConvAdd, kConvAddHelp>;
using TorchFoldFrozenConvMulPass =
    TorchFrozenFoldPass<torch::jit::FoldFrozenConvMulOrDiv, kConvMul, kConvMulHelp>;
using TorchTransposeFrozenLinearPass =
    TorchFrozenFoldPass<torch::jit::FrozenLinearTranspose, kLinearT, kLinearTHelp>;

class TorchRemoveDropoutPass : public GraphPass {
 public:
  std::string name() const override { return "torch-remove-dropout"; }
  std::string description() const override {
    return "LibTorch's removeDropout: drop dropout calls whose training flag is constant false";
  }
  bool run(const GraphPtr& g, PassContext&) override {
    return changedBy(g, [](GraphPtr& x) { torch::jit::removeDropout(x); });
  }
};

TSOPT_REGISTER_PASS(TorchFoldFrozenConvBnPass);
TSOPT_REGISTER_PASS(TorchFoldFrozenConvAddPass);
TSOPT_REGISTER_PASS(TorchFoldFrozenConvMulPass);
TSOPT_REGISTER_PASS(TorchTransposeFrozenLinearPass);
TSOPT_REGISTER_PASS(TorchFreezePass);
TSOPT_REGISTER_PASS(TorchRemoveDropoutPass);
TSOPT_REGISTER_PASS(TorchInlinePass);
TSOPT_REGISTER_PASS(TorchDcePass);
TSOPT_REGISTER_PASS(TorchConstantPropagationPass);
TSOPT_REGISTER_PASS(TorchCsePass);
TSOPT_REGISTER_PASS(TorchPeepholePass);
TSOPT_REGISTER_PASS(TorchConstantPoolingPass);

}  // namespace

}  // namespace tsopt
