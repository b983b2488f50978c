// `tsopt show`: prints a method's IR or its Python-like code.
#include <iostream>

#include "ir_dump/ir_text.h"
#include "passes/builtin/builtin.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

struct ShowArgs {
  std::string input, method = "forward";
  bool inlined = false, code = false, canonical = false;
};

int showCommand(const ShowArgs& a) {
  torch::jit::Module module = loadModule(a.input);
  std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, a.method);
  // The module is never saved, so its graph can be transformed in place.
  if (a.inlined) inlineCalls(*graph, InlineOptions{}, nullptr);
  std::string text = a.code        ? methodCode(module, a.method)
                     : a.canonical ? canonicalIr(*graph)
                                   : graphText(*graph);
  std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
  return kOk;
}

}  // namespace

Command addShowCommand(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* cmd = app.add_subcommand("show", "Print a method's IR or Python-like code");
  cmd->add_option("input", args->input, "TorchScript model (.pt)")->required();
  cmd->add_option("--method", args->method, "method to show")->default_str("forward");
  cmd->add_flag("--inline", args->inlined, "inline all calls first");
  cmd->add_flag("--code", args->code, "print TorchScript code instead of IR");
  cmd->add_flag("--canonical", args->canonical,
                "print canonical IR (values numbered in order of definition), as dumps do");
  return [args] { return showCommand(*args); };
}

}  // namespace tsopt::cli
