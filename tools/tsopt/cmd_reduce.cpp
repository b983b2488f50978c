// `tsopt reduce MODEL.pt -p PIPELINE --until KIND -o SMALL.pt`: shrinks a model while the pipeline
// still fails on it the same way (engine/reduce.h), and prints the command that shows it.
#include <filesystem>
#include <iostream>

#include "engine/reduce.h"
#include "passes/core/pipeline.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/verify_args.h"

namespace tsopt::cli {

namespace {

struct ReduceArgs {
  std::string input, output, pipeline, until, lint = "fast";
  std::vector<std::string> methods, plugins;
  VerifySettings verify;
  bool quiet = false;
  double maxSeconds = 600;
};

int reduceCommand(const ReduceArgs& a) {
  loadPlugins(a.plugins);
  ReduceOptions o;
  o.input = a.input;
  o.output = a.output;
  o.pipeline = parsePipeline(resolvePipelineArgument(a.pipeline)).str();
  if (!a.methods.empty()) o.methods = a.methods;
  o.until = parseFailureKind(a.until);
  o.irCheck = parseIrCheck(a.lint);
  o.maxSeconds = a.maxSeconds;
  if (o.until == FailureKind::kDiffers) {
    o.verify = a.verify.options(o.methods, a.input);
    o.flags = a.verify.flags();
    if (!o.verify.inputsFile.empty()) {
      o.flags.insert(o.flags.end(),
                     {"--inputs", std::filesystem::absolute(o.verify.inputsFile).string()});
    }
  }
  if (!a.quiet) {
    o.onProgress = [](const std::string& what) {
      std::cerr << "tsopt: reduce: " << escapeText(what) << "\n";
    };
  }
  ReduceOutcome out = reduce(o);
  if (out.stoppedEarly) {
    std::cerr << "tsopt: warning: reduce: stopped after " << a.maxSeconds
              << " s with the smallest model found so far, which still fails; allow more time "
                 "for a smaller one (--max-time SECONDS, 0 for none)\n";
  }
  std::cout << "tsopt: reduce: " << out.startNodes << " -> " << out.nodesAfter
            << " nodes in the model before pass '" << out.failure.spec << "' (the input has "
            << out.inputNodes << "), " << out.tests << " candidates tried; wrote " << a.output
            << " (" << out.outputBytes / 1024 << " KB)\n"
            << "tsopt: reduce: fails (" << failureKindName(out.failure.kind)
            << ") with: " << shellCommand("tsopt", out.command) << "\n";
  return kOk;
}

}  // namespace

Command addReduceCommand(CLI::App& app) {
  auto args = std::make_shared<ReduceArgs>();
  CLI::App* cmd = app.add_subcommand(
      "reduce", "Shrink a model while a pipeline still fails on it the same way");
  cmd->add_option("model", args->input, "TorchScript model (.pt)")->required();
  cmd->add_option("-o,--output", args->output, "where to save the reduced model")->required();
  cmd->add_option("-p,--pipeline", args->pipeline, "the pipeline that fails (text or @FILE)")
      ->required();
  cmd->add_option("--until", args->until,
                  "the failure to keep: crash (a pass throws), invalid (a pass leaves an invalid "
                  "graph), differs (the outputs differ after a pass)")
      ->required()
      ->check(CLI::IsMember({"crash", "invalid", "differs"}));
  cmd->add_option("--method", args->methods, "method to reduce (repeatable; default forward)");
  cmd->add_option("--plugin", args->plugins, "load passes from this shared library (repeatable)");
  cmd->add_option("--lint", args->lint, "how the IR is checked after the pass: fast, full, none")
      ->check(CLI::IsMember({"fast", "full", "none"}));
  addVerifyOptions(cmd, args->verify);
  cmd->add_option("--max-time", args->maxSeconds,
                  "seconds reduction may take; past them the smallest model found so far is "
                  "written (0: no limit)")
      ->default_val(600)
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", args->quiet, "print no progress");
  return [args] { return reduceCommand(*args); };
}

}  // namespace tsopt::cli
