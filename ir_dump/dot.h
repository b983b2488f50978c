// Graphs as Graphviz DOT, and DOT rendered to SVG or PNG in-process through Graphviz's library.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <unordered_set>

namespace tsopt {

/// How a graph is drawn.
struct DotOptions {
  std::string title;
  /// Draw at most this many nodes (0: all); a note says how many were left out.
  size_t maxNodes = 0;
  /// Nodes to highlight (those a pass added).
  std::unordered_set<const torch::jit::Node*> highlight;
};

/// The graph as DOT: one node per IR node labelled with its kind, constant arguments and output
/// types (sizes where known); constants folded into their users' labels rather than drawn;
/// graph inputs and outputs as distinct shapes; each block of a prim::If or prim::Loop a
/// cluster; op families coloured (see docs/dumps.md).
std::string graphToDot(const torch::jit::Graph& graph, const DotOptions& options = {});

/// Lays `dot` out with Graphviz's dot engine and renders it as `format` ("svg" or "png"), in a
/// child process, so that an abort inside Graphviz is an error and not the end of tsopt. Throws
/// tsopt::Error if Graphviz rejects the text, cannot render the format, or crashes.
std::string renderDot(const std::string& dot, const std::string& format);

}  // namespace tsopt
