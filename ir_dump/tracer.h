// IrTracer: the instrumentation behind --dump-dir, --print-ir-* and the HTML report's diffs.
// After every pass it takes the canonical IR of the methods, diffs it against the stage before,
// and writes, prints or keeps what it was asked to. Passes know nothing of it.
#pragma once

#include <ostream>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir_dump/golden.h"
#include "ir_dump/ir_text.h"
#include "passes/core/pass_manager.h"

namespace tsopt {

/// Which files a dump writes per stage.
struct DumpKinds {
  bool ir = true, code = true, diff = true, dot = true;
};

/// Parses "ir,code,diff,dot" (any subset); throws tsopt::Error naming an unknown kind.
DumpKinds parseDumpKinds(const std::string& list);

/// Whether `stem` names a stage as dumps and golden files do: "00-input", "03-dce".
bool isStageStem(const std::string& stem);

/// Checks, without touching anything, that `dir` can take a dump: missing, empty, or holding
/// only what tsopt dumped there before (listed in its .tsopt-dump file). Throws tsopt::Error.
void checkDumpDir(const std::string& dir);

/// Makes `dir` ready for a dump: checked as checkDumpDir does, created if missing, the files of
/// an earlier dump removed (only those). Each file IrTracer writes is listed in .tsopt-dump.
void prepareDumpDir(const std::string& dir);

/// What an IrTracer does.
struct TraceOptions {
  std::string dumpDir;  ///< write files here (none if empty); the folder must exist
  DumpKinds dumpKinds;
  bool dumpAll = false;  ///< dump after every pass, not only those that changed the IR
  std::vector<std::string> printBefore, printAfter;  ///< pass names
  bool printAfterAll = false, printAfterChange = false;
  std::ostream* printTo = nullptr;  ///< where --print-ir-* goes (stderr)
  bool keepDiffs = false;           ///< keep every pass's diff for a report
  bool keepStages = false;          ///< keep every stage's canonical IR (golden files)
};

/// The effect of one pass on the canonical IR.
struct PassDiff {
  size_t index = 0;  ///< execution index
  std::string name;
  bool irChanged = false;
  std::string diff;  ///< unified diff, "" if unchanged
};

class IrTracer : public PassInstrumentation {
 public:
  explicit IrTracer(TraceOptions options) : options_(std::move(options)) {}

  /// Records (and dumps, as 00-input) the stage before the first pass. Call before the run.
  void start(const torch::jit::Module& module, const std::vector<std::string>& methods);

  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& module,
                  const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, const PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;

  const std::vector<PassDiff>& diffs() const { return diffs_; }
  /// 00-input and every pass, changed or not (with keepStages).
  const std::vector<Stage>& stages() const { return stages_; }

 private:
  void dump(const std::string& stem, const torch::jit::Module& module,
            const std::vector<std::string>& methods, const std::string& ir,
            const std::string& diff);
  void write(const std::string& file, const std::string& text);
  bool wantsDiffs() const;
  CanonicalText canonicalText(const torch::jit::Module& module,
                              const std::vector<std::string>& methods) const;
  void print(const std::string& when, const Pass& pass, const std::string& ir);

  TraceOptions options_;
  std::string previousIr_, previousKeys_, previousStem_;
  std::unordered_set<const torch::jit::Node*> nodesBefore_;
  std::vector<PassDiff> diffs_;
  std::vector<Stage> stages_;
};

}  // namespace tsopt
