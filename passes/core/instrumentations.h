// The instrumentations the framework offers besides the ones in ir_dump/ and verify/: node counts
// for reports, and keep-going (skip a failing pass, the module restored). Each is attached to a
// PassManager only when a run asks for what it gives.
#pragma once

#include <string>
#include <vector>

#include "passes/core/pass_manager.h"

namespace tsopt {

/// Fills PassRecord::nodesBefore and nodesAfter: nodes (recursively) over the run's methods. One
/// count per pass: a pass starts from the count the one before it ended with.
class NodeCounts : public PassInstrumentation {
 public:
  void beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) override;
  void afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                 torch::jit::Module& module, const std::vector<std::string>& methods) override;
  /// Nodes over `methods` of `module`.
  static int64_t count(const torch::jit::Module& module, const std::vector<std::string>& methods);

 private:
  int64_t before_ = 0;  ///< the count the next pass starts from
};

/// On a pass that throws or leaves an invalid graph, restores the module as it was before the
/// pass so the run goes on (the record says the pass failed). Costs a serialization of the
/// module before every pass.
class KeepGoing : public PassInstrumentation {
 public:
  void beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& module,
                  const std::vector<std::string>& methods) override;
  bool onFailure(const Pass& pass, const PassRunInfo& info, const std::string& message,
                 torch::jit::Module& module) override;

 private:
  std::string snapshot_;
};

}  // namespace tsopt
