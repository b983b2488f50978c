// The unit of work: a pass transforms one method graph of a module, says whether it changed
// anything and counts what it did. Passes never print, never read the command line.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passes/core/options.h"

namespace tsopt {

/// Named counters a pass reports, such as "folded" or "skipped.shared-weight".
class Statistics {
 public:
  void add(const std::string& name, int64_t delta = 1) { counters_[name] += delta; }
  int64_t get(const std::string& name) const {
    auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
  }
  const std::map<std::string, int64_t>& all() const { return counters_; }
  void merge(const Statistics& other) {
    for (const auto& [k, v] : other.counters_) counters_[k] += v;
  }

 private:
  std::map<std::string, int64_t> counters_;
};

/// What a pass may see besides its graph: the module (to read and write parameters), the method
/// being transformed, every method in the run, and where to count statistics.
struct PassContext {
  torch::jit::Module& module;
  std::string method;
  const std::vector<std::string>& methods;
  Statistics& stats;
};

/// Base class of every pass. Subclasses declare options as members
/// (`IntOption depth_{*this, "max-depth", "help", -1, -1}`) and implement run().
class Pass {
 public:
  Pass() = default;
  virtual ~Pass() = default;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  /// Kebab-case name used in pipelines, e.g. "fold-conv-bn".
  virtual std::string name() const = 0;
  /// One line: what the pass does. The single source for `tsopt passes` and docs/.
  virtual std::string description() const = 0;
  /// Transforms `graph`, the graph of method ctx.method; returns true if it changed anything.
  virtual bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) = 0;

  const std::vector<OptionBase*>& options() const { return options_; }
  /// The option called `name`, or nullptr.
  OptionBase* findOption(const std::string& name) const;
  /// The pass as pipeline text, with the options that differ from their defaults.
  std::string str() const;

 private:
  friend class OptionBase;
  void registerOption(OptionBase* option) { options_.push_back(option); }
  std::vector<OptionBase*> options_;
};

/// Nodes in `block` and all blocks nested in it.
int64_t countNodes(const torch::jit::Block* block);

}  // namespace tsopt
