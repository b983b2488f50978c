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
  LoadedGraph g = loadGraph(a.input, a.method, a.inlined);
  std::string text = a.code        ? methodCode(g.module, a.method)
                     : a.canonical ? canonicalIr(*g.graph)
                                   : graphText(*g.graph);
  std::cout << text << (text.empty() || text.back() != '\n' ? "\n" : "");
  return kOk;
}

}  // namespace

LoadedGraph loadGraph(const std::string& path, const std::string& method, bool inlined) {
  LoadedGraph g{loadModule(path), nullptr};
  g.graph = methodGraph(g.module, method);
  if (inlined) inlineCalls(*g.graph, InlineOptions{}, nullptr);
  return g;
}

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
