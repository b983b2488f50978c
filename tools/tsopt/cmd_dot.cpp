// `tsopt dot`: a method's graph as Graphviz DOT, SVG or PNG (rendered in-process).
#include <filesystem>
#include <iostream>
#include <optional>

#include "engine/views.h"
#include "ir_dump/dot.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

/// Pictures of more nodes than this take Graphviz minutes to hours (an inlined DenseNet-121,
/// 2,200 blocks, takes 34 s); DOT text has no limit.
constexpr size_t kPictureMaxNodes = 5000;

struct DotArgs {
  std::string input, output, method = "forward";
  bool inlined = false, quiet = false;
  std::optional<size_t> maxNodes;
};

int dotCommand(const DotArgs& a) {
  std::string format = std::filesystem::path(a.output).extension().string();
  if (format != ".dot" && format != ".svg" && format != ".png") {
    throw Error("cannot tell the format of '" + a.output + "': end it in .dot, .svg or .png");
  }
  format = format.substr(1);
  checkOutputPaths({{"the model", a.input}}, {{"the output", a.output}});
  checkWritable(a.output);
  torch::jit::Module module = loadModule(a.input);  // alive while its graph is drawn
  std::shared_ptr<torch::jit::Graph> graph = viewGraph(module, a.method, a.inlined);
  DotOptions options;
  options.title = a.input + " (" + a.method + ")";
  options.maxNodes = a.maxNodes.value_or(format == "dot" ? 0 : kPictureMaxNodes);
  std::string dot = graphToDot(*graph, options);
  writeFileAtomic(a.output, format == "dot" ? dot : renderDot(dot, format));
  if (!a.quiet) std::cout << "tsopt: wrote " << a.output << "\n";
  return kOk;
}

}  // namespace

Command addDotCommand(CLI::App& app) {
  auto args = std::make_shared<DotArgs>();
  CLI::App* cmd = app.add_subcommand("dot", "Draw a method's graph as DOT, SVG or PNG");
  cmd->add_option("model", args->input, "TorchScript model (.pt)")->required();
  cmd->add_option("-o,--output", args->output, "OUT.dot, OUT.svg or OUT.png")->required();
  cmd->add_option("--method", args->method, "method to draw")->default_str("forward");
  cmd->add_flag("--inline", args->inlined, "inline all calls first");
  cmd->add_option("--max-nodes", args->maxNodes,
                  "draw at most this many nodes (0: all; default: all for .dot, " +
                      std::to_string(kPictureMaxNodes) + " for pictures)");
  cmd->add_flag("-q,--quiet", args->quiet, "print nothing on success");
  return [args] { return dotCommand(*args); };
}

}  // namespace tsopt::cli
