// Shared machinery of fold-conv-bn and fold-linear-bn: find the producer of a BatchNorm's
// input (through Ifs whose condition is known), read BatchNorm and weight values from constants
// or module attributes, and write the folded weight and bias as new parameters or constants.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>

#include "passes/core/graph_utils.h"
#include "passes/core/pass.h"

namespace tsopt {

/// How a producer's weight is laid out, given the producer node.
struct FoldTarget {
  bool unresolved = false;  ///< the kind matches but its layout arguments are not constants
  bool transposed = false;  ///< weight is [in, out/groups, k...] instead of [out, in/groups, k...]
  int64_t groups = 1;
  bool requireRank2Input = false;  ///< linear: BatchNorm1d normalises dim 1 only for 2-d input
};

/// Decides whether `producer` is a node this pass folds into; fills `target` if so.
using FoldMatcher =
    std::function<bool(torch::jit::Node* producer, ValueResolver& resolver, FoldTarget& target)>;

/// Options shared by the folding passes.
struct BnFoldOptions {
  /// linear only: fold even when the input rank is unknown (assume a 2-d input).
  bool assume2d = false;
};

/// How many new parameters go in one holder submodule (`_tsopt_folded`, `_tsopt_folded_1`, ...).
inline constexpr size_t kFoldedParametersPerHolder = 64;

/// Folds every eval-mode aten::batch_norm in `graph` (nested blocks too) whose input comes from
/// a node `match` accepts. Folded weights are new tensors: existing parameters are never written.
bool foldBatchNorms(torch::jit::Module& module, torch::jit::Graph& graph, const FoldMatcher& match,
                    const BnFoldOptions& options, Statistics& stats);

}  // namespace tsopt
