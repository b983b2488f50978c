// Folding eval-mode BatchNorm into the producer of its input.
//
//   %y = aten::conv2d(%x, %w, %b, ...)              %w2 =
//   prim::GetAttr[name="_tsopt_folded_0_weight"](%self) %z = aten::batch_norm(%y, %g, %beta, %m,
//   %v,  ->  %b2 = prim::GetAttr[name="_tsopt_folded_0_bias"](%self)
//                         False, ..., %eps, ...)      %z = aten::conv2d(%x, %w2, %b2, ...)
//
// with w2 = w * s and b2 = (b - m) * s + beta, s = g / sqrt(v + eps) per output channel,
// computed in double. The new tensors are parameters of the root module (or constants when the
// weight was a constant, as in frozen models); nothing existing is written, so a conv module
// called twice, a BatchNorm shared by two convs and a weight shared by two convs stay correct.
#include "passes/builtin/bn_folding.h"

#include <ATen/ATen.h>

#include <unordered_set>

#include "passes/core/graph_utils.h"

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
enum BnInput { kInput = 0, kGamma, kBeta, kMean, kVar, kTraining, kMomentum, kEps };

/// Uses that read only a tensor's metadata, which folding leaves as it was (scripted BatchNorm
/// checks `input.dim()`; its training branch reads `input.size()`).
bool readsOnlyMetadata(const torch::jit::Use& use) {
  using namespace c10;
  static const std::unordered_set<Symbol> kinds = {
      aten::dim, aten::size, prim::dtype, prim::device, prim::layout, aten::is_floating_point};
  return kinds.count(use.user->kind()) > 0;
}

size_t valueUses(const Value* v) {
  size_t n = 0;
  for (const auto& use : v->uses()) n += readsOnlyMetadata(use) ? 0 : 1;
  return n;
}

/// A fixed `Tensor?` value: nullopt if not fixed, an undefined tensor for None.
std::optional<at::Tensor> fixedTensorOrNone(ValueResolver& resolver, Value* v) {
  auto iv = resolver.resolve(v);
  if (!iv || !(iv->isTensor() || iv->isNone())) return std::nullopt;
  return iv->isTensor() ? iv->toTensor() : at::Tensor();
}

/// An If on the way from producer to BatchNorm, and the branch its fixed condition takes.
struct FixedIf {
  Node* node;
  size_t branch;
};

class Folder {
 public:
  Folder(torch::jit::Module& module, Graph& graph, const FoldMatcher& match,
         const BnFoldOptions& options, Statistics& stats)
      : module_(module),
        graph_(graph),
        match_(match),
        options_(options),
        stats_(stats),
        nextName_(static_cast<int64_t>(module.type()->numAttributes())) {
    // New parameters go on the root module, unless another object shares its type (then every
    // instance would need the slot): fall back to constants.
    for (const auto& sub : module.modules()) {
      if (sub._ivalue() != module._ivalue() && sub.type() == module.type()) rootShared_ = true;
    }
  }

  bool run() {
    std::vector<Node*> bns;
    forEachNode(graph_.block(), [&](Node* n) {
      if (n->kind() == c10::aten::batch_norm) bns.push_back(n);
    });
    bool changed = false;
    for (Node* bn : bns) changed |= tryFold(bn);
    return changed;
  }

 private:
  /// Walks from the BatchNorm input back through Ifs with a fixed condition to the producer.
  /// Every value on the way must have exactly one use that reads its values, or folding would
  /// change what another user computes.
  Node* findProducer(Value* v, ValueResolver& resolver, std::vector<FixedIf>& ifs,
                     bool& otherUses) {
    while (true) {
      if (valueUses(v) != 1) {
        otherUses = true;
        return v->node();
      }
      Node* n = v->node();
      if (n->kind() != c10::prim::If) return n;
      auto branch = resolver.takenBranch(n);
      if (!branch) return n;
      ifs.push_back({n, *branch});
      v = n->blocks()[*branch]->outputs()[v->offset()];
    }
  }

  /// Moves the taken branch of a fixed If in front of it and removes the If.
  void hoistTakenBranch(const FixedIf& fixed) {
    Node* ifNode = fixed.node;
    Block* taken = ifNode->blocks()[fixed.branch];
    for (auto it = taken->nodes().begin(); it != taken->nodes().end();) {
      Node* n = *it++;
      n->moveBefore(ifNode);
    }
    for (size_t i = 0; i < ifNode->outputs().size(); ++i) {
      ifNode->output(i)->replaceAllUsesWith(taken->outputs()[i]);
    }
    ifNode->destroy();
    stats_.add("hoisted-ifs");
  }

  bool tryFold(Node* bn) {
    // A resolver per BatchNorm: its memo is keyed by Value*, which earlier folds may free.
    ValueResolver resolver(module_);
    std::vector<FixedIf> ifs;
    bool otherUses = false;
    Node* producer = findProducer(bn->input(kInput), resolver, ifs, otherUses);
    FoldTarget target;
    if (!match_(producer, resolver, target)) return false;
    if (target.unresolved) return skip("not-constant");
    if (otherUses) return skip("producer-output-used");

    auto mean = fixedTensorOrNone(resolver, bn->input(kMean));
    auto var = fixedTensorOrNone(resolver, bn->input(kVar));
    auto gamma = fixedTensorOrNone(resolver, bn->input(kGamma));
    auto beta = fixedTensorOrNone(resolver, bn->input(kBeta));
    auto bias = fixedTensorOrNone(resolver, producer->input(2));
    auto weightIv = resolver.resolve(producer->input(1));
    auto eps = resolver.resolve(bn->input(kEps));
    if (!mean || !var || !gamma || !beta || !bias || !weightIv || !weightIv->isTensor() || !eps ||
        !eps->isDouble()) {
      return skip("not-constant");
    }
    // Without running statistics BatchNorm uses batch statistics, even in eval mode.
    if (!mean->defined() || !var->defined()) return skip("no-running-stats");
    auto training = resolver.resolve(bn->input(kTraining));
    if (!training || !training->isBool()) return skip("training-unknown");
    if (training->toBool()) return skip("training");
    at::Tensor weight = weightIv->toTensor();

    if (target.requireRank2Input) {
      auto t = producer->input(0)->type()->cast<c10::TensorType>();
      auto rank = t ? t->dim() : c10::nullopt;
      if (rank && *rank != 2) return skip("input-not-2d");
      if (!rank && !options_.assume2d) return skip("input-rank-unknown");
    }
    int64_t outChannels = target.transposed ? weight.size(1) * target.groups : weight.size(0);
    auto wrongSize = [&](const at::Tensor& t) { return t.defined() && t.numel() != outChannels; };
    if (wrongSize(*mean) || wrongSize(*var) || wrongSize(*gamma) || wrongSize(*beta) ||
        wrongSize(*bias) || (target.transposed && weight.size(0) % target.groups != 0)) {
      return skip("shape-mismatch");
    }

    at::NoGradGuard noGrad;
    at::Tensor scale = var->to(at::kDouble).add(eps->toDouble()).rsqrt();
    if (gamma->defined()) scale.mul_(gamma->to(at::kDouble));
    at::Tensor shift =
        bias->defined() ? bias->to(at::kDouble) : at::zeros({outChannels}, at::kDouble);
    shift.sub_(mean->to(at::kDouble)).mul_(scale);
    if (beta->defined()) shift.add_(beta->to(at::kDouble));

    at::Tensor newWeight = scaleWeight(weight, scale.to(weight.scalar_type()), target);
    at::Tensor newBias = shift.to(bias->defined() ? bias->scalar_type() : weight.scalar_type());

    for (const FixedIf& fixed : ifs) hoistTakenBranch(fixed);
    bool asConstants = rootShared_ || producer->input(1)->node()->kind() == c10::prim::Constant;
    producer->replaceInput(1, materialize(newWeight, "weight", producer, asConstants));
    producer->replaceInput(2, materialize(newBias, "bias", producer, asConstants));
    bn->output()->replaceAllUsesWith(bn->input(kInput));
    bn->destroy();
    stats_.add("folded");
    return true;
  }

  /// weight * scale along the output-channel axis, in one pass over the weight.
  static at::Tensor scaleWeight(const at::Tensor& w, const at::Tensor& scale, const FoldTarget& t) {
    std::vector<int64_t> shape(w.dim(), 1);
    if (!t.transposed) {
      shape[0] = w.size(0);
      return w * scale.view(shape);
    }
    // [in, out/g, k...] seen as [g, in/g, out/g, k...]; scale as [g, 1, out/g, 1...].
    std::vector<int64_t> grouped = {t.groups, w.size(0) / t.groups};
    for (int64_t d = 1; d < w.dim(); ++d) grouped.push_back(w.size(d));
    std::vector<int64_t> scaleShape(grouped.size(), 1);
    scaleShape[0] = t.groups;
    scaleShape[2] = w.size(1);
    return (w.reshape(grouped) * scale.view(scaleShape)).reshape(w.sizes());
  }

  Value* materialize(const at::Tensor& t, const std::string& what, Node* before, bool constant) {
    torch::jit::WithInsertPoint guard(before);
    if (constant) return graph_.insertConstant(t);
    std::string name;
    do {
      name = "_tsopt_folded_" + std::to_string(nextName_++) + "_" + what;
    } while (module_.type()->hasAttribute(name));
    module_.register_parameter(name, t, /*is_buffer=*/false);
    return graph_.createGetAttr(graph_.inputs()[0], name)->insertBefore(before)->output();
  }

  bool skip(const std::string& reason) {
    stats_.add("skipped." + reason);
    return false;
  }

  torch::jit::Module& module_;
  Graph& graph_;
  const FoldMatcher& match_;
  BnFoldOptions options_;
  Statistics& stats_;
  int64_t nextName_;
  bool rootShared_ = false;
};

}  // namespace

bool foldBatchNorms(torch::jit::Module& module, Graph& graph, const FoldMatcher& match,
                    const BnFoldOptions& options, Statistics& stats) {
  return Folder(module, graph, match, options, stats).run();
}

}  // namespace tsopt
