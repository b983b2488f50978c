// IR text and Python-like code of a method.
#include "ir_dump/ir_text.h"

#include <torch/csrc/jit/serialization/python_print.h>

#include "passes/core/pass_manager.h"

namespace tsopt {

std::string graphText(const torch::jit::Graph& graph) {
  return graph.toString(/*print_source_locations=*/false);
}

std::string methodCode(const torch::jit::Module& module, const std::string& method) {
  methodGraph(module, method);  // throws a readable error for a missing method
  std::vector<c10::IValue> constants;
  torch::jit::PrintDepsTable deps;
  torch::jit::PythonPrint printer(constants, deps, nullptr, /*enforce_importable=*/false);
  printer.printMethod(module.get_method(method).function());
  return printer.str();
}

}  // namespace tsopt
