// The graphs the views of a model look at.
#include "engine/views.h"

#include "ir_dump/graph_view.h"
#include "ir_dump/viewer_page.h"
#include "passes/builtin/builtin.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

std::shared_ptr<torch::jit::Graph> viewGraph(const torch::jit::Module& module,
                                             const std::string& method, bool inlined) {
  return inlined ? inlinedCopy(module, method) : methodGraph(module, method);
}

std::string viewerPageOf(const torch::jit::Module& module, const std::vector<std::string>& methods,
                         bool inlined, const std::string& title) {
  ViewerData data;
  for (const std::string& method : methods) {
    data.stages.push_back({method, 0, graphView(*viewGraph(module, method, inlined))});
  }
  return viewerPage(data, title);
}

}  // namespace tsopt
