// A graph as the interactive viewer reads it: nodes grouped by where they came from (the
// submodule and function calls they were inlined from, then the blocks of prim::If and
// prim::Loop), values with their types, and for each node a key that survives passes, so that the
// page can mark what a pass added, removed or changed. Layout happens in the page.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <nlohmann/json.hpp>
#include <string>

namespace tsopt {

/// How a graph is grouped for the viewer.
struct GraphViewOptions {
  /// A group with more direct members than this is split into runs of consecutive members
  /// ("nodes 1-100"), so that no level of the page lays out more than this many boxes.
  size_t maxGroupSize = 100;
};

/// The graph as JSON (the format is described in docs/dumps.md):
///   groups: [{name, kind: root|module|function|block|run, type, parent, key, owner}], group 0
///           the root, `owner` the prim::If or prim::Loop node of a block;
///   nodes:  [{g, kind, fam, args, attrs, in, out, src, k, s}], the graph's inputs and return as
///   nodes of
///           kind "input" and "return", each block's return as "block return";
///   values: [{n, t, p}] (p: the producing node, -1 for constants shown in their users' labels).
/// `k` is the number of the node's first output (Value::unique(), which a value keeps while
/// passes change the graph around it), `s` a digest of what the node reads: the same k with
/// another s is a node a pass changed.
nlohmann::json graphView(const torch::jit::Graph& graph, const GraphViewOptions& options = {});

}  // namespace tsopt
