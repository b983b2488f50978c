// Node counts and keep-going.
#include "passes/core/instrumentations.h"

#include "passes/core/module_io.h"

namespace tsopt {

int64_t NodeCounts::count(const torch::jit::Module& module,
                          const std::vector<std::string>& methods) {
  int64_t n = 0;
  for (const std::string& m : methods) n += countNodes(methodGraph(module, m)->block());
  return n;
}

void NodeCounts::beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) {
  before_ = count(module, methods);
}

void NodeCounts::afterPass(const Pass& /*pass*/, const PassRunInfo& /*info*/, PassRecord& record,
                           torch::jit::Module& module, const std::vector<std::string>& methods) {
  record.nodesBefore = before_;
  record.nodesAfter = before_ = count(module, methods);
}

void KeepGoing::beforePass(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                           torch::jit::Module& module,
                           const std::vector<std::string>& /*methods*/) {
  snapshot_ = serializeModule(module);
}

bool KeepGoing::onFailure(const Pass& pass, const PassRunInfo& /*info*/,
                          const std::string& /*message*/, torch::jit::Module& module) {
  module = deserializeModule(snapshot_, "the model as it was before pass '" + pass.name() + "'");
  return true;
}

}  // namespace tsopt
