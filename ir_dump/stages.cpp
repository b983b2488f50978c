// StageIr, IrPrinter and StageRecorder: the canonical IR of each stage, computed once and shared.
#include "ir_dump/stages.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <regex>

#include "ir_dump/diff.h"
#include "ir_dump/graph_view.h"

namespace tsopt {

std::string stageStem(size_t index, const std::string& pass) {
  char number[24];
  std::snprintf(number, sizeof number, "%02zu", index + 1);
  return std::string(number) + "-" + pass;
}

bool isStageStem(const std::string& stem) {
  static const std::regex stage(R"(\d{2,}-[^/]+)");
  return std::regex_match(stem, stage);
}

CanonicalText StageIr::canonical(const torch::jit::Module& module,
                                 const std::vector<std::string>& methods) const {
  if (withKeys_) return canonicalModuleIrWithKeys(module, methods);
  return {canonicalModuleIr(module, methods), ""};
}

void StageIr::beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) {
  stem_ = firstSeen_ = baseStem_ = "00-input";
  current_ = canonical(module, methods);
  previous_ = {};
  irChanged_ = false;
  diffDone_ = true;
  diff_.clear();
}

void StageIr::afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                        torch::jit::Module& module, const std::vector<std::string>& methods) {
  CanonicalText now = canonical(module, methods);
  irChanged_ = now.text != current_.text;
  previous_ = std::move(current_);
  current_ = std::move(now);
  stem_ = stageStem(info.index, pass.name());
  if (irChanged_) {
    baseStem_ = firstSeen_;
    firstSeen_ = stem_;
  }
  record.changed = record.changed || irChanged_;
  diffDone_ = false;
  diff_.clear();
}

const std::string& StageIr::diff() {
  if (!diffDone_ && irChanged_) {
    diff_ = unifiedDiffByKeys(previous_.text, current_.text, previous_.keys, current_.keys,
                              "a/" + baseStem_ + ".ir", "b/" + stem_ + ".ir");
  }
  diffDone_ = true;
  return diff_;
}

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

void IrPrinter::beforePass(const Pass& pass, const PassRunInfo& /*info*/,
                           torch::jit::Module& /*module*/,
                           const std::vector<std::string>& /*methods*/) {
  if (contains(config_.before, pass.name())) print("Before", pass);
}

void IrPrinter::afterPass(const Pass& pass, const PassRunInfo& /*info*/, PassRecord& record,
                          torch::jit::Module& /*module*/,
                          const std::vector<std::string>& /*methods*/) {
  if (config_.afterAll || contains(config_.after, pass.name()) ||
      (config_.afterChange && record.changed)) {
    print("After", pass);
  }
}

void IrPrinter::print(const std::string& when, const Pass& pass) {
  out_ << "// -----// IR Dump " << when << " " << pass.str() << " //----- //\n"
       << stages_.ir() << "\n";
}

void StageRecorder::beforeRun(torch::jit::Module& /*module*/,
                              const std::vector<std::string>& /*methods*/) {
  stages_.clear();
  diffs_.clear();
  if (keepStages_) stages_.push_back({stageIr_.stem(), stageIr_.ir(), true});
}

void StageRecorder::afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                              torch::jit::Module& /*module*/,
                              const std::vector<std::string>& /*methods*/) {
  if (keepStages_) stages_.push_back({stageIr_.stem(), stageIr_.ir(), record.changed});
  if (keepDiffs_) diffs_.push_back({info.index, pass.name(), record.changed, stageIr_.diff()});
}

bool GraphViewRecorder::keep(const torch::jit::Module& module, const std::string& method,
                             const std::string& name) {
  std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
  nlohmann::json view = graphView(*graph);
  size_t nodes = view["nodes"].size();
  if (kept_ + nodes > budget_ && !data_.stages.empty()) return false;
  kept_ += nodes;
  if (graph != last_) ++graphId_;
  last_ = graph;
  data_.stages.push_back({name, graphId_, std::move(view)});
  return true;
}

void GraphViewRecorder::beforeRun(torch::jit::Module& module,
                                  const std::vector<std::string>& methods) {
  data_ = {};
  kept_ = 0;
  complete_ = true;
  keep(module, methods.front(), "00-input");
}

void GraphViewRecorder::afterPass(const Pass& pass, const PassRunInfo& info, PassRecord& record,
                                  torch::jit::Module& module,
                                  const std::vector<std::string>& methods) {
  if (!record.changed || !complete_) return;
  if (!keep(module, methods.front(), stageStem(info.index, pass.name()))) {
    complete_ = false;
    return;
  }
  size_t after = data_.stages.size() - 1;
  data_.passes.push_back({data_.stages[after].name + ": " + pass.str(), after - 1, after});
}

ViewerData GraphViewRecorder::finish(const torch::jit::Module& module,
                                     const std::vector<std::string>& methods) {
  if (!complete_) {
    budget_ = std::numeric_limits<size_t>::max();
    keep(module, methods.front(), "final");
  }
  ViewerData out = std::move(data_);
  if (out.stages.size() > 1) {
    out.passes.insert(out.passes.begin(),
                      {"the whole run: " + out.stages.front().name + " to " +
                           out.stages.back().name + (complete_ ? "" : " (stages between not kept)"),
                       0, out.stages.size() - 1});
  }
  data_ = {};
  return out;
}

}  // namespace tsopt
