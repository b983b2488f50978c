// optimize(): one run, from checking the paths to writing the reports.
#include "engine/run.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <map>
#include <sstream>

#include "engine/report.h"
#include "ir_dump/html_report.h"
#include "ir_dump/stages.h"
#include "passes/builtin/builtin.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/instrumentations.h"
#include "passes/core/interrupt.h"
#include "passes/core/module_copy.h"
#include "passes/core/module_io.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

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

Pipeline pipelineFromText(const std::string& text) {
  return text.empty() ? Pipeline{} : parsePipeline(text);
}

/// Checks everything about the paths before anything is loaded or written.
void checkPaths(const RunOptions& o) {
  if (sameFile(o.input, o.output) && !o.overwriteInput) {
    throw Error("output '" + o.output + "' is the input model; allow overwriting it",
                Setting::kOverwriteInput);
  }
  checkOutputPaths(
      {{"the input model", o.overwriteInput || o.inputModule ? "" : o.input},
       {"the inputs file", o.verifyOptions.inputsFile}},
      {{"the output model", o.output}, {"the JSON report", o.report}, {"the HTML report", o.html}});
  if (!o.output.empty()) checkWritable(o.output);
  if (!o.report.empty()) checkWritable(o.report);
  if (!o.html.empty()) checkWritable(o.html);
  if (o.updateGolden && o.goldenDir.empty()) {
    throw Error("recording golden files needs a golden folder");
  }
  if (o.updateGolden) checkFolderWritable(o.goldenDir, "the golden folder");
  if (!o.dumpDir.empty()) checkDumpDir(o.dumpDir);  // made ready once the model has loaded
  if (o.reproducer && !o.reproducerDir.empty()) {
    checkReproducerDir(o.reproducerDir, {{"the input model", o.inputModule ? "" : o.input},
                                         {"the inputs file", o.verifyOptions.inputsFile},
                                         {"the output model", o.output},
                                         {"the JSON report", o.report},
                                         {"the HTML report", o.html}});
  }
  if (o.print.any() && !o.printTo) throw Error("printing the IR needs a stream to print to");
}

bool wantsHtml(const RunOptions& o) { return !o.html.empty() || o.keepHtml; }

/// Opens the report's viewer on the blamed pass, with the first value that differs selected.
void focusDivergence(const RunOutcome& out, ViewerData& views) {
  if (!out.verdict || !out.verdict->divergence || !out.verdict->divergence->found) return;
  const PassRecord* blamed = out.passAt(*out.verdict->firstFailing);
  if (!blamed) return;
  const std::string stem = stageStem(blamed->index, blamed->name) + ": ";
  for (size_t i = 0; i < views.passes.size(); ++i) {
    if (views.passes[i].name.rfind(stem, 0) == 0) {
      views.focus = ViewerFocus{i, out.verdict->divergence->name};
      return;
    }
  }
}

/// One warning for a run whose folds were skipped because the model is in training mode (a
/// BatchNorm in training mode normalises by the batch, so it cannot be folded): the result
/// still computes what the input does, so verification cannot tell the user.
void warnTraining(RunResult& run) {
  std::map<std::string, int64_t> skipped;
  for (const PassRecord& r : run.passes) {
    auto it = r.stats.find("skipped.training");
    if (it != r.stats.end() && it->second > 0) skipped[r.name] += it->second;
  }
  if (skipped.empty()) return;
  std::string which;
  for (const auto& [pass, n] : skipped) {
    which += (which.empty() ? "" : ", ") + pass + " skipped " + std::to_string(n);
  }
  run.warnings.push_back("the model is in training mode, so its BatchNorms were not folded (" +
                         which + "): call model.eval() before tracing or saving it");
}

/// One warning when the result is clearly larger than the input (by a tenth, and by 64 KiB: not
/// the few bytes inlined code adds): a fold or a conversion keeps the weights it replaced until
/// `strip` drops them, so a pipeline without it can double a model.
void warnGrowth(const RunOutcome& out, RunResult& run) {
  if (out.outputBytes <= out.inputBytes + std::max<uint64_t>(out.inputBytes / 10, 64 << 10)) {
    return;
  }
  const bool strips = std::any_of(run.passes.begin(), run.passes.end(),
                                  [](const PassRecord& r) { return r.name == "strip"; });
  auto mb = [](uint64_t bytes) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(2) << bytes / 1048576.0 << " MB";
    return os.str();
  };
  run.warnings.push_back(
      "the result (" + mb(out.outputBytes) + ") is larger than the input (" + mb(out.inputBytes) +
      ")" +
      (strips ? ""
              : ": end the pipeline with 'strip', which drops the weights and submodules "
                "nothing uses any more (the presets end with it)"));
}

/// Fresh copies of the input model, sharing nothing with each other or with a live input.
class InputSource {
 public:
  explicit InputSource(const RunOptions& o) : path_(o.input), live_(o.inputModule) {}
  torch::jit::Module load(TensorCopies tensors = TensorCopies::kCopied) const {
    return live_ ? copyModule(*live_, tensors) : loadModule(path_);
  }
  /// Makes `result`, loaded with TensorCopies::kShared, share nothing with a live input.
  void own(const torch::jit::Module& result) const {
    if (live_) ownTensors(result, *live_);
  }
  /// The input's size: its file's, or the bytes of a live module's tensors.
  uint64_t bytes() const { return live_ ? tensorBytes(*live_) : std::filesystem::file_size(path_); }

 private:
  std::string path_;
  std::optional<torch::jit::Module> live_;
};

/// True if every pass of `elements` is one of tsopt's own, which replace tensors but never write
/// into one: the passes may then work on a live input's tensors themselves.
bool onlyBuiltinPasses(const std::vector<PipelineElement>& elements) {
  return std::all_of(elements.begin(), elements.end(), [](const PipelineElement& e) {
    if (e.isGroup()) return onlyBuiltinPasses(e.group);
    const PassInfo* info = PassRegistry::global().find(e.pass->name());
    return info && info->origin == "builtin";
  });
}

/// The instrumentations a run attaches, each only when the options ask for what it gives.
struct Instruments {
  std::shared_ptr<StageIr> stages;
  std::shared_ptr<StageRecorder> recorder;
  std::shared_ptr<GraphViewRecorder> views;
  std::shared_ptr<VerifyEachPass> each;

  Instruments(const RunOptions& o, PassManager& pm, const Verifier* verifier) {
    if (o.keepGoing) pm.addInstrumentation(std::make_shared<KeepGoing>());
    if (o.countNodes) pm.addInstrumentation(std::make_shared<NodeCounts>());
    const bool keepStages = !o.goldenDir.empty(), keepDiffs = wantsHtml(o);
    const bool dumps = !o.dumpDir.empty();
    if (keepStages || keepDiffs || dumps || o.print.any()) {
      stages = std::make_shared<StageIr>(keepDiffs || (dumps && o.dumpKinds.diff));
      pm.addInstrumentation(stages);  // first of those reading it: it settles "changed"
    }
    if (o.print.any())
      pm.addInstrumentation(std::make_shared<IrPrinter>(*stages, o.print, *o.printTo));
    if (dumps) {
      pm.addInstrumentation(
          std::make_shared<IrDumper>(*stages, o.dumpDir, o.dumpKinds, o.dumpEveryPass));
    }
    if (keepStages || keepDiffs) {
      recorder = std::make_shared<StageRecorder>(*stages, keepStages, keepDiffs);
      pm.addInstrumentation(recorder);
    }
    if (keepDiffs) {
      views = std::make_shared<GraphViewRecorder>();
      pm.addInstrumentation(views);
    }
    if (o.verify == VerifyMode::kEach) {
      each = std::make_shared<VerifyEachPass>(*verifier);
      pm.addInstrumentation(each);
    }
    for (const auto& inst : o.instrumentations) pm.addInstrumentation(inst);
  }
};

/// Verifies the saved result (`loadSaved` loads it) against the input model and, if it differs
/// and bisection is asked for, finds the pass to blame. After verifying every pass, the last
/// pass's check is the verdict.
Verdict verifyResult(const RunOptions& o, const InputSource& input, const Verifier& verifier,
                     const std::function<torch::jit::Module()>& loadSaved, const RunResult& run,
                     const VerifyEachPass* each) {
  Verdict v;
  if (each && !each->checks().empty()) {
    v.eachPass = each->checks();
    v.result = v.eachPass.back().result;
    v.firstFailing = each->firstFailing();
    return v;
  }
  v.result = verifier.check(loadSaved());
  if (v.result.passed || !o.bisect) return v;
  v.bisect =
      bisectPipeline([&] { return input.load(); }, [&] { return pipelineFromText(o.pipeline); },
                     o.methods, run.passes.size(), verifier);
  v.firstFailing = v.bisect->firstFailing;
  return v;
}

ReproducerContext reproducerContext(const RunOptions& o, const InputSource& input,
                                    const Verifier* verifier) {
  ReproducerContext c;
  c.freshInput = [&input] { return input.load(); };
  c.pipeline = o.pipeline;
  c.methods = o.methods;
  c.irCheck = o.irCheck;
  if (verifier) c.verify = verifier->options();
  c.flags = o.reproducerFlags;
  c.tool = o.toolPath;
  return c;
}

}  // namespace

void Phases::addRun(const RunResult& result) {
  for (const PassRecord& r : result.passes) {
    passes += r.ms;
    checks += r.checkMs;
  }
  instrumentation += result.hooksMs;
  overhead += result.totalMs - passes - checks - result.hooksMs;
}

std::vector<std::pair<std::string, double>> Phases::list() const {
  return {{"load", load},         {"passes", passes},
          {"checks", checks},     {"instrumentation", instrumentation},
          {"overhead", overhead}, {"verify", verify},
          {"save", save},         {"reports", reports},
          {"total", total}};
}

int64_t OperatorCounts::total(const std::map<std::string, int64_t>& counts) {
  int64_t n = 0;
  for (const auto& [kind, count] : counts) n += count;
  return n;
}

std::map<std::string, int64_t> countOperators(const torch::jit::Module& module,
                                              const std::vector<std::string>& methods) {
  std::map<std::string, int64_t> counts;
  for (const std::string& method : methods) {
    forEachNode(inlinedCopy(module, method)->block(),
                [&](torch::jit::Node* n) { ++counts[n->kind().toQualString()]; });
  }
  return counts;
}

int64_t RunOutcome::nodesBefore() const {
  return operators.before.empty() ? -1 : OperatorCounts::total(operators.before);
}

int64_t RunOutcome::nodesAfter() const {
  return operators.after.empty() ? -1 : OperatorCounts::total(operators.after);
}

const PassRecord* RunOutcome::passAt(size_t index) const {
  for (const PassRecord& r : run.passes) {
    if (r.index == index) return &r;
  }
  return nullptr;
}

bool RunOutcome::passed() const {
  return (!verdict || verdict->result.passed) && (!golden || golden->passed);
}

RunOutcome optimize(const RunOptions& o) {
  auto step = [&](const std::string& what) {
    if (o.onStep) o.onStep(what);
  };
  checkPaths(o);
  Pipeline pipeline = pipelineFromText(o.pipeline);

  RunOutcome out;
  out.input = o.input;
  out.output = o.output;
  out.pipeline = o.pipeline;
  out.methods = o.methods;
  Stopwatch total, watch;
  InputSource input(o);
  // Verifying every pass runs the model being changed: its tensors must be its own.
  const bool sharing = onlyBuiltinPasses(pipeline.elements) && o.verify != VerifyMode::kEach;
  torch::jit::Module module = input.load(sharing ? TensorCopies::kShared : TensorCopies::kCopied);
  if (!o.dumpDir.empty()) prepareDumpDir(o.dumpDir);
  out.phases.load = watch.lap();
  std::shared_ptr<Verifier> verifier;
  if (o.verify != VerifyMode::kNone) {
    VerifyOptions options = o.verifyOptions;
    // A live traced module's graph records its inputs' shapes; the copy through its archive
    // does not.
    if (o.inputModule && !options.shapeSource) options.shapeSource = *o.inputModule;
    verifier = std::make_shared<Verifier>(input.load(), options);
  }
  out.verifier = verifier;
  out.phases.verify += watch.lap();

  PassManager pm(std::move(pipeline));
  pm.setIrCheck(o.irCheck);
  Instruments instruments(o, pm, verifier.get());
  HtmlReport html;
  if (o.countNodes) {
    try {
      out.operators.before = countOperators(module, o.methods);
    } catch (const std::exception&) {
      // A method the model lacks: the pass manager says so in its own words.
    }
  }
  try {
    out.run = pm.run(module, o.methods);
  } catch (const PassFailure& e) {
    if (!o.reproducer) throw;
    std::string note;
    try {
      step("writing a reproducer");
      note = reproducerNote(writeReproducer(
          PassFailureInfo::of(e), reproducerContext(o, input, verifier.get()), o.reproducerDir));
    } catch (const std::exception& why) {
      note = "; no reproducer: " + describeException(why);
    }
    throw Error(e.what() + note);
  }
  out.phases.addRun(out.run);
  if (sharing) {
    watch.lap();
    input.own(module);
    out.phases.load += watch.lap();
  }
  if (o.countNodes) out.operators.after = countOperators(module, o.methods);
  warnTraining(out.run);
  watch.lap();

  // The result is verified as saved: loaded back from the file, or from the archive in memory.
  std::unique_ptr<StagedFile> saved;
  std::string archive;
  if (!o.output.empty()) {
    step("saving");
    saved = stageModule(module, o.output);
    out.outputBytes = std::filesystem::file_size(saved->temporaryPath());
  } else if (verifier) {
    archive = serializeModule(module);
    out.outputBytes = archive.size();
  }
  out.phases.save = watch.lap();
  if (verifier) {
    step("verifying");
    auto loadSaved = [&] {
      return saved ? loadModule(saved->temporaryPath())
                   : deserializeModule(archive, "the transformed model");
    };
    out.verdict = verifyResult(o, input, *verifier, loadSaved, out.run, instruments.each.get());
    const PassRecord* blamed =
        out.verdict->firstFailing ? out.passAt(*out.verdict->firstFailing) : nullptr;
    if (blamed) {
      step("finding where the outputs part");
      try {
        const size_t index = *out.verdict->firstFailing;
        out.verdict->divergence = verifier->locate(
            modelBefore(input.load(), o.pipeline, o.methods, index),
            modelBefore(input.load(), o.pipeline, o.methods, index + 1), out.verdict->result);
      } catch (const std::exception& why) {
        out.run.warnings.push_back("where the outputs part is unknown: " + describeException(why));
      }
    }
    if (blamed && o.reproducer) {
      step("writing a reproducer");
      try {
        out.verdict->reproducer =
            writeReproducer(PassFailureInfo::differs(*blamed, out.verdict->result.mismatch),
                            reproducerContext(o, input, verifier.get()), o.reproducerDir);
      } catch (const std::exception& why) {
        out.run.warnings.push_back("no reproducer: " + describeException(why));
      }
    }
  }
  if (!o.goldenDir.empty() && !o.updateGolden) {
    out.golden = compareGolden(o.goldenDir, instruments.recorder->stages());
  }
  out.phases.verify += watch.lap();
  out.written = saved != nullptr &&
                (!out.verdict || out.verdict->result.passed || o.verify != VerifyMode::kStrict);
  out.inputBytes = input.bytes();
  // A live input's size is its tensors': the result's is measured the same way.
  if (o.inputModule || out.outputBytes == 0) out.outputBytes = tensorBytes(module);
  warnGrowth(out, out.run);

  if (wantsHtml(o)) {
    html.views = instruments.views->finish(module, o.methods);
    focusDivergence(out, html.views);
  }
  out.phases.reports += watch.lap();
  out.phases.total = total.lap();
  // The reports are staged before anything is committed: a disk that fills while they are
  // written leaves neither them nor the model.
  std::vector<std::unique_ptr<StagedFile>> reports;
  if (!o.report.empty() || wantsHtml(o)) {
    nlohmann::json report = runReport(out);
    if (!o.report.empty()) reports.push_back(stageFile(o.report, reportText(report, 2) + "\n"));
    if (wantsHtml(o)) {
      html.input = o.input;
      html.output = o.output;
      html.pipeline = o.pipeline;
      html.methods = o.methods;
      html.run = out.run;
      html.totalMs = out.phases.total;
      html.nodesBefore = out.nodesBefore();
      html.nodesAfter = out.nodesAfter();
      html.diffs = instruments.recorder->diffs();
      html.verify = report.contains("verify") ? report["verify"] : nlohmann::json(nullptr);
      std::string page = renderHtmlReport(html);
      if (!o.html.empty()) reports.push_back(stageFile(o.html, page));
      if (o.keepHtml) out.html = std::move(page);
    }
  }
  checkInterrupt();  // the last moment an interrupt keeps everything unwritten
  if (out.written) saved->commit();
  for (const auto& file : reports) file->commit();
  if (o.updateGolden) {
    const std::vector<Stage>& stages = instruments.recorder->stages();
    size_t changed =
        std::count_if(stages.begin(), stages.end(), [](const Stage& s) { return s.changed; });
    out.goldenRecord = GoldenRecord{writeGolden(o.goldenDir, stages), changed};
  }
  out.module = std::move(module);
  return out;
}

}  // namespace tsopt
