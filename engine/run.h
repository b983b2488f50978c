// The run as a library: what every front end (the CLI, Python) calls to optimize a model. It owns
// the whole run: checks the paths, loads, runs the pipeline with the instrumentations the options
// ask for, saves atomically, verifies, compares or records golden files, writes the reports, and
// returns what happened. It prints nothing; front ends present the outcome.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/reproducer.h"
#include "ir_dump/dumper.h"
#include "ir_dump/golden.h"
#include "passes/core/pass_manager.h"
#include "verify/pipeline_check.h"
#include "verify/verifier.h"

namespace tsopt {

/// How a run checks that the result computes what the input computes.
enum class VerifyMode {
  kNone,
  kResult,  ///< verify the saved result
  kStrict,  ///< verify it, and keep the output unwritten if it differs
  kEach,    ///< verify after every pass, naming the first pass after which outputs differ
};

/// Everything a run is asked to do. Paths left empty are not written.
struct RunOptions {
  std::string input;  ///< the model to optimize; with inputModule, only its name in reports
  /// A live module to optimize instead of the file `input`. It is never changed: the run works
  /// on copies (copyModule: the classes' own names, the graphs it has in memory with shapes
  /// erased, tensors of their own). A module loaded from a file runs as the file does.
  std::optional<torch::jit::Module> inputModule;
  std::string output;  ///< where to save the result; "" keeps it in RunOutcome::module only
  bool overwriteInput = false;  ///< allow `output` to be `input`
  std::string pipeline;         ///< pipeline text; "" runs no pass
  std::vector<std::string> methods{"forward"};
  IrCheck irCheck = IrCheck::Fast;
  bool keepGoing = false;  ///< skip a failing pass (the model restored) instead of stopping

  VerifyMode verify = VerifyMode::kNone;
  bool bisect = false;  ///< when the result differs, bisect the pipeline to the pass to blame
  VerifyOptions verifyOptions;

  IrPrintConfig print;              ///< which stages' IR to print
  std::ostream* printTo = nullptr;  ///< where (required if `print` asks for any)
  std::string dumpDir;              ///< dump stages here
  DumpKinds dumpKinds;
  bool dumpEveryPass = false;  ///< dump after every pass, not only those that changed the model

  std::string report;         ///< the JSON report
  std::string html;           ///< the HTML report
  bool keepHtml = false;      ///< keep the HTML report in RunOutcome::html (written or not)
  std::string goldenDir;      ///< compare the stages with the golden files here
  bool updateGolden = false;  ///< record them there instead

  /// When a pass throws, leaves an invalid graph or is blamed for a difference, write its
  /// reproducer (engine/reproducer.h) into reproducerDir, or a new temporary folder if that is "".
  bool reproducer = true;
  std::string reproducerDir;
  /// The front end's settings that the reproducing `tsopt run` needs (verification's, as flags).
  std::vector<std::string> reproducerFlags;
  std::string toolPath = "tsopt";  ///< the tsopt executable a reproducer runs

  /// Count nodes before and after every pass (a walk of every graph), and the node kinds of the
  /// input and the result, inlined (RunOutcome::operators).
  bool countNodes = true;
  /// The front end's own instrumentations (progress, say), attached after the run's.
  std::vector<std::shared_ptr<PassInstrumentation>> instrumentations;
  /// Told what the run does next, between passes ("saving", "verifying", ...).
  std::function<void(const std::string&)> onStep;
};

/// Where the wall time of a run went, in ms: the phases a user waits for.
struct Phases {
  double load = 0;             ///< loading the model
  double passes = 0;           ///< the passes themselves
  double checks = 0;           ///< checking the IR after each pass
  double instrumentation = 0;  ///< node counts, snapshots, dumps, printing, per-pass verification
  double overhead = 0;         ///< the rest of the pass manager's time
  double verify = 0;           ///< verifying the result, bisection included
  double save = 0;             ///< serializing and writing the model
  double reports = 0;          ///< the JSON and HTML reports, pictures
  double total = 0;            ///< the whole run
  /// Fills passes, checks, instrumentation and overhead from a pass manager's run.
  void addRun(const RunResult& result);
  /// The phases by name ("load", "passes", ...), in the order they run, "total" last.
  std::vector<std::pair<std::string, double>> list() const;
};

/// What verification found about a run.
struct Verdict {
  VerifyResult result;
  std::optional<size_t> firstFailing;  ///< execution index of the pass to blame
  std::optional<BisectResult> bisect;
  std::vector<PassCheck> eachPass;       ///< with VerifyMode::kEach: the check after every pass
  std::optional<Reproducer> reproducer;  ///< of the pass to blame, if one is and it was asked for
  /// Where the blamed pass's output first parts from its input's, if a pass is blamed.
  std::optional<Divergence> divergence;
};

/// What recording golden files did.
struct GoldenRecord {
  std::vector<std::string> written;  ///< the files written anew (the others were equal)
  size_t stages = 0;                 ///< the stages recorded: the input and those that changed
};

/// Nodes of each kind (aten::conv2d, prim::CallMethod, ...) over a run's methods with every call
/// inlined, in the input and in the result: counts that compare like with like whatever the
/// pipeline inlines, the table onnx-simplifier users look for.
struct OperatorCounts {
  std::map<std::string, int64_t> before, after;
  static int64_t total(const std::map<std::string, int64_t>& counts);
};

/// The node kinds of `methods` of `module`, inlined (a copy: the module is not changed).
std::map<std::string, int64_t> countOperators(const torch::jit::Module& module,
                                              const std::vector<std::string>& methods);

/// What a run did.
struct RunOutcome {
  std::string input, output, pipeline;
  std::vector<std::string> methods;
  torch::jit::Module module;  ///< the result
  RunResult run;
  Phases phases;
  /// The models' sizes: the input's file and the result's archive (saved, or made to verify
  /// it). For a live input, and for a result neither saved nor verified, the bytes of the
  /// tensors it holds (tensorBytes): what nearly all of an archive is, known without making one.
  uint64_t inputBytes = 0, outputBytes = 0;
  bool written = false;  ///< the output was saved (not if kStrict found a difference)
  std::string html;      ///< the HTML report, with RunOptions::keepHtml
  std::shared_ptr<const Verifier> verifier;  ///< null without verification
  std::optional<Verdict> verdict;
  std::optional<GoldenCheck> golden;         ///< the comparison with goldenDir, if asked for
  std::optional<GoldenRecord> goldenRecord;  ///< what updateGolden wrote
  OperatorCounts operators;                  ///< of the input and the result, inlined

  /// Nodes over the run's methods, inlined, in the input and the result (-1 if not counted).
  int64_t nodesBefore() const;
  int64_t nodesAfter() const;
  /// The record of the pass run at `index` in execution order, or nullptr.
  const PassRecord* passAt(size_t index) const;
  /// Neither verification nor the golden comparison found a difference.
  bool passed() const;
};

/// Runs `options`. Throws tsopt::Error on bad input or a failing pass (unless keepGoing); then
/// nothing is written but the dumps of the passes that ran.
RunOutcome optimize(const RunOptions& options);

}  // namespace tsopt
