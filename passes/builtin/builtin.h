// Plain-function entry points of the built-in passes, usable without the framework
// (no registry, no pipeline): each returns true if it changed the graph.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <string>
#include <vector>

#include "passes/core/pass.h"

namespace tsopt {

/// Which calls `inlineCalls` expands.
struct InlineOptions {
  /// Only calls into these module types or functions (qualified name or its last component).
  std::vector<std::string> only;
  /// Never calls into these.
  std::vector<std::string> skip;
  /// Levels of calls to expand; -1 for no limit. 1 expands only the graph's own calls.
  int64_t maxDepth = -1;
};

/// Expands prim::CallMethod and prim::CallFunction in `graph` (nested blocks included),
/// recursively. Each callee is prepared once. Counts "inlined" (call sites in the result),
/// "prepared" (callee graphs built), "skipped.interface", "skipped.filtered", "skipped.depth",
/// "skipped.not-graph-function" in `stats`.
bool inlineCalls(torch::jit::Graph& graph, const InlineOptions& options, Statistics* stats);

/// A copy of the graph of `method` of `module` with every call inlined (the module's own graphs
/// are left as they are); throws tsopt::Error listing the methods if `method` is missing.
std::shared_ptr<torch::jit::Graph> inlinedCopy(const torch::jit::Module& module,
                                               const std::string& method);

/// Removes nodes whose results are unused and that have no observable effect, nested blocks
/// included, with unused prim::If outputs and prim::Loop carried values. Alias-aware: keeps
/// writes to anything live after them, to graph inputs and outputs. Counts "removed",
/// "removed.if-outputs", "removed.loop-carried" in `stats`.
bool eliminateDeadCode(torch::jit::Graph& graph, Statistics* stats);

/// Folds each eval-mode aten::batch_norm into the convolution producing its input (conv1d/2d/3d,
/// conv_transpose1d/2d/3d, _convolution, convolution). The folded weight and bias are new
/// parameters of `module` (new constants where the weight was a constant); existing tensors are
/// never written. Counts "folded" and "skipped.<reason>" in `stats`.
bool foldConvBatchNorm(torch::jit::Module& module, torch::jit::Graph& graph, Statistics* stats);

/// The same for aten::linear followed by BatchNorm1d. The linear input must be known to be 2-d,
/// or `assume2d` set.
bool foldLinearBatchNorm(torch::jit::Module& module, torch::jit::Graph& graph, bool assume2d,
                         Statistics* stats);

/// Turns each aten::linear whose weight is a 2-d constant, read by nothing else and sharing its
/// storage with no other tensor, into aten::matmul with the weight stored transposed (plus
/// aten::add of the bias). Counts "transposed", "skipped.weight-kept" and "skipped.not-2d".
bool transposeFrozenLinears(torch::jit::Graph& graph, Statistics* stats);

/// Removes from `module` every submodule, parameter, buffer, attribute and method that `methods`
/// (of the root) cannot reach, and makes equal tensor constants in their graphs share one tensor.
/// Instances sharing a type keep what any of them needs. Counts "removed.submodules",
/// "removed.attributes", "removed.methods", "removed.bytes" (of distinct tensor storages),
/// "merged.constants" and "merged.bytes" in `stats`; says in `warnings` which public methods of
/// the root it removed. Without `keepDebugInfo`, the nodes of what is kept also lose their
/// source ranges (the Python lines tracebacks quote; the saved `.debug_pkl` records), counted as
/// "removed.source-ranges".
bool stripModule(torch::jit::Module& module, const std::vector<std::string>& methods,
                 Statistics* stats, std::vector<std::string>* warnings, bool keepDebugInfo = true);

/// Rewrites each call of an operator LibTorch 1.13 lacks and 2.x has (scaled_dot_product_attention,
/// rms_norm, squeeze.dims) into operators 1.13 has, folds the non-tensor constants it passed and
/// removes what is dead. Counts "backported.OP" and "left.OP" (a form not taken) in `stats`.
bool backportOperators(const std::shared_ptr<torch::jit::Graph>& graph, Statistics* stats);

}  // namespace tsopt
