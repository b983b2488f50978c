// IR text and Python-like code of a method.
#include "ir_dump/ir_text.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/serialization/python_print.h>

#include <functional>

#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

std::string graphText(const torch::jit::Graph& graph) {
  return graph.toString(/*print_source_locations=*/false);
}

namespace {

/// Every value of `block` in order of definition: block inputs, then each node's outputs
/// followed by the values of its blocks. This is the order in which Graph::copy allocates.
void valuesInOrder(torch::jit::Block* block, std::vector<torch::jit::Value*>& out) {
  for (torch::jit::Value* v : block->inputs()) out.push_back(v);
  for (torch::jit::Node* n : block->nodes()) {
    for (torch::jit::Value* v : n->outputs()) out.push_back(v);
    for (torch::jit::Block* b : n->blocks()) valuesInOrder(b, out);
  }
}

/// A copy of `graph` without source locations (LibTorch 1.13 prints them for nodes in nested
/// blocks even when asked not to), with each value named by `name(original, position)`.
std::string printCopy(const torch::jit::Graph& graph,
                      const std::function<std::string(const torch::jit::Value*, size_t)>& name) {
  // (Graph::copy is not const, but only reads the graph.)
  auto& source = const_cast<torch::jit::Graph&>(graph);
  std::shared_ptr<torch::jit::Graph> copy = source.copy();
  std::vector<torch::jit::Value*> original, copied;
  valuesInOrder(source.block(), original);
  valuesInOrder(copy->block(), copied);
  for (size_t i = 0; i < copied.size(); ++i) copied[i]->setDebugName(name(original[i], i));
  forEachNode(copy->block(), [](torch::jit::Node* n) { n->setSourceRange({}); });
  return copy->toString(/*print_source_locations=*/false);
}

}  // namespace

std::string canonicalIr(const torch::jit::Graph& graph) {
  // A copy allocates its values in order of definition, so with the names cleared each value
  // prints as its position.
  return printCopy(graph, [](const torch::jit::Value*, size_t) { return ""; });
}

CanonicalText canonicalIrWithKeys(const torch::jit::Graph& graph) {
  return {canonicalIr(graph), printCopy(graph, [](const torch::jit::Value* v, size_t) {
            return "u" + std::to_string(v->unique());
          })};
}

CanonicalText canonicalModuleIrWithKeys(const torch::jit::Module& module,
                                        const std::vector<std::string>& methods) {
  CanonicalText all;
  for (const std::string& m : methods) {
    std::string header = methods.size() > 1 ? "# method " + m + "\n" : "";
    CanonicalText t = canonicalIrWithKeys(*methodGraph(module, m));
    all.text += header + t.text;
    all.keys += header + t.keys;
  }
  return all;
}

std::string canonicalModuleIr(const torch::jit::Module& module,
                              const std::vector<std::string>& methods) {
  std::string text;
  for (const std::string& m : methods) {
    if (methods.size() > 1) text += "# method " + m + "\n";
    text += canonicalIr(*methodGraph(module, m));
  }
  return text;
}

std::string methodCode(const torch::jit::Module& module, const std::string& method) {
  return graphCode(methodGraph(module, method), method);
}

std::string graphCode(const std::shared_ptr<torch::jit::Graph>& graph, const std::string& name) {
  torch::jit::GraphFunction function(name, graph, nullptr);
  std::vector<c10::IValue> constants;
  torch::jit::PrintDepsTable deps;
  torch::jit::PythonPrint printer(constants, deps, nullptr, /*enforce_importable=*/false);
  printer.printMethod(function);
  return printer.str();
}

}  // namespace tsopt
