// What the views of a model look at (`tsopt show`, `tsopt dot`, tsopt.show and tsopt.dot in
// Python), so that every front end shows the same text for the same model.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>

namespace tsopt {

/// The graph of `method`: the method's own, or a copy with every call inlined if `inlined`.
/// The module is never changed.
std::shared_ptr<torch::jit::Graph> viewGraph(const torch::jit::Module& module,
                                             const std::string& method, bool inlined);

}  // namespace tsopt
