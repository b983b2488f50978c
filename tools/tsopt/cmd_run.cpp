// `tsopt run`: the command line of optimize() (engine/run.h). Turns the flags into RunOptions,
// shows progress on a terminal, and prints the outcome.
#include <filesystem>
#include <iostream>
#include <optional>

#include "engine/run.h"
#include "passes/core/error.h"
#include "passes/core/plugin.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/present.h"
#include "tools/tsopt/verify_args.h"

namespace tsopt::cli {

namespace {

struct RunArgs {
  std::string input, output, level, report;
  std::optional<std::string> pipeline;  ///< -p, when given
  std::vector<std::string> methods, plugins;
  std::string lint = "fast";
  bool noLint = false, timePasses = false, stats = false, inPlace = false, quiet = false;
  bool keepGoing = false;
  bool verify = false, verifyStrict = false, verifyEach = false, bisect = false;
  VerifySettings verifyArgs;
  std::string dumpDir, dumpKinds = "ir,code,diff,dot", html, goldenDir;
  bool updateGolden = false;
  bool dumpAll = false;
  IrPrintConfig print;
  std::string reproducerDir;
  bool noReproducer = false;
};

RunOptions runOptions(const RunArgs& a) {
  if (a.updateGolden && a.goldenDir.empty()) throw Error("--update-golden needs --golden-dir");
  RunOptions o;
  o.input = a.input;
  o.output = a.output;
  o.overwriteInput = a.inPlace;
  o.pipeline = a.pipeline ? parsePipeline(resolvePipelineArgument(*a.pipeline)).str()
                          : findPreset(a.level.empty() ? kDefaultPreset : a.level).pipeline;
  if (!a.methods.empty()) o.methods = a.methods;
  o.irCheck = a.noLint ? IrCheck::None : parseIrCheck(a.lint);
  o.keepGoing = a.keepGoing;
  o.verify = a.verifyEach           ? VerifyMode::kEach
             : a.verifyStrict       ? VerifyMode::kStrict
             : a.verify || a.bisect ? VerifyMode::kResult
                                    : VerifyMode::kNone;
  o.bisect = a.bisect;
  if (o.verify != VerifyMode::kNone) o.verifyOptions = a.verifyArgs.options(o.methods, a.input);
  o.print = a.print;
  o.printTo = &std::cerr;
  o.dumpDir = a.dumpDir;
  o.dumpKinds = parseDumpKinds(a.dumpKinds);
  o.dumpEveryPass = a.dumpAll;
  o.report = a.report;
  o.html = a.html;
  o.goldenDir = a.goldenDir;
  o.updateGolden = a.updateGolden;
  o.reproducer = !a.noReproducer;
  o.reproducerDir = a.reproducerDir;
  o.reproducerFlags = a.verifyArgs.flags();
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) o.toolPath = self.string();
  o.countNodes = !a.quiet || a.timePasses || !a.report.empty() || !a.html.empty();
  return o;
}

int runCommand(const RunArgs& a) {
  loadPlugins(a.plugins);
  RunOptions options = runOptions(a);
  auto progress = std::make_shared<Progress>();
  options.instrumentations.push_back(progress);
  options.onStep = [progress](const std::string& what) { progress->say(what); };
  RunOutcome out = optimize(options);
  progress->clear();

  OutcomeDisplay show;
  show.timings = a.timePasses;
  show.stats = a.stats;
  show.quiet = a.quiet;
  show.files = (a.report.empty() ? "" : ", " + a.report) + (a.html.empty() ? "" : ", " + a.html);
  show.goldenDir = a.goldenDir;
  printOutcome(out, show);
  return out.passed() ? kOk : kDifference;
}

}  // namespace

Command addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", "Run a pass pipeline over a model and save the result");
  const char* kVerification = "Verification";
  const char* kDumps = "Dumps, reports and golden files";
  run->add_option("model", args->input, "TorchScript model (.pt)")->required();
  run->add_option("-o,--output", args->output, "where to save the transformed model")->required();
  CLI::Option* pipeline =
      run->add_option("-p,--pipeline", args->pipeline,
                      "pipeline text, or @FILE to read it from a file (default: -O1)");
  run->add_option("-O", args->level,
                  "a preset pipeline instead: -O0 (none), -O1 (the default), -O2 (fastest on "
                  "CPU), -O backport (a PyTorch 2.x model for LibTorch 1.13); 'tsopt passes' "
                  "shows them")
      ->excludes(pipeline);
  run->add_option("--method", args->methods, "method to transform (repeatable; default forward)");
  run->add_option("--report", args->report, "write a JSON report of the run here");
  run->add_option("--plugin", args->plugins, "load passes from this shared library (repeatable)");
  run->add_flag("--verify", args->verify,
                "check that the result computes what the input model computes (exit 1 if not)")
      ->group(kVerification);
  run->add_flag("--verify-strict", args->verifyStrict,
                "like --verify, and do not write the output when it differs")
      ->group(kVerification);
  run->add_flag("--verify-each", args->verifyEach,
                "verify after every pass and name the first pass after which outputs differ")
      ->group(kVerification);
  run->add_flag("--bisect", args->bisect,
                "when the result differs, bisect the pipeline to the pass that changed it")
      ->group(kVerification);
  addVerifyOptions(run, args->verifyArgs);
  run->add_option("--lint", args->lint,
                  "how to check the IR after each pass: fast (tsopt's checker, linear in the "
                  "graph), full (also LibTorch's Graph::lint()), none")
      ->check(CLI::IsMember({"fast", "full", "none"}))
      ->default_str("fast");
  run->add_flag("--no-lint", args->noLint, "the same as --lint=none");
  run->add_option("--reproducer", args->reproducerDir,
                  "when a pass fails or is blamed for a difference, write its reproducer here "
                  "(default: a new temporary folder, which the error names)");
  run->add_flag("--no-reproducer", args->noReproducer, "write no reproducer");
  run->add_flag("--keep-going", args->keepGoing,
                "skip a pass that fails (restoring the model as before it) and go on");
  run->add_option("--dump-dir", args->dumpDir,
                  "write the IR, code, diff and DOT of the input and after each changing pass here")
      ->group(kDumps);
  run->add_option("--dump", args->dumpKinds, "what to dump: any of ir,code,diff,dot")
      ->default_str("ir,code,diff,dot")
      ->group(kDumps);
  run->add_flag("--dump-all", args->dumpAll, "dump after every pass, changed or not")
      ->group(kDumps);
  run->add_option("--print-ir-before", args->print.before,
                  "print the IR to stderr before each run of this pass (repeatable)")
      ->group(kDumps);
  run->add_option("--print-ir-after", args->print.after,
                  "print the IR to stderr after each run of this pass (repeatable)")
      ->group(kDumps);
  run->add_flag("--print-ir-after-all", args->print.afterAll, "print the IR after every pass")
      ->group(kDumps);
  run->add_flag("--print-ir-after-change", args->print.afterChange,
                "print the IR after every pass that changed it")
      ->group(kDumps);
  run->add_option("--golden-dir", args->goldenDir,
                  "compare the canonical IR after each pass with DIR/NN-<pass>.ir (exit 1 if not)")
      ->group(kDumps);
  run->add_flag("--update-golden", args->updateGolden,
                "record the IR after each pass in --golden-dir instead of comparing")
      ->group(kDumps);
  run->add_option("--html", args->html,
                  "write a self-contained HTML report (passes, diffs, graphs, verification)")
      ->group(kDumps);
  run->add_flag("--time-passes", args->timePasses, "print per-pass wall time to stderr");
  run->add_flag("--stats", args->stats, "print per-pass statistics to stderr");
  run->add_flag("--in-place", args->inPlace, "allow the output to be the input model");
  run->add_flag("-q,--quiet", args->quiet, "print nothing on success");
  return [args] { return runCommand(*args); };
}

void loadPlugins(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) loadPlugin(p);
}

}  // namespace tsopt::cli
