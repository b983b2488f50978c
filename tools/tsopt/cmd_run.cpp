// `tsopt run`: load, run a pipeline over the chosen methods, optionally verify the result (after
// every pass, or bisecting to the pass that changed the numbers), save atomically, report.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include "ir_dump/dot.h"
#include "ir_dump/golden.h"
#include "ir_dump/html_report.h"
#include "ir_dump/tracer.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/plugin.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/report.h"
#include "tools/tsopt/verify_args.h"
#include "verify/pipeline_check.h"

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
  VerifyArgs verifyArgs;
  std::string dumpDir, dumpKinds = "ir,code,diff,dot", html, goldenDir;
  bool updateGolden = false;
  bool dumpAll = false, printAfterAll = false, printAfterChange = false;
  std::vector<std::string> printBefore, printAfter;

  bool verifies() const { return verify || verifyStrict || verifyEach || bisect; }
  bool traces() const {
    return !dumpDir.empty() || !html.empty() || !goldenDir.empty() || !printBefore.empty() ||
           !printAfter.empty() || printAfterAll || printAfterChange;
  }
};

/// What verification found about a run.
struct Verdict {
  VerifyResult result;
  std::optional<size_t> firstFailing;  ///< execution index of the pass to blame
  std::optional<BisectResult> bisect;
  std::shared_ptr<VerifyEachPass> each;
};

/// Graphs in the HTML report are drawn up to this many nodes.
constexpr size_t kHtmlMaxNodes = 1500;

/// One line on a terminal saying what runs now; nothing when stderr is not a terminal.
class Progress : public PassInstrumentation {
 public:
  Progress() : on_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() override { clear(); }
  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module&,
                  const std::vector<std::string>&) override {
    say("pass " + std::to_string(info.index + 1) + ": " + pass.str());
  }
  void say(const std::string& what) {
    if (!on_) return;
    std::cerr << "\r\033[Ktsopt: " << what << "..." << std::flush;
    shown_ = true;
  }
  void clear() {
    if (on_ && shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  bool on_;
  bool shown_ = false;
};

/// What --dump-dir, --print-ir-*, --html and --golden-dir ask the tracer to do.
TraceOptions traceOptions(const RunArgs& a) {
  TraceOptions t;
  t.dumpKinds = parseDumpKinds(a.dumpKinds);
  t.dumpAll = a.dumpAll;
  t.printBefore = a.printBefore;
  t.printAfter = a.printAfter;
  t.printAfterAll = a.printAfterAll;
  t.printAfterChange = a.printAfterChange;
  t.printTo = &std::cerr;
  t.keepDiffs = !a.html.empty();
  t.keepStages = !a.goldenDir.empty();
  if (!a.dumpDir.empty()) {
    checkDumpDir(a.dumpDir);  // made ready once the model has loaded
    t.dumpDir = a.dumpDir;
  }
  return t;
}

IrCheck irCheckMode(const std::string& name) {
  return name == "none" ? IrCheck::None : name == "full" ? IrCheck::Full : IrCheck::Fast;
}

/// The pipeline `text` stands for; "" (only from -O0) is the empty pipeline.
Pipeline pipelineFromText(const std::string& text) {
  return text.empty() ? Pipeline{} : parsePipeline(text);
}

/// Verifies the saved result (the model saved at `saved`) against the input model, and if it
/// differs and --bisect asks, finds the pass to blame. With --verify-each the last pass's check is
/// the verdict.
void verifyResult(const RunArgs& a, const Verifier& verifier, const std::string& saved,
                  const std::string& pipelineText, const std::vector<std::string>& methods,
                  const RunResult& result, Verdict& verdict) {
  if (verdict.each && !verdict.each->checks().empty()) {
    verdict.result = verdict.each->checks().back().result;
    verdict.firstFailing = verdict.each->firstFailing();
    return;
  }
  verdict.result = verifier.check(loadModule(saved));
  if (verdict.result.passed || !a.bisect) return;
  verdict.bisect = bisectPipeline([&] { return loadModule(a.input); },
                                  [&] { return pipelineFromText(pipelineText); }, methods,
                                  result.passes.size(), verifier);
  verdict.firstFailing = verdict.bisect->firstFailing;
}

/// The first method's graph as SVG for the HTML report, drawn up to kHtmlMaxNodes nodes.
std::string reportSvg(const torch::jit::Module& module, const std::string& method,
                      std::string& note) {
  std::shared_ptr<torch::jit::Graph> g = methodGraph(module, method);
  size_t nodes = 0;
  forEachNode(g->block(), [&](torch::jit::Node* n) { nodes += n->kind() != c10::prim::Constant; });
  DotOptions options;
  options.maxNodes = kHtmlMaxNodes;
  if (nodes > kHtmlMaxNodes && note.empty()) {
    note = "Graphs are drawn up to " + std::to_string(kHtmlMaxNodes) +
           " nodes; `tsopt dot` draws a whole graph.";
  }
  return renderDot(graphToDot(*g, options), "svg");
}

std::string passLabel(const PassRecord& r) {
  return r.iteration ? r.spec + " [iter " + std::to_string(r.iteration) + "]" : r.spec;
}

/// Measures wall time between laps.
class Stopwatch {
 public:
  /// Milliseconds since the last lap (or since made), and starts the next.
  double lap() {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
    return ms;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string megabytes(uint64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(bytes < 100000 ? 3 : 1) << bytes / 1e6 << " MB";
  return os.str();
}

void printTimings(const RunResult& result, const Phases& phases, std::ostream& os) {
  os << "===-- tsopt pass timing (wall, ms) --===\n";
  os << std::setw(10) << "ms" << std::setw(8) << "%" << std::setw(16) << "nodes"
     << "  pass\n";
  for (const PassRecord& r : result.passes) {
    double pct = result.totalMs > 0 ? 100.0 * r.ms / result.totalMs : 0;
    std::ostringstream nodes;
    nodes << r.nodesBefore << "->" << r.nodesAfter;
    os << std::fixed << std::setprecision(3) << std::setw(10) << r.ms << std::setprecision(1)
       << std::setw(7) << pct << "%" << std::setw(16) << nodes.str() << "  " << passLabel(r)
       << "\n";
  }
  os << std::fixed << std::setprecision(3) << std::setw(10) << result.totalMs
     << "  total of the pipeline (passes, IR checks, instrumentation)\n";
  os << "===-- tsopt phases (wall, ms) --===\n";
  for (const auto& [name, ms] : phaseList(phases)) {
    os << std::fixed << std::setprecision(3) << std::setw(10) << ms << "  " << name << "\n";
  }
}

void printStats(const RunResult& result, std::ostream& os) {
  os << "===-- tsopt pass statistics --===\n";
  for (const PassRecord& r : result.passes) {
    os << passLabel(r) << ":" << (r.changed ? "" : " (no change)");
    for (const auto& [k, v] : r.stats) os << " " << k << "=" << v;
    os << "\n";
  }
}

nlohmann::json passJson(const PassRecord& r, size_t index) {
  return {{"index", index}, {"name", r.name}, {"spec", r.spec}, {"iteration", r.iteration}};
}

/// Adds the verdict to the run report.
void addVerdict(nlohmann::json& report, const Verifier& verifier, const Verdict& v,
                const RunResult& result) {
  nlohmann::json j = verifier.toJson(v.result);
  j["first_failing_pass"] =
      v.firstFailing ? passJson(result.passes[*v.firstFailing], *v.firstFailing) : nullptr;
  if (v.bisect) {
    nlohmann::json steps = nlohmann::json::array();
    for (const BisectStep& s : v.bisect->steps) {
      steps.push_back({{"passes", s.passes}, {"passed", s.passed}});
    }
    j["bisect"] = {{"baseline_differs", v.bisect->baselineDiffers}, {"steps", steps}};
  }
  if (v.each) {
    for (const PassCheck& c : v.each->checks()) {
      report["passes"][c.index]["verify"] = {
          {"passed", c.result.passed},
          {"max_abs_diff", c.result.maxAbsDiff},
          {"max_rel_diff", c.result.maxRelDiff},
          {"mismatch",
           c.result.passed ? nlohmann::json(nullptr) : nlohmann::json(c.result.mismatch)}};
    }
  }
  report["verify"] = j;
}

void printVerdict(const Verifier& verifier, const Verdict& v, const RunResult& result) {
  if (v.result.passed) return;
  std::cerr << "tsopt: verify: " << verifySummary(verifier, v.result) << "\n";
  if (v.firstFailing) {
    const PassRecord& r = result.passes[*v.firstFailing];
    std::cerr << "tsopt: verify: the outputs first differ after pass " << *v.firstFailing + 1
              << " of " << result.passes.size() << " '" << r.spec << "'"
              << (r.iteration ? " (iteration " + std::to_string(r.iteration) + ")" : "")
              << (v.bisect ? ", found by bisection in " + std::to_string(v.bisect->steps.size()) +
                                 " runs"
                           : "")
              << "\n";
  } else if (v.bisect && v.bisect->baselineDiffers) {
    std::cerr << "tsopt: verify: the input model's own outputs differ from run to run or after "
                 "saving and loading it; no pass is to blame\n";
  }
}

int runCommand(const RunArgs& a) {
  loadPlugins(a.plugins);
  if (sameFile(a.input, a.output) && !a.inPlace) {
    throw Error("output '" + a.output + "' is the input model; pass --in-place to overwrite it");
  }
  checkOutputPaths(
      {{"the input model", a.inPlace ? "" : a.input}, {"the inputs file", a.verifyArgs.inputsFile}},
      {{"the output model", a.output}, {"--report", a.report}, {"--html", a.html}});
  checkWritable(a.output);
  if (!a.report.empty()) checkWritable(a.report);
  std::string pipelineText = a.pipeline
                                 ? parsePipeline(resolvePipelineArgument(*a.pipeline)).str()
                                 : findPreset(a.level.empty() ? kDefaultPreset : a.level).pipeline;
  std::vector<std::string> methods =
      a.methods.empty() ? std::vector<std::string>{"forward"} : a.methods;

  if (!a.html.empty()) checkWritable(a.html);
  if (a.updateGolden && a.goldenDir.empty()) throw Error("--update-golden needs --golden-dir");
  if (a.updateGolden) checkFolderWritable(a.goldenDir, "the golden folder");
  TraceOptions trace = traceOptions(a);

  Phases phases;
  Stopwatch total, watch;
  torch::jit::Module module = loadModule(a.input);
  if (!a.dumpDir.empty()) prepareDumpDir(a.dumpDir);
  phases.load = watch.lap();
  std::optional<Verifier> verifier;
  if (a.verifies()) verifier.emplace(loadModule(a.input), a.verifyArgs.options(methods, a.input));
  PassManager pm(pipelineFromText(pipelineText));
  pm.setIrCheck(a.noLint ? IrCheck::None : irCheckMode(a.lint));
  pm.setKeepGoing(a.keepGoing);
  auto progress = std::make_shared<Progress>();
  pm.addInstrumentation(progress);
  auto tracer = std::make_shared<IrTracer>(trace);
  if (a.traces()) {
    tracer->start(module, methods);
    pm.addInstrumentation(tracer);
  }
  Verdict verdict;
  if (a.verifyEach) {
    verdict.each = std::make_shared<VerifyEachPass>(*verifier);
    pm.addInstrumentation(verdict.each);
  }
  phases.verify += watch.lap();  // loading the reference model
  HtmlReport html;
  if (!a.html.empty()) {
    progress->say("drawing the input graph");
    html.svgBefore = reportSvg(module, methods.front(), html.graphNote);
  }
  phases.reports += watch.lap();
  RunResult result = pm.run(module, methods);
  phases.addRun(result);
  watch.lap();
  progress->say("saving");
  std::unique_ptr<StagedFile> saved = stageModule(module, a.output);
  const uint64_t outputBytes = std::filesystem::file_size(saved->temporaryPath());
  phases.save = watch.lap();

  if (verifier) {
    progress->say("verifying");
    verifyResult(a, *verifier, saved->temporaryPath(), pipelineText, methods, result, verdict);
  }
  GoldenCheck golden;
  if (!a.goldenDir.empty() && !a.updateGolden)
    golden = compareGolden(a.goldenDir, tracer->stages());
  phases.verify += watch.lap();
  bool written = verdict.result.passed || !a.verifyStrict;
  if (written) saved->commit();
  phases.save += watch.lap();
  const uint64_t inputBytes = std::filesystem::file_size(a.input);
  if (!a.html.empty()) {
    progress->say("drawing the result");
    html.svgAfter = reportSvg(module, methods.front(), html.graphNote);
  }
  phases.reports += watch.lap();
  phases.total = total.lap();
  if (!a.report.empty() || !a.html.empty()) {
    nlohmann::json report = makeReport(a.input, a.output, pipelineText, methods, result, phases,
                                       inputBytes, outputBytes);
    report["output_written"] = written;
    if (verifier) addVerdict(report, *verifier, verdict, result);
    if (!a.report.empty()) writeFileAtomic(a.report, report.dump(2) + "\n");
    if (!a.html.empty()) {
      html.input = a.input;
      html.output = a.output;
      html.pipeline = pipelineText;
      html.methods = methods;
      html.run = result;
      html.diffs = tracer->diffs();
      html.verify = report.contains("verify") ? report["verify"] : nlohmann::json(nullptr);
      writeFileAtomic(a.html, renderHtmlReport(html));
    }
  }
  progress->clear();

  for (const std::string& w : result.warnings) std::cerr << "tsopt: warning: " << w << "\n";
  if (a.timePasses) printTimings(result, phases, std::cerr);
  if (a.stats) printStats(result, std::cerr);
  if (verifier) printVerdict(*verifier, verdict, result);
  if (!golden.passed) {
    std::cerr << "tsopt: golden: " << golden.failure << (golden.failure.back() == '\n' ? "" : "\n");
  }
  if (a.updateGolden) {
    size_t n = writeGolden(a.goldenDir, tracer->stages()).size();
    std::cerr << "tsopt: golden: " << n << " of " << tracer->stages().size() << " files in "
              << a.goldenDir << " recorded anew\n";
  }
  if (!written) std::cerr << "tsopt: verify: --verify-strict: " << a.output << " not written\n";
  if (!a.quiet && written) {
    int64_t before = result.passes.empty() ? 0 : result.passes.front().nodesBefore;
    int64_t after = result.passes.empty() ? 0 : result.passes.back().nodesAfter;
    std::cout << "tsopt: " << (pipelineText.empty() ? "no passes" : pipelineText) << ": " << before
              << " -> " << after << " nodes, " << megabytes(inputBytes) << " -> "
              << megabytes(outputBytes) << " in " << std::fixed << std::setprecision(1)
              << phases.total << " ms; wrote " << a.output
              << (a.report.empty() ? "" : ", " + a.report) << (a.html.empty() ? "" : ", " + a.html)
              << "\n";
    if (verifier && verdict.result.passed) {
      std::cout << "tsopt: verify: " << verifySummary(*verifier, verdict.result) << "\n";
    }
  }
  return verdict.result.passed && golden.passed ? kOk : kDifference;
}

}  // namespace

Command addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", "Run a pass pipeline over a model and save the result");
  const char* kVerification = "Verification";
  const char* kDumps = "Dumps, reports and golden files";
  run->add_option("input", args->input, "TorchScript model (.pt)")->required();
  run->add_option("-o,--output", args->output, "where to save the transformed model")->required();
  CLI::Option* pipeline =
      run->add_option("-p,--pipeline", args->pipeline,
                      "pipeline text, or @FILE to read it from a file (default: -O1)");
  run->add_option("-O", args->level,
                  "a preset pipeline instead: -O0 (none), -O1 (the default), -O2 (fastest on "
                  "CPU); 'tsopt passes' shows them")
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
  run->add_option("--print-ir-before", args->printBefore,
                  "print the IR to stderr before each run of this pass (repeatable)")
      ->group(kDumps);
  run->add_option("--print-ir-after", args->printAfter,
                  "print the IR to stderr after each run of this pass (repeatable)")
      ->group(kDumps);
  run->add_flag("--print-ir-after-all", args->printAfterAll, "print the IR after every pass")
      ->group(kDumps);
  run->add_flag("--print-ir-after-change", args->printAfterChange,
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
