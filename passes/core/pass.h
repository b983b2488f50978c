// The unit of work. A graph pass transforms one method graph at a time; a module pass transforms
// the whole module once (freezing, stripping). Either says whether it changed anything and counts
// what it did. Passes never print, never read the command line.
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

/// What a graph pass may see besides its graph: the module (to read and write parameters), the
/// method being transformed, every method in the run, and where to count statistics.
struct PassContext {
  torch::jit::Module& module;
  std::string method;
  const std::vector<std::string>& methods;
  Statistics& stats;
};

/// What a module pass may see besides the module: the methods the run keeps, where to count
/// statistics, and where to leave warnings for the user (a method dropped, a part kept).
struct ModulePassContext {
  const std::vector<std::string>& methods;
  Statistics& stats;
  std::vector<std::string>& warnings;
};

/// Base of both kinds of pass: a name, a description and options. Subclasses declare options as
/// members (`IntOption depth_{*this, "max-depth", "help", -1, -1}`) and derive from GraphPass or
/// ModulePass.
class Pass {
 public:
  /// What one run of the pass works on.
  enum class Kind {
    Graph,   ///< each method graph of the run in turn (GraphPass)
    Module,  ///< the whole module, once (ModulePass)
  };

  Pass() = default;
  virtual ~Pass() = default;
  Pass(const Pass&) = delete;
  Pass& operator=(const Pass&) = delete;

  virtual Kind kind() const = 0;
  /// Kebab-case name used in pipelines, e.g. "fold-conv-bn".
  virtual std::string name() const = 0;
  /// One line: what the pass does. The single source for `tsopt passes` and docs/.
  virtual std::string description() const = 0;

  /// A requirement on the passes that run after this one: none may have `trait`, because
  /// `reason`. The pipeline parser refuses a pipeline that breaks it.
  struct LaterConstraint {
    std::string trait, reason;
  };
  /// What the pass does that others may need to know about, as traits such as "freezes".
  virtual std::vector<std::string> traits() const { return {}; }
  /// What it requires of the passes after it (in a fixed-point group: every pass of the group).
  virtual std::vector<LaterConstraint> constraintsOnLater() const { return {}; }

  /// What is wrong with the options taken together (one that must be given, is not), or "".
  /// The pipeline parser calls it once every option given is set.
  virtual std::string checkOptions() const { return ""; }

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

/// A pass over one method graph: the pass manager runs it on each method of the run in turn and
/// checks each graph after it.
class GraphPass : public Pass {
 public:
  Kind kind() const final { return Kind::Graph; }
  /// Transforms `graph`, the graph of method ctx.method; returns true if it changed anything.
  virtual bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& ctx) = 0;
};

/// A pass over the whole module, run once per pipeline step; the pass manager checks every method
/// of the run after it. It may replace `module` (freezing makes a new one).
class ModulePass : public Pass {
 public:
  Kind kind() const final { return Kind::Module; }
  /// Transforms `module`; returns true if it changed anything.
  virtual bool run(torch::jit::Module& module, ModulePassContext& ctx) = 0;
};

/// Nodes in `block` and all blocks nested in it.
int64_t countNodes(const torch::jit::Block* block);

}  // namespace tsopt
