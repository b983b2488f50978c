// `tsopt show`: prints a method's IR or its Python-like code, or a summary of the model.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "engine/views.h"
#include "ir_dump/ir_text.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "passes/core/op_library.h"
#include "passes/core/pass_manager.h"
#include "passes/core/torch_compat.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

struct ShowArgs {
  std::string input, method = "forward";
  bool inlined = false, code = false, canonical = false, summary = false;
};

/// What the model holds: its methods, submodules, tensors, and the operator libraries it needs.
void printSummary(const std::string& path, const torch::jit::Module& module, std::ostream& os) {
  os << std::fixed << std::setprecision(1);
  os << "model: " << path << " (" << std::filesystem::file_size(path) / 1e6 << " MB)\n";
  os << "methods:";
  for (const torch::jit::Method& m : module.get_methods()) {
    os << " " << m.name() << " (" << countNodes(m.graph()->block()) << " nodes)";
  }
  size_t submodules = 0;
  for (const auto& sub : module.named_modules()) submodules += !sub.name.empty();
  AttributeTensors tensors = attributeTensors(module);
  os << "\nsubmodules: " << submodules << "\ntensors: " << tensors.count << " ("
     << static_cast<double>(tensors.bytes) / 1e6 << " MB) in parameters, buffers and attributes\n";
  compat::Requirement need = compat::requirement(module);
  os << "LibTorch: archive format version " << compat::archiveFormatVersion(path) << "; ";
  if (!need.newerOperators.empty()) {
    os << "needs LibTorch >= " << need.oldest << ": it calls "
       << compat::lacking(need.newerOperators, compat::oldLine());
  } else {
    os << "loads in LibTorch >= " << need.oldest;
  }
  if (!need.removedOperators.empty()) {
    os << "; it calls " << compat::lacking(need.removedOperators, compat::newLine());
  }
  os << "\n";
  auto needed = libraryOperators(module);
  if (needed.empty()) {
    os << "operator libraries: none needed (LibTorch's operators only)\n";
    return;
  }
  for (const auto& [ns, ops] : needed) {
    os << "operator library needed: " << ns << " (";
    for (auto it = ops.begin(); it != ops.end(); ++it) os << (it == ops.begin() ? "" : ", ") << *it;
    std::string lib = findOperatorLibrary(ns);
    os << "); load it with --ops " << (lib.empty() ? "LIB.so" : lib) << "\n";
  }
}

int showCommand(const ShowArgs& a) {
  if (a.summary) {
    printSummary(a.input, loadModule(a.input), std::cout);
    return kOk;
  }
  torch::jit::Module module = loadModule(a.input);  // alive while its graph is printed
  std::shared_ptr<torch::jit::Graph> g = viewGraph(module, a.method, a.inlined);
  std::string text = a.code        ? graphCode(g, a.method)
                     : a.canonical ? canonicalIr(*g)
                                   : graphText(*g);
  std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
  return kOk;
}

}  // namespace

Command addShowCommand(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* cmd = app.add_subcommand("show", "Print a method's IR or Python-like code");
  cmd->add_option("model", args->input, "TorchScript model (.pt)")->required();
  cmd->add_option("--method", args->method, "method to show")->default_str("forward");
  cmd->add_flag("--inline", args->inlined, "inline all calls first");
  cmd->add_flag("--code", args->code, "print TorchScript code instead of IR");
  cmd->add_flag("--canonical", args->canonical,
                "print canonical IR (values numbered in order of definition), as dumps do");
  cmd->add_flag("--summary", args->summary,
                "print what the model holds: methods, submodules, tensors, operator libraries "
                "it needs");
  return [args] { return showCommand(*args); };
}

}  // namespace tsopt::cli
