// Folding eval-mode BatchNorm into the producer of its input:
//
//   %y = aten::conv2d(%x, %w, %b, ...)                 %w2 = prim::GetAttr[name="conv_weight"](%f)
//   %z = aten::batch_norm(%y, %g, %beta, %m, %v,  ->   %b2 = prim::GetAttr[name="conv_bias"](%f)
//                         False, ..., %eps, ...)       %z = aten::conv2d(%x, %w2, %b2, ...)
//
// with w2 = w * s and b2 = (b - m) * s + beta, s = g / sqrt(v + eps) per output channel,
// computed in double. The new tensors are parameters of a new submodule of the root,
// `%f = prim::GetAttr[name="_tsopt_folded"](%self)`, named after the weight they replace (or
// constants when the weight was a constant, as in frozen models). Nothing existing is written, so
// a conv module called twice, a BatchNorm shared by two convs and a weight shared by two convs
// stay correct.
#include "passes/builtin/bn_folding.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <array>
#include <map>
#include <tuple>
#include <unordered_set>

#include "passes/core/graph_utils.h"
#include "passes/core/module_copy.h"

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

/// The uses of `v` that read its values and may run: a use in a branch that fixed attributes
/// never take (torchvision's IntermediateLayerGetter stores a layer's output only
/// `if name in self.return_layers`) sees nothing of what folding changes.
/// (Where `v` itself never runs, its uses are counted as they are: each would be dropped too.)
size_t valueUses(Value* v, ValueResolver& resolver) {
  const bool runs = !resolver.neverRuns(v->node());
  size_t n = 0;
  for (const auto& use : v->uses()) {
    n += readsOnlyMetadata(use) || (runs && resolver.neverRuns(use.user)) ? 0 : 1;
  }
  return n;
}

/// A fixed `Tensor?` value: nullopt if not fixed, an undefined tensor for None.
std::optional<at::Tensor> fixedTensorOrNone(ValueResolver& resolver, Value* v) {
  auto iv = resolver.resolve(v);
  if (!iv || !(iv->isTensor() || iv->isNone())) return std::nullopt;
  return iv->isTensor() ? iv->toTensor() : at::Tensor();
}

/// Calls `fn(scalar_t*)` with `t`'s data as its floating element type.
template <typename Fn>
void withFloatingData(const at::Tensor& t, Fn&& fn) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "tsopt_fold",
                                  [&] { fn(t.data_ptr<scalar_t>()); });
}

/// dst[i] = src[i] * s, in double and rounded once.
template <typename T>
inline void scaleRow(const T* src, T* dst, int64_t n, double s) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<T>(static_cast<double>(src[i]) * s);
}

/// The same for float, the common case, also built for AVX2 and picked at load time (the
/// template is inlined into each clone): the baseline x86-64 build converts and multiplies two
/// elements at a time. Folding DenseNet-121 took 51.5 M instructions without the AVX2 clone,
/// 13.8 M with it (callgrind). Clang cannot clone templates, hence the overload.
__attribute__((target_clones("avx2", "default"))) void scaleRow(const float* src, float* dst,
                                                                int64_t n, double s) {
  scaleRow<float>(src, dst, n, s);
}

/// A 1-d tensor's values as doubles; empty for an undefined tensor (None).
std::vector<double> toDoubles(const at::Tensor& t) {
  std::vector<double> out(t.defined() ? t.numel() : 0);
  if (out.empty()) return out;
  const int64_t stride = t.stride(0);
  withFloatingData(t, [&](const auto* p) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i * stride]);
  });
  return out;
}

/// A new 1-d tensor of `dtype` holding `values`.
at::Tensor fromDoubles(const std::vector<double>& values, at::ScalarType dtype) {
  at::Tensor t = at::empty({static_cast<int64_t>(values.size())}, at::dtype(dtype));
  withFloatingData(t, [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
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
        resolver_(module) {}

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
  Node* findProducer(Value* v, std::vector<FixedIf>& ifs, bool& otherUses) {
    while (true) {
      if (valueUses(v, resolver_) != 1) {
        otherUses = true;
        return v->node();
      }
      Node* n = v->node();
      if (n->kind() != c10::prim::If) return n;
      auto branch = resolver_.takenBranch(n);
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
    // Earlier folds changed the graph: memoised values may belong to freed nodes.
    resolver_.forgetValues();
    std::vector<FixedIf> ifs;
    bool otherUses = false;
    Node* producer = findProducer(bn->input(kInput), ifs, otherUses);
    FoldTarget target;
    if (!match_(producer, resolver_, target)) return false;
    if (target.unresolved) return skip("not-constant");
    if (otherUses) return skip("producer-output-used");

    auto mean = fixedTensorOrNone(resolver_, bn->input(kMean));
    auto var = fixedTensorOrNone(resolver_, bn->input(kVar));
    auto gamma = fixedTensorOrNone(resolver_, bn->input(kGamma));
    auto beta = fixedTensorOrNone(resolver_, bn->input(kBeta));
    auto bias = fixedTensorOrNone(resolver_, producer->input(2));
    auto weightIv = resolver_.resolve(producer->input(1));
    auto eps = resolver_.resolve(bn->input(kEps));
    if (!mean || !var || !gamma || !beta || !bias || !weightIv || !weightIv->isTensor() || !eps ||
        !eps->isDouble()) {
      return skip("not-constant");
    }
    // Without running statistics BatchNorm uses batch statistics, even in eval mode.
    if (!mean->defined() || !var->defined()) return skip("no-running-stats");
    auto training = resolver_.resolve(bn->input(kTraining));
    if (!training || !training->isBool()) return skip("training-unknown");
    if (training->toBool()) return skip("training");
    at::Tensor weight = weightIv->toTensor();

    if (target.requireRank2Input) {
      auto t = producer->input(0)->type()->cast<c10::TensorType>();
      auto rank = t ? t->dim() : c10::nullopt;
      if (rank && *rank != 2) return skip("input-not-2d");
      if (!rank && !options_.assume2d) return skip("input-rank-unknown");
    }
    if (weight.dim() < 2) return skip("shape-mismatch");
    int64_t outChannels = target.transposed ? weight.size(1) * target.groups : weight.size(0);
    auto wrongSize = [&](const at::Tensor& t) {
      return t.defined() && (t.dim() != 1 || t.numel() != outChannels);
    };
    if (wrongSize(*mean) || wrongSize(*var) || wrongSize(*gamma) || wrongSize(*beta) ||
        wrongSize(*bias) || (target.transposed && weight.size(0) % target.groups != 0)) {
      return skip("shape-mismatch");
    }
    for (const at::Tensor* t : {&weight, &*mean, &*var, &*gamma, &*beta, &*bias}) {
      if (t->defined() && (!t->device().is_cpu() || !at::isFloatingType(t->scalar_type()))) {
        return skip("not-cpu-floating");
      }
    }

    // The same producer weights and BatchNorm met again (the two branches of an If that calls
    // one block either way, as scripted MobileNetV2's residual blocks do): use the same folded
    // tensors, so that the model holds them once.
    FoldKey key{
        {weight.unsafeGetTensorImpl(), bias->unsafeGetTensorImpl(), mean->unsafeGetTensorImpl(),
         var->unsafeGetTensorImpl(), gamma->unsafeGetTensorImpl(), beta->unsafeGetTensorImpl()},
        eps->toDouble(),
        target.transposed,
        target.groups};
    auto known = folded_.find(key);
    if (known == folded_.end()) {
      // s = gamma / sqrt(var + eps), shift = (bias - mean) * s + beta, per channel, in double.
      std::vector<double> scale = toDoubles(*var);
      std::vector<double> shift =
          bias->defined() ? toDoubles(*bias) : std::vector<double>(outChannels, 0.0);
      std::vector<double> g = toDoubles(*gamma), b = toDoubles(*beta), m = toDoubles(*mean);
      for (int64_t c = 0; c < outChannels; ++c) {
        scale[c] = 1.0 / std::sqrt(scale[c] + eps->toDouble());
        if (!g.empty()) scale[c] *= g[c];
        shift[c] = (shift[c] - m[c]) * scale[c] + (b.empty() ? 0.0 : b[c]);
      }
      at::Tensor newWeight = scaleWeight(weight, scale, target);
      at::Tensor newBias =
          fromDoubles(shift, bias->defined() ? bias->scalar_type() : weight.scalar_type());

      Folded result{newWeight, newBias, nullptr, "", ""};
      Value* oldWeight = producer->input(1);
      if (oldWeight->node()->kind() != c10::prim::Constant) {
        std::string base = parameterBaseName(oldWeight);
        result.holder = newParameter(newWeight, base + "_weight", result.weightName);
        newParameter(newBias, base + "_bias", result.biasName);
      }
      known = folded_.emplace(key, std::move(result)).first;
    } else {
      stats_.add("folded.shared");
    }
    for (const FixedIf& fixed : ifs) hoistTakenBranch(fixed);
    rewire(producer, known->second);
    bn->output()->replaceAllUsesWith(bn->input(kInput));
    bn->destroy();
    stats_.add("folded");
    return true;
  }

  /// weight * scale[output channel], computed in double and rounded once, in one parallel
  /// pass over the weight. A weight is [out, in/g, k...], or [in, out/g, k...] when transposed:
  /// seen as rows of its trailing kernel elements, row r belongs to channel r (plain) or to
  /// channel (r / (in/g * out/g)) * out/g + r % (out/g) (transposed).
  static at::Tensor scaleWeight(const at::Tensor& weight, const std::vector<double>& scale,
                                const FoldTarget& t) {
    at::Tensor w = weight.contiguous();
    at::Tensor out = emptyPrefaulted(w.sizes(), w.options());
    if (w.numel() == 0) return out;
    const int64_t rowLength = w.numel() / (t.transposed ? w.size(0) * w.size(1) : w.size(0));
    const int64_t rows = w.numel() / rowLength;
    const int64_t perGroup = w.size(1);                            // transposed: out/g
    const int64_t rowsPerGroup = w.size(0) / t.groups * perGroup;  // transposed: in/g * out/g
    auto channel = [&](int64_t row) {
      return t.transposed ? row / rowsPerGroup * perGroup + row % perGroup : row;
    };
    withFloatingData(w, [&](const auto* src) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
      T* dst = out.data_ptr<T>();
      int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / rowLength);
      at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          scaleRow(src + r * rowLength, dst + r * rowLength, rowLength, scale[channel(r)]);
        }
      });
    });
    return out;
  }

  /// The weight's attribute path without its last name, joined by '_' ("layer1_0_conv1").
  static std::string parameterBaseName(const Value* weight) {
    auto path = attrPath(weight);
    if (!path || path->size() < 2) return "folded";
    std::string base = (*path)[0];
    for (size_t i = 1; i + 1 < path->size(); ++i) base += "_" + (*path)[i];
    return base;
  }

  /// A fold's results: constants, or parameters `weightName` and `biasName` of the holder read
  /// as `holder` at the top of the graph.
  struct Folded {
    at::Tensor weight, bias;
    Value* holder;  ///< nullptr: the results are constants
    std::string weightName, biasName;
  };

  /// What identifies a fold: the producer's weight and bias and the BatchNorm's tensors (by
  /// identity), eps and the weight's layout.
  struct FoldKey {
    std::array<const c10::TensorImpl*, 6> tensors;
    double eps;
    bool transposed;
    int64_t groups;
    bool operator<(const FoldKey& o) const {
      return std::tie(tensors, eps, transposed, groups) <
             std::tie(o.tensors, o.eps, o.transposed, o.groups);
    }
  };

  /// Makes `producer` read the folded weight and bias.
  void rewire(Node* producer, const Folded& f) {
    torch::jit::WithInsertPoint guard(producer);
    if (!f.holder) {
      producer->replaceInput(1, graph_.insertConstant(f.weight));
      producer->replaceInput(2, graph_.insertConstant(f.bias));
    } else {
      producer->replaceInput(1, graph_.insertGetAttr(f.holder, f.weightName));
      producer->replaceInput(2, graph_.insertGetAttr(f.holder, f.biasName));
    }
  }

  /// Registers `t` under a name unique in the current holder (starting a new holder when it is
  /// full); returns the holder's value and sets `name`.
  Value* newParameter(const at::Tensor& t, const std::string& base, std::string& name) {
    if (!holder_ || holder_->names.size() >= kFoldedParametersPerHolder) holder_ = newHolder();
    name = base;
    for (int i = 2; holder_->names.count(name) > 0; ++i) name = base + "_" + std::to_string(i);
    holder_->names.insert(name);
    holder_->module.register_parameter(name, t, /*is_buffer=*/false);
    return holder_->value;
  }

  /// A new parameter-only submodule of the root, `_tsopt_folded` (or `_tsopt_folded_N`), read
  /// once at the top of the graph. ClassType finds and adds attributes by linear scans, so
  /// bounding each holder (and adding few attributes to the root) keeps folding linear. The
  /// root's type gains the holder as an attribute: no other object of a loaded model has that
  /// type (a module type cannot contain itself, and each loaded model has types of its own).
  struct Holder {
    torch::jit::Module module;
    Value* value;
    std::unordered_set<std::string> names;
  };

  Holder newHolder() {
    if (rootNames_.empty()) {
      for (size_t i = 0; i < module_.type()->numAttributes(); ++i) {
        rootNames_.insert(module_.type()->getAttributeName(i));
      }
    }
    std::string name = "_tsopt_folded";
    while (rootNames_.count(name) > 0) name = "_tsopt_folded_" + std::to_string(nextHolder_++);
    rootNames_.insert(name);
    torch::jit::Module holder(c10::QualifiedName("__torch__.tsopt.FoldedParameters"),
                              module_._ivalue()->compilation_unit(), /*shouldMangle=*/true);
    module_.register_module(name, holder);
    Node* get = graph_.createGetAttr(graph_.inputs()[0], name);
    if (holder_) {
      get->insertAfter(holder_->value->node());  // holders are read in the order they were made
    } else {
      graph_.prependNode(get);
    }
    get->output()->setDebugName(name);
    return Holder{holder, get->output(), {}};
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
  ValueResolver resolver_;
  std::optional<Holder> holder_;
  std::map<FoldKey, Folded> folded_;
  std::unordered_set<std::string> rootNames_;  // filled when the first holder is made
  int64_t nextHolder_ = 1;
};

}  // namespace

bool foldBatchNorms(torch::jit::Module& module, Graph& graph, const FoldMatcher& match,
                    const BnFoldOptions& options, Statistics& stats) {
  return Folder(module, graph, match, options, stats).run();
}

}  // namespace tsopt
