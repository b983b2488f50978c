// Pattern rewrites declared in a rules file (docs/rewrite.md): each rule is a pattern graph and a
// replacement graph in TorchScript IR text, with conditions on the values the pattern matches.
// A rule is checked when it is loaded: both graphs parse, name known operators, take the same
// inputs and return as many values, and the replacement computes what the pattern computes on
// random inputs of the declared types. The `rewrite` pass applies them.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace tsopt {

/// A condition on a value the pattern matched: `where %alpha == 1`.
struct RuleCondition {
  enum class Kind {
    Equals,     ///< a constant equal to `constant`
    NotEquals,  ///< a constant other than `constant`
    InRange,    ///< a constant number in [low, high]
    DType,      ///< a tensor whose dtype is known and is `dtype`
    Rank,       ///< a tensor whose rank is known and is `rank`
    OneUse,     ///< used exactly once
  };
  Kind kind = Kind::Equals;
  std::string value;  ///< the pattern value's name, without '%'
  c10::IValue constant;
  double low = 0, high = 0;
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t rank = 0;
};

/// One rule of a rules file.
struct Rule {
  std::string name, description;
  std::string location;  ///< "FILE:LINE" of its `rule` line
  /// The pattern; its scalar constants are lifted into inputs with an Equals condition each, so
  /// a constant shared by many nodes of a model still matches (the matcher demands that values
  /// inside the pattern have no uses outside it).
  std::shared_ptr<torch::jit::Graph> pattern;
  /// The replacement, given the same inputs as the pattern (lifted constants included).
  std::shared_ptr<torch::jit::Graph> replacement;
  /// The pattern's values by the names the rule gives them.
  std::unordered_map<std::string, torch::jit::Value*> values;
  std::vector<RuleCondition> conditions;
  double rtol = 1e-5, atol = 1e-6;  ///< how closely the check compares the two graphs
};

/// Parses a rules file's text; `path` names it in messages. Throws tsopt::Error as
/// "PATH:LINE:COLUMN: what is wrong". Does not run the numeric check.
std::vector<Rule> parseRules(const std::string& text, const std::string& path);

/// What the numeric check of a rule found: "" if the replacement computed what the pattern did
/// on every trial, else why not, with the inputs that show it.
std::string checkRule(const Rule& rule, int trials = 3);

/// `name` itself if it is a file or a path; else NAME.rules (or NAME) among the rules tsopt
/// ships (installed, or in the source tree). Throws tsopt::Error naming the shipped ones if none.
std::string findRulesFile(const std::string& name);

/// Reads and parses the rules file `name` (see findRulesFile), without the numeric check.
std::vector<Rule> readRulesFile(const std::string& name);

/// Reads, parses and checks the rules file `name`; throws tsopt::Error on the first problem.
std::vector<Rule> loadRules(const std::string& name);

/// What applying rules to a graph did.
struct RewriteResult {
  std::map<std::string, int64_t> matches;  ///< rewrites per rule name
  int64_t rounds = 0;                      ///< passes over the rules
  bool converged = true;                   ///< a round changed nothing before the limit
  int64_t nodeBudget = 0;                  ///< the most nodes the rewrites may grow the graph to
  std::string grewPast;  ///< the rule after which the graph outgrew the budget ("" if none)
};

/// A graph of N nodes may grow to kNodeBudgetFactor * N + kNodeBudgetSlack nodes under rewrites:
/// room for decompositions, none for a rule that grows the graph every round.
constexpr int64_t kNodeBudgetFactor = 4;
constexpr int64_t kNodeBudgetSlack = 1000;

/// Rewrites every match of each rule in turn; with `once`, one round over the rules, else rounds
/// until one changes nothing (at most `maxRounds`). Stops, the graph valid, as soon as a rule
/// has grown it past its node budget.
RewriteResult applyRules(torch::jit::Graph& graph, const std::vector<Rule>& rules, bool once,
                         int64_t maxRounds);

}  // namespace tsopt
