// The IR of a run, stage by stage, as instrumentations: StageIr computes the canonical IR once per
// stage (the input, then after every pass) and is the one judge of whether a pass changed it;
// IrPrinter (--print-ir-*), IrDumper (--dump-dir) and StageRecorder (golden files, the HTML
// report's diffs) read what it computed. Attach StageIr first. Passes know nothing of them.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "ir_dump/golden.h"
#include "ir_dump/ir_text.h"
#include "ir_dump/viewer_page.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

/// The name of a stage in dumps and golden folders: "00-input", then "NN-<pass>" with NN the
/// 1-based execution index.
std::string stageStem(size_t index, const std::string& pass);

/// Whether `stem` names a stage as dumps and golden files do: "00-input", "03-dce".
bool isStageStem(const std::string& stem);

/// The canonical IR of the current stage of a run. After each pass it sets PassRecord::changed
/// when the IR differs from the stage before (a pass that says it changed something stays
/// changed: a module pass may change what the IR does not show).
class StageIr : public PassInstrumentation {
 public:
  /// `withKeys`: also compute identity keys, so that diff() can align lines (costs a second
  /// graph copy per stage; only diffs need them).
  explicit StageIr(bool withKeys) : withKeys_(withKeys) {}

  void beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;

  /// The current stage: "00-input" before the first pass, then the last pass's.
  const std::string& stem() const { return stem_; }
  const std::string& ir() const { return current_.text; }
  /// Whether the last pass changed the canonical IR.
  bool irChanged() const { return irChanged_; }
  /// The unified diff from the stage before to the current one ("" if unchanged), its files named
  /// after the stage where the earlier IR first appeared. Computed once per stage; needs keys.
  const std::string& diff();

 private:
  CanonicalText canonical(const torch::jit::Module& module,
                          const std::vector<std::string>& methods) const;

  bool withKeys_;
  std::string stem_;       ///< the current stage
  std::string firstSeen_;  ///< the stage where the current IR first appeared
  std::string baseStem_;   ///< the stage where the previous IR first appeared (the diff's "a/")
  CanonicalText current_, previous_;
  bool irChanged_ = false;
  bool diffDone_ = false;
  std::string diff_;
};

/// Which stages IrPrinter prints, as MLIR's IR printer chooses them.
struct IrPrintConfig {
  std::vector<std::string> before, after;  ///< pass names
  bool afterAll = false, afterChange = false;
  bool any() const { return !before.empty() || !after.empty() || afterAll || afterChange; }
};

/// Prints the canonical IR before or after the passes `config` names.
class IrPrinter : public PassInstrumentation {
 public:
  IrPrinter(const StageIr& stages, IrPrintConfig config, std::ostream& out)
      : stages_(stages), config_(std::move(config)), out_(out) {}
  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& module,
                  const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;

 private:
  void print(const std::string& when, const Pass& pass);
  const StageIr& stages_;
  IrPrintConfig config_;
  std::ostream& out_;
};

/// One pass's effect on the canonical IR, as the HTML report shows it.
struct PassDiff {
  size_t index = 0;  ///< execution index
  std::string name;
  bool changed = false;
  std::string diff;  ///< unified diff, "" if the IR is unchanged
};

/// Keeps what a run's stages were, for after the run: every stage's IR (golden files) and every
/// pass's diff (the HTML report).
class StageRecorder : public PassInstrumentation {
 public:
  StageRecorder(StageIr& stages, bool keepStages, bool keepDiffs)
      : stageIr_(stages), keepStages_(keepStages), keepDiffs_(keepDiffs) {}
  void beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;

  /// 00-input and the stage after every pass.
  const std::vector<Stage>& stages() const { return stages_; }
  const std::vector<PassDiff>& diffs() const { return diffs_; }

 private:
  StageIr& stageIr_;
  bool keepStages_, keepDiffs_;
  std::vector<Stage> stages_;
  std::vector<PassDiff> diffs_;
};

/// Keeps the first method's graph, as the viewer reads it, before the run and after every pass
/// that changed the model, for the HTML report's before-and-after views. Past `nodeBudget` nodes
/// kept in all, it stops keeping stages; finish() then adds the final one.
class GraphViewRecorder : public PassInstrumentation {
 public:
  explicit GraphViewRecorder(size_t nodeBudget = 250000) : budget_(nodeBudget) {}
  void beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;
  /// After the run: the views, the whole run first, then each pass kept.
  ViewerData finish(const torch::jit::Module& module, const std::vector<std::string>& methods);

 private:
  /// Keeps the graph now as stage `name`; false past the budget.
  bool keep(const torch::jit::Module& module, const std::string& method, const std::string& name);

  size_t budget_, kept_ = 0;
  ViewerData data_;
  bool complete_ = true;                     ///< every changed stage was kept
  std::shared_ptr<torch::jit::Graph> last_;  ///< held, so that a new graph has a new address
  int64_t graphId_ = 0;
};

}  // namespace tsopt
