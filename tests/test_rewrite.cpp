// Rules files and the rewrite pass: parsing and its messages, the numeric check of a rule,
// conditions, fixed point and once, and every rule shipped under rules/ on a graph that holds it.
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "passes/builtin/rewrite_rules.h"
#include "passes/core/error.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::testing::FileCheck;

std::shared_ptr<Graph> parse(const std::string& ir) {
  auto g = std::make_shared<Graph>();
  torch::jit::parseIR(ir, g.get());
  return g;
}

/// Seeded random inputs for `g`, from its inputs' complete tensor types.
std::vector<c10::IValue> inputsFor(const Graph& g, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<c10::IValue> out;
  for (const torch::jit::Value* v : g.inputs()) {
    out.emplace_back(at::randn(*v->type()->expectRef<c10::TensorType>().sizes().concrete_sizes()));
  }
  return out;
}

at::Tensor run(const std::shared_ptr<Graph>& g, const std::vector<c10::IValue>& inputs) {
  torch::jit::Stack stack(inputs.begin(), inputs.end());
  torch::jit::Code code(g->copy(), "test");
  torch::jit::InterpreterState(code).run(stack);
  return stack.front().toTensor();
}

std::vector<Rule> rulesFrom(const std::string& text) { return parseRules(text, "test.rules"); }

/// The message of the tsopt::Error `f` throws ("" if none).
template <typename F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kReluTwice = R"(
rule relu-twice relu(relu(x)) is relu(x)
pattern
  graph(%x : Tensor):
    %a : Tensor = aten::relu(%x)
    %b : Tensor = aten::relu(%a)
    return (%b)
replacement
  graph(%x : Tensor):
    %b : Tensor = aten::relu(%x)
    return (%b)
)";

// --- the shipped rules ------------------------------------------------------------------------

struct LibraryCase {
  std::string file, rule;
  std::string ir;      ///< a graph holding the pattern once
  std::string gone;    ///< the operator the rule replaces
  std::string now;     ///< an operator of the replacement ("" if it is the identity)
  bool exact = false;  ///< the rule computes bit for bit what the pattern does
};

void PrintTo(const LibraryCase& c, std::ostream* os) { *os << c.rule; }

const std::vector<LibraryCase>& libraryCases() {
  static const std::vector<LibraryCase> cases = {
      {"decompose", "silu-as-sigmoid-mul", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %a : Tensor = aten::relu(%x)
  %y : Tensor = aten::silu(%a)
  return (%y))IR",
       "aten::silu", "aten::sigmoid"},
      {"decompose", "silu_-as-sigmoid-mul", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %a : Tensor = aten::relu(%x)
  %y : Tensor = aten::silu_(%a)
  return (%y))IR",
       "aten::silu_", "aten::sigmoid"},
      {"decompose", "hardswish_-as-hardtanh", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %a : Tensor = aten::relu(%x)
  %y : Tensor = aten::hardswish_(%a)
  return (%y))IR",
       "aten::hardswish_", "aten::hardtanh"},
      {"decompose", "hardsigmoid-as-hardtanh", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %y : Tensor = aten::hardsigmoid(%x)
  return (%y))IR",
       "aten::hardsigmoid", "aten::hardtanh"},
      {"decompose", "hardswish-as-hardtanh", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %y : Tensor = aten::hardswish(%x)
  return (%y))IR",
       "aten::hardswish", "aten::hardtanh"},
      {"decompose", "gelu-as-erf", R"IR(
graph(%x : Float(2, 3, 4, 5)):
  %none : str = prim::Constant[value="none"]()
  %y : Tensor = aten::gelu(%x, %none)
  return (%y))IR",
       "aten::gelu", "aten::erf"},
      {"decompose", "linear-as-matmul-add", R"IR(
graph(%x : Float(3, 4), %w : Float(5, 4), %b : Float(5)):
  %y : Tensor = aten::linear(%x, %w, %b)
  return (%y))IR",
       "aten::linear", "aten::matmul"},
      // The constant 1 is shared with another add, as constant pooling leaves it in models.
      {"fuse", "linear-from-matmul-add", R"IR(
graph(%x : Float(3, 4), %w : Float(5, 4), %b : Float(5)):
  %one : int = prim::Constant[value=1]()
  %t : Float(4, 5) = aten::t(%w)
  %m : Float(3, 5) = aten::matmul(%x, %t)
  %y : Float(3, 5) = aten::add(%m, %b, %one)
  %z : Float(3, 5) = aten::add(%y, %y, %one)
  return (%z))IR",
       "aten::matmul", "aten::linear"},
      {"fuse", "linear-from-addmm", R"IR(
graph(%b : Float(5), %x : Float(3, 4), %w : Float(5, 4)):
  %one : int = prim::Constant[value=1]()
  %t : Tensor = aten::t(%w)
  %y : Tensor = aten::addmm(%b, %x, %t, %one, %one)
  return (%y))IR",
       "aten::addmm", "aten::linear"},
      {"cleanup", "dropout-in-eval", R"IR(
graph(%x : Float(2, 3)):
  %false : bool = prim::Constant[value=0]()
  %p : float = prim::Constant[value=0.5]()
  %d : Tensor = aten::dropout(%x, %p, %false)
  %y : Tensor = aten::relu(%d)
  return (%y))IR",
       "aten::dropout", "", true},
      {"cleanup", "feature-dropout-in-eval", R"IR(
graph(%x : Float(2, 3, 4)):
  %false : bool = prim::Constant[value=0]()
  %p : float = prim::Constant[value=0.2]()
  %d : Tensor = aten::feature_dropout(%x, %p, %false)
  %y : Tensor = aten::relu(%d)
  return (%y))IR",
       "aten::feature_dropout", "", true},
  };
  return cases;
}

class LibraryRule : public ::testing::TestWithParam<LibraryCase> {};

TEST_P(LibraryRule, RewritesItsPatternOnceAndComputesWhatItDid) {
  const LibraryCase& c = GetParam();
  std::vector<Rule> rules = loadRules(std::string(TSOPT_RULES_DIR) + "/" + c.file + ".rules");
  std::shared_ptr<Graph> before = parse(c.ir), after = before->copy();
  RewriteResult r = applyRules(*after, rules, /*once=*/false, 10);
  for (const auto& [name, n] : r.matches) EXPECT_EQ(n, name == c.rule ? 1 : 0) << name;
  EXPECT_TRUE(r.converged);
  after->lint();
  FileCheck().check_not(c.gone + "(")->run(*after);
  if (!c.now.empty()) FileCheck().check(c.now + "(")->run(*after);

  const Rule& rule =
      *std::find_if(rules.begin(), rules.end(), [&](const Rule& x) { return x.name == c.rule; });
  for (uint64_t seed = 0; seed < 3; ++seed) {
    std::vector<c10::IValue> inputs = inputsFor(*before, seed);
    at::Tensor want = run(before, inputs), got = run(after, inputs);
    if (c.exact) {
      EXPECT_TRUE(at::equal(want, got));
    } else {
      // A decomposition or fusion rounds differently from the one kernel it stands for; the
      // rule declares by how much, and its load-time check holds it to that.
      EXPECT_TRUE(at::allclose(want, got, rule.rtol, rule.atol)) << (want - got).abs().max();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, LibraryRule, ::testing::ValuesIn(libraryCases()),
                         [](const auto& info) {
                           std::string name = info.param.rule;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Rewrite, EveryShippedRuleHasACase) {
  std::set<std::string> tested;
  for (const LibraryCase& c : libraryCases()) tested.insert(c.file + "/" + c.rule);
  size_t shipped = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TSOPT_RULES_DIR)) {
    if (entry.path().extension() != ".rules") continue;
    for (const Rule& rule : loadRules(entry.path().string())) {
      ++shipped;
      EXPECT_TRUE(tested.count(entry.path().stem().string() + "/" + rule.name)) << rule.name;
    }
  }
  EXPECT_EQ(shipped, tested.size());
}

// --- conditions -------------------------------------------------------------------------------

TEST(Rewrite, ConditionsKeepARuleFromValuesTheyDoNotAllow) {
  std::vector<Rule> rules = loadRules(std::string(TSOPT_RULES_DIR) + "/cleanup.rules");
  // Training on, and a flag that is not a constant: neither is known to be eval mode.
  auto g = parse(R"IR(
graph(%x : Float(2, 3), %flag : bool):
  %true : bool = prim::Constant[value=1]()
  %p : float = prim::Constant[value=0.5]()
  %a : Tensor = aten::dropout(%x, %p, %true)
  %b : Tensor = aten::dropout(%a, %p, %flag)
  return (%b))IR");
  RewriteResult r = applyRules(*g, rules, false, 10);
  EXPECT_EQ(r.matches.at("dropout-in-eval"), 0);
  FileCheck().check_count("aten::dropout(", 2, /*exactly=*/true)->run(*g);

  std::vector<Rule> linear = loadRules(std::string(TSOPT_RULES_DIR) + "/decompose.rules");
  auto none = parse(R"IR(
graph(%x : Float(3, 4), %w : Float(5, 4)):
  %none : NoneType = prim::Constant()
  %y : Tensor = aten::linear(%x, %w, %none)
  return (%y))IR");
  EXPECT_EQ(applyRules(*none, linear, false, 10).matches.at("linear-as-matmul-add"), 0);

  // The rank of %b is unknown: linear-from-matmul-add cannot know that add broadcasts as a bias.
  std::vector<Rule> fuse = loadRules(std::string(TSOPT_RULES_DIR) + "/fuse.rules");
  auto unknown = parse(R"IR(
graph(%x : Float(3, 4), %w : Float(5, 4), %b : Tensor):
  %one : int = prim::Constant[value=1]()
  %t : Tensor = aten::t(%w)
  %m : Tensor = aten::matmul(%x, %t)
  %y : Tensor = aten::add(%m, %b, %one)
  return (%y))IR");
  EXPECT_EQ(applyRules(*unknown, fuse, false, 10).matches.at("linear-from-matmul-add"), 0);
}

TEST(Rewrite, RangeAndDtypeConditionsHoldOnlyForWhatTheyAllow) {
  std::vector<Rule> rules = rulesFrom(R"(
rule small-leaky-relu-of-float
pattern
  graph(%x : Tensor, %slope : float):
    %y : Tensor = aten::leaky_relu(%x, %slope)
    return (%y)
replacement
  graph(%x : Tensor, %slope : float):
    %y : Tensor = aten::leaky_relu(%x, %slope)
    return (%y)
where %slope in [0, 0.5]
where %x dtype float32
)");
  auto g = parse(R"IR(
graph(%f : Float(2, 3), %d : Double(2, 3), %u : Tensor):
  %small : float = prim::Constant[value=0.1]()
  %big : float = prim::Constant[value=0.9]()
  %a : Tensor = aten::leaky_relu(%f, %small)
  %b : Tensor = aten::leaky_relu(%f, %big)
  %c : Tensor = aten::leaky_relu(%d, %small)
  %e : Tensor = aten::leaky_relu(%u, %small)
  return (%a, %b, %c, %e))IR");
  // Only %a: %b's slope is out of range, %c is float64, %e's dtype is unknown.
  EXPECT_EQ(applyRules(*g, rules, true, 1).matches.at("small-leaky-relu-of-float"), 1);
}

TEST(Rewrite, AnInPlaceRuleLeavesAnInputThatIsReadAgain) {
  std::vector<Rule> rules = loadRules(std::string(TSOPT_RULES_DIR) + "/decompose.rules");
  auto g = parse(R"IR(
graph(%x : Float(2, 3)):
  %a : Tensor = aten::relu(%x)
  %y : Tensor = aten::silu_(%a)
  %one : int = prim::Constant[value=1]()
  %z : Tensor = aten::add(%y, %a, %one)
  return (%z))IR");
  EXPECT_EQ(applyRules(*g, rules, false, 10).matches.at("silu_-as-sigmoid-mul"), 0);
  FileCheck().check("aten::silu_(")->run(*g);
}

TEST(Rewrite, ALiftedConstantMatchesOnlyItsOwnValueAndKind) {
  std::vector<Rule> rules = rulesFrom(R"(
rule add-one-is-sub-minus-one
pattern
  graph(%x : Tensor):
    %one : int = prim::Constant[value=1]()
    %y : Tensor = aten::add(%x, %one, %one)
    return (%y)
replacement
  graph(%x : Tensor):
    %one : int = prim::Constant[value=1]()
    %m : int = prim::Constant[value=-1]()
    %y : Tensor = aten::sub(%x, %m, %one)
    return (%y)
)");
  auto g = parse(R"IR(
graph(%x : Float(2, 3)):
  %one : int = prim::Constant[value=1]()
  %onef : float = prim::Constant[value=1.]()
  %two : int = prim::Constant[value=2]()
  %a : Tensor = aten::add(%x, %one, %one)
  %b : Tensor = aten::add(%a, %onef, %one)
  %c : Tensor = aten::add(%b, %two, %one)
  return (%c))IR");
  EXPECT_EQ(applyRules(*g, rules, false, 10).matches.at("add-one-is-sub-minus-one"), 1);
  FileCheck().check_count("aten::sub(", 1, true)->check_count("aten::add(", 2, true)->run(*g);
}

// --- fixed point and once ---------------------------------------------------------------------

TEST(Rewrite, RoundsGoOnUntilNothingMatchesOrStopAfterOneWithOnce) {
  const char* four = R"IR(
graph(%x : Float(2, 3)):
  %a : Tensor = aten::relu(%x)
  %b : Tensor = aten::relu(%a)
  %c : Tensor = aten::relu(%b)
  %d : Tensor = aten::relu(%c)
  return (%d))IR";
  std::vector<Rule> rules = rulesFrom(kReluTwice);
  // Round one rewrites the two disjoint pairs, round two the pair they left; round three finds
  // nothing.
  auto g = parse(four);
  RewriteResult r = applyRules(*g, rules, false, 10);
  EXPECT_EQ(r.matches.at("relu-twice"), 3);
  EXPECT_EQ(r.rounds, 3);
  EXPECT_TRUE(r.converged);
  FileCheck().check_count("aten::relu(", 1, true)->run(*g);

  auto once = parse(four);
  r = applyRules(*once, rules, true, 10);
  EXPECT_EQ(r.matches.at("relu-twice"), 2);
  FileCheck().check_count("aten::relu(", 2, true)->run(*once);

  std::vector<c10::IValue> inputs = inputsFor(*parse(four), 0);
  EXPECT_TRUE(at::equal(run(parse(four), inputs), run(g, inputs)));
}

TEST(Rewrite, RulesThatUndoEachOtherStopAtTheRoundLimitUnconverged) {
  std::vector<Rule> rules = rulesFrom(R"(
rule there
pattern
  graph(%x : Tensor):
    %y : Tensor = aten::neg(%x)
    return (%y)
replacement
  graph(%x : Tensor):
    %m : int = prim::Constant[value=-1]()
    %y : Tensor = aten::mul(%x, %m)
    return (%y)
rule back
pattern
  graph(%x : Tensor):
    %m : int = prim::Constant[value=-1]()
    %y : Tensor = aten::mul(%x, %m)
    return (%y)
replacement
  graph(%x : Tensor):
    %y : Tensor = aten::neg(%x)
    return (%y)
)");
  auto g = parse("graph(%x : Float(2)):\n  %y : Tensor = aten::neg(%x)\n  return (%y)");
  RewriteResult r = applyRules(*g, rules, false, 5);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.rounds, 5);
  EXPECT_EQ(r.matches.at("there"), 5);
  EXPECT_EQ(r.matches.at("back"), 5);
}

// --- checking and bad rules files -------------------------------------------------------------

TEST(Rewrite, AWrongRuleIsRefusedWithTheInputsThatShowIt) {
  std::vector<Rule> rules = rulesFrom(R"(
rule relu-is-not-sigmoid
pattern
  graph(%x : Float(2)):
    %y : Tensor = aten::relu(%x)
    return (%y)
replacement
  graph(%x : Float(2)):
    %y : Tensor = aten::sigmoid(%x)
    return (%y)
)");
  std::string why = checkRule(rules.front());
  EXPECT_NE(why.find("the replacement computes something else: output 0 (%y)"), std::string::npos)
      << why;
  EXPECT_NE(why.find("on %x = Float[2] {"), std::string::npos) << why;
  EXPECT_NE(why.find("(seed 0)"), std::string::npos) << why;

  EXPECT_EQ(checkRule(rulesFrom(kReluTwice).front()), "");
}

TEST(Rewrite, BadRulesFilesAreRefusedWithLineAndColumn) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\n",
       "test.rules:5:5: in the IR: expected ) but found 'return'"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::reluu(%x)\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\n",
       "test.rules:4:19: unknown operator 'aten::reluu' (did you mean 'aten::relu'?)"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x)\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x, %x)\n",
       "test.rules:7:1: the replacement returns 2 values (%x, %x), the pattern 1 (%y)"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x)\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor, %z : Tensor):\n    return (%x)\n",
       "test.rules:7:1: the replacement takes 2 inputs, the pattern 1"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x)\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\nwhere %z == 1\n",
       "test.rules:9:7: the pattern has no value %z (did you mean 'x'?)"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x)\n"
       "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\nwhere %x is big\n",
       "test.rules:9:10: expected '==', '!=', 'in', 'dtype', 'rank' or 'one-use', found 'is'"},
      {"rule r\npattern\n  graph(%x : Tensor):\n    %y : Tensor = aten::relu(%x)\n"
       "    return (%y)\n",
       "test.rules:1:1: rule 'r' has no 'replacement'"},
      {"pattern\n", "test.rules:1:1: expected 'rule NAME', found 'pattern'"},
      {"# nothing\n", "test.rules:1:1: no rules (a rule starts with 'rule NAME')"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(errorOf([&] { rulesFrom(c.text); }), c.message) << c.text;
  }
}

// --- the pass and the CLI ---------------------------------------------------------------------

TEST(Rewrite, ThePassCountsPerRuleAndWarnsOfARuleThatMatchedNothing) {
  std::string dir = test::tempDir();
  std::string rules = dir + "/relu.rules";
  std::ofstream(rules) << kReluTwice;
  test::CommandResult r =
      test::runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                     "/out.pt -p 'inline,rewrite{rules=" + rules + "}' --stats --verify");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tsopt: warning: pass 'rewrite': rule 'relu-twice' (" + rules +
                       ":2) matched nothing"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(no change) rule.relu-twice=0"), std::string::npos) << r.err;
}

TEST(Rewrite, RulesCheckSaysWhichRulesAreRefused) {
  std::string dir = test::tempDir();
  std::string bad = dir + "/bad.rules";
  std::ofstream(bad) << std::string(kReluTwice) +
                            "rule wrong\npattern\n  graph(%x : Tensor):\n"
                            "    %y : Tensor = aten::relu(%x)\n    return (%y)\nreplacement\n"
                            "  graph(%x : Tensor):\n    %y : Tensor = aten::neg(%x)\n"
                            "    return (%y)\n";
  test::CommandResult r = test::runTsopt("rules check " + bad);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.out.find("ok       relu-twice (" + bad + ":2)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("refused  wrong (" + bad + ":12): the replacement computes"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.err,
            "tsopt: rules: 1 of 2 rules computed what their patterns compute on 3 random "
            "input sets and on edge values; 1 refused\n");

  // The shipped rules, by name.
  r = test::runTsopt("rules check cleanup decompose fuse");
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("ok       silu-as-sigmoid-mul (" TSOPT_RULES_DIR "/decompose.rules:4)"),
            std::string::npos)
      << r.out;
  r = test::runTsopt("rules check nope");
  EXPECT_EQ(r.err,
            "tsopt: error: rules file 'nope': no such file, nor shipped rules of that "
            "name (shipped: cleanup, decompose, fuse)\n");

  r = test::runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                     "/out.pt -p 'rewrite{rules=" + bad + "}'");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find(bad + ":12: rule 'wrong' is refused: the replacement computes"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.pt"));

  // Without rules, the pipeline is refused before anything loads: no failing pass, no reproducer.
  r = test::runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/out.pt -p rewrite");
  EXPECT_EQ(r.err,
            "tsopt: error: bad pipeline at column 1: pass 'rewrite' needs rules files: "
            "rewrite{rules=FILE}\n");
}

}  // namespace
}  // namespace tsopt
