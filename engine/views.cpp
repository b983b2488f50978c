// The graphs the views of a model look at.
#include "engine/views.h"

#include "passes/builtin/builtin.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

std::shared_ptr<torch::jit::Graph> viewGraph(const torch::jit::Module& module,
                                             const std::string& method, bool inlined) {
  std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
  if (!inlined) return graph;
  graph = graph->copy();
  inlineCalls(*graph, InlineOptions{}, nullptr);
  return graph;
}

}  // namespace tsopt
