// IrDumper: the instrumentation behind --dump-dir. Writes the input stage and the stage after each
// pass that changed the model (or every pass) as IR, code, diff and DOT files, named NN-<pass>.*,
// into a folder it only ever cleans of files it wrote itself.
#pragma once

#include <string>
#include <vector>

#include "ir_dump/stages.h"

namespace tsopt {

/// Which files a dump writes per stage.
struct DumpKinds {
  bool ir = true, code = true, diff = true, dot = true;
};

/// Parses "ir,code,diff,dot" (any subset); throws tsopt::Error naming an unknown kind.
DumpKinds parseDumpKinds(const std::string& list);

/// Checks, without touching anything, that `dir` can take a dump: missing, empty, or holding
/// only what tsopt dumped there before (listed in its .tsopt-dump file). Throws tsopt::Error.
void checkDumpDir(const std::string& dir);

/// Makes `dir` ready for a dump: checked as checkDumpDir does, created if missing, the files of
/// an earlier dump removed (only those). Each file IrDumper writes is listed in .tsopt-dump.
void prepareDumpDir(const std::string& dir);

/// Writes stages into a folder made ready by prepareDumpDir. In DOT files, the nodes a pass made
/// are highlighted.
class IrDumper : public PassInstrumentation {
 public:
  IrDumper(StageIr& stages, std::string dir, DumpKinds kinds, bool everyPass)
      : stages_(stages), dir_(std::move(dir)), kinds_(kinds), everyPass_(everyPass) {}
  void beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) override;
  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& module,
                  const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;

 private:
  /// A method's graph before a pass: the graph itself (held, so its address names it while the
  /// pass runs) and the largest value number in it. Values numbered above it are new.
  struct GraphMark {
    std::shared_ptr<torch::jit::Graph> graph;
    size_t maxUnique = 0;
  };
  void dump(const torch::jit::Module& module, const std::vector<std::string>& methods,
            bool isInput);
  void write(const std::string& file, const std::string& text);

  StageIr& stages_;
  std::string dir_;
  DumpKinds kinds_;
  bool everyPass_;
  std::map<std::string, GraphMark> marks_;  ///< per method, taken before each pass (DOT only)
};

}  // namespace tsopt
