// `tsopt rules check FILE...`: parses rules files and checks every rule on random inputs, as
// `rewrite{rules=FILE}` does before it runs, and says which rules are refused and why.
#include <iostream>

#include "passes/builtin/rewrite_rules.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

struct RulesArgs {
  std::vector<std::string> files;
  int trials = 3;
};

int checkCommand(const RulesArgs& a) {
  // Every file parses before any rule is checked: a syntax error is bad input.
  std::vector<std::vector<Rule>> files;
  for (const std::string& name : a.files) files.push_back(readRulesFile(name));
  size_t rules = 0, refused = 0;
  for (const std::vector<Rule>& file : files) {
    for (const Rule& rule : file) {
      std::string wrong = checkRule(rule, a.trials);
      ++rules;
      if (wrong.empty()) {
        std::cout << "ok       " << rule.name << " (" << rule.location << ")\n";
      } else {
        ++refused;
        std::cout << "refused  " << rule.name << " (" << rule.location << "): " << wrong << "\n";
      }
    }
  }
  (refused ? std::cerr : std::cout)
      << "tsopt: rules: " << rules - refused << " of " << rules << " rules computed what their "
      << "patterns compute on " << a.trials << " random input sets and on edge values"
      << (refused ? "; " + std::to_string(refused) + " refused" : "") << "\n";
  return refused ? kDifference : kOk;
}

}  // namespace

Command addRulesCommand(CLI::App& app) {
  auto args = std::make_shared<RulesArgs>();
  CLI::App* rules = app.add_subcommand("rules", "Work with rules files for the rewrite pass");
  rules->require_subcommand(1);
  CLI::App* check = rules->add_subcommand(
      "check",
      "Check that every rule's replacement computes what its pattern computes (exit 0 all do, 1 "
      "some do not, 2 error)");
  check->fallthrough();  // --ops and the other options every command takes belong to `rules`
  check->add_option("files", args->files, "rules files, or the names of shipped ones")->required();
  check->add_option("--trials", args->trials, "random input sets per rule")
      ->check(CLI::Range(1, 1000));
  return [args] { return checkCommand(*args); };
}

}  // namespace tsopt::cli
