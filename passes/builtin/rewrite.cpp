// rewrite: applies the pattern rewrites of rules files (docs/rewrite.md), to a fixed point or once.
//
//   rule silu-as-sigmoid-mul                  %y = aten::silu(%x)
//   pattern                              ->     becomes
//     graph(%x): ... aten::silu ...           %s = aten::sigmoid(%x)
//   replacement                               %y = aten::mul(%x, %s)
//     graph(%x): ... sigmoid, mul ...
//
// The files are read and every rule checked when the option is set, so a wrong rule stops the
// pipeline before the model loads. Counts "rule.NAME" per rule; a rule that matched nothing and
// rounds that did not reach a fixed point are warnings of the run.
#include <algorithm>
#include <filesystem>

#include "passes/builtin/rewrite_rules.h"
#include "passes/core/pass_manager.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

/// `rules=FILE` or `rules=[A,B]`: the files, loaded and checked as soon as they are set.
class RulesOption : public OptionBase {
 public:
  explicit RulesOption(Pass& owner)
      : OptionBase(owner, "rules",
                   "rules files to apply, in order; a name without a folder is also looked for "
                   "among the rules tsopt ships (decompose, fuse, cleanup)",
                   OptionKind::List) {}

  /// A file is kept as an absolute path, so that the pass's text (in reports, a reproducer's
  /// pipeline) names it from anywhere; a shipped file by its name.
  void set(const OptionValue& value) override {
    files_.clear();
    rules_.clear();
    for (const std::string& file :
         value.isList ? value.items : std::vector<std::string>{value.scalar}) {
      const std::string path = findRulesFile(file);
      for (Rule& rule : loadRules(path)) rules_.push_back(std::move(rule));
      const bool shipped = path != file;
      files_.push_back(shipped ? file
                               : std::filesystem::absolute(file).lexically_normal().string());
    }
  }
  std::string valueString() const override {
    if (files_.size() == 1) return files_.front();
    std::string out = "[";
    for (size_t i = 0; i < files_.size(); ++i) out += (i ? "," : "") + files_[i];
    return out + "]";
  }
  std::string defaultString() const override { return "[]"; }
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<std::string> files_;
  std::vector<Rule> rules_;
};

class RewritePass : public ModulePass {
 public:
  std::string name() const override { return "rewrite"; }
  std::string description() const override {
    return "Apply the pattern rewrites of rules files (rules=FILE; docs/rewrite.md), to a fixed "
           "point or once";
  }

  std::string checkOptions() const override {
    return rules_.rules().empty() ? "needs rules files: rewrite{rules=FILE}" : "";
  }

  bool run(torch::jit::Module& module, ModulePassContext& ctx) override {
    std::map<std::string, int64_t> total;
    bool changed = false;
    for (const std::string& method : ctx.methods) {
      std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method);
      RewriteResult r = applyRules(*graph, rules_.rules(), once_, maxRounds_);
      for (const auto& [rule, n] : r.matches) {
        total[rule] += n;
        changed |= n > 0;
      }
      if (!r.grewPast.empty()) {
        const Rule& rule = *std::find_if(rules_.rules().begin(), rules_.rules().end(),
                                         [&](const Rule& x) { return x.name == r.grewPast; });
        ctx.warnings.push_back("rule '" + rule.name + "' (" + rule.location + ") grew method '" +
                               method + "' past " + std::to_string(r.nodeBudget) +
                               " nodes; the rewrite stopped there (a rule whose replacement "
                               "holds its own pattern matches again every round)");
      } else if (!r.converged) {
        ctx.warnings.push_back("the rules still matched after " + std::to_string(r.rounds) +
                               " rounds on method '" + method +
                               "' (a rule may undo another); raise max-rounds or use once");
      }
    }
    for (const Rule& rule : rules_.rules()) {
      ctx.stats.add("rule." + rule.name, total[rule.name]);
      if (total[rule.name] == 0) {
        ctx.warnings.push_back("rule '" + rule.name + "' (" + rule.location + ") matched nothing");
      }
    }
    return changed;
  }

 private:
  RulesOption rules_{*this};
  BoolOption once_{*this, "once", "one round over the rules, not rounds until none matches", false};
  IntOption maxRounds_{*this, "max-rounds", "rounds before giving up on a fixed point", 100, 1};
};

TSOPT_REGISTER_PASS(RewritePass);

}  // namespace

}  // namespace tsopt
