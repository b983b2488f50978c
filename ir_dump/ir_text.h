// Text views of a method: LibTorch's IR printout, the canonical IR that dumps, diffs and golden
// files use, and the Python-like TorchScript code.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

namespace tsopt {

/// The graph as LibTorch prints it, without source locations.
std::string graphText(const torch::jit::Graph& graph);

/// The graph in canonical form: values renamed %0, %1, ... in order of definition (graph inputs
/// first, a node's outputs before the contents of its blocks) and no source locations, so the
/// same graph always prints the same, whatever names tracing, scripting or passes gave it.
std::string canonicalIr(const torch::jit::Graph& graph);

/// Canonical IR and, line for line, the same IR with each value named by its identity in the
/// graph (`%u<Value::unique()>`). A value keeps its identity while passes change the graph
/// around it, so diffs align lines by the keys and show what changed, not the renumbering.
struct CanonicalText {
  std::string text, keys;
};
CanonicalText canonicalIrWithKeys(const torch::jit::Graph& graph);

/// canonicalIrWithKeys of each method in `methods`, laid out as canonicalModuleIr does.
CanonicalText canonicalModuleIrWithKeys(const torch::jit::Module& module,
                                        const std::vector<std::string>& methods);

/// canonicalIr of each method in `methods`; with more than one, each under a "# method NAME" line.
std::string canonicalModuleIr(const torch::jit::Module& module,
                              const std::vector<std::string>& methods);

/// The Python-like TorchScript code of `method` on `module` (as `module.code` shows it).
std::string methodCode(const torch::jit::Module& module, const std::string& method);

/// The code of `graph` printed as a method called `name` (a graph taken out of its module).
std::string graphCode(const std::shared_ptr<torch::jit::Graph>& graph, const std::string& name);

}  // namespace tsopt
