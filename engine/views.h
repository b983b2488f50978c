// What the views of a model look at (`tsopt show`, `tsopt dot`, `tsopt view`, and tsopt.show,
// tsopt.dot and tsopt.view in Python), so that every front end shows the same for the same model.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>
#include <vector>

namespace tsopt {

/// The graph of `method`: the method's own, or a copy with every call inlined if `inlined`.
/// The module is never changed.
std::shared_ptr<torch::jit::Graph> viewGraph(const torch::jit::Module& module,
                                             const std::string& method, bool inlined);

/// The interactive viewer's page of `methods` (each a stage the page can switch to), each graph
/// taken as viewGraph(module, method, inlined) takes it.
std::string viewerPageOf(const torch::jit::Module& module, const std::vector<std::string>& methods,
                         bool inlined, const std::string& title);

}  // namespace tsopt
