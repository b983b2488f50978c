// Text views of a method: LibTorch's IR printout and the Python-like TorchScript code.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>

namespace tsopt {

/// The graph as LibTorch prints it, without source locations.
std::string graphText(const torch::jit::Graph& graph);

/// The Python-like TorchScript code of `method` on `module` (as `module.code` shows it).
std::string methodCode(const torch::jit::Module& module, const std::string& method);

}  // namespace tsopt
