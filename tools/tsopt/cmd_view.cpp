// `tsopt view`: a page with the interactive viewer of a model's graphs (self-contained HTML).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "engine/views.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

struct ViewArgs {
  std::string input, output;
  std::vector<std::string> methods;
  bool noInline = false, quiet = false;
};

/// Where a page goes without -o: a new private folder (mkdtemp) under the temporary folder, so
/// that nothing there before, of the user's or of another user's (a link planted under a fixed
/// name), is touched.
std::string defaultOutput(const std::string& input) {
  std::error_code ec;
  std::string dir = (std::filesystem::temp_directory_path(ec) / "tsopt-view-XXXXXX").string();
  if (ec || !mkdtemp(dir.data())) {
    throw Error("cannot make a folder for the page in the temporary folder (" +
                (ec ? ec.message() : std::string(std::strerror(errno))) +
                "): give one with -o PAGE.html");
  }
  std::filesystem::path name = std::filesystem::path(input).filename().replace_extension(".html");
  return (std::filesystem::path(dir) / name).string();
}

int viewCommand(ViewArgs a) {
  if (a.methods.empty()) a.methods = {"forward"};
  if (!a.output.empty()) {
    checkOutputPaths({{"the model", a.input}}, {{"the page", a.output}});
    checkWritable(a.output);
  }
  torch::jit::Module module = loadModule(a.input);
  std::string page = viewerPageOf(module, a.methods, !a.noInline, "tsopt view: " + a.input);
  if (a.output.empty()) a.output = defaultOutput(a.input);
  writeFileAtomic(a.output, page);
  if (!a.quiet) std::cout << "tsopt: wrote " << a.output << " (open it in a browser)\n";
  return kOk;
}

}  // namespace

Command addViewCommand(CLI::App& app) {
  auto args = std::make_shared<ViewArgs>();
  CLI::App* cmd = app.add_subcommand(
      "view", "Write a page with the interactive viewer of a model's graphs (HTML, no network)");
  cmd->add_option("model", args->input, "TorchScript model (.pt)")->required();
  cmd->add_option(
      "-o,--output", args->output,
      "the page (default: MODEL.html in a new folder tsopt-view-XXXXXX in the temporary folder)");
  cmd->add_option("--method", args->methods, "method to show (repeatable; default: forward)");
  cmd->add_flag("--no-inline", args->noInline, "show calls as they are instead of inlining them");
  cmd->add_flag("-q,--quiet", args->quiet, "print nothing on success");
  return [args] { return viewCommand(*args); };
}

}  // namespace tsopt::cli
