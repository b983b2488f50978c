// Rules files: parsing (with line and column in every message), the numeric check of a rule on
// random inputs, and applying rules to a graph.
//
// A rule is matched with LibTorch's subgraph matcher, but rewritten here rather than by its
// SubgraphRewriter: the rewriter can neither count what it rewrote nor take a pattern whose
// constants are shared with the rest of the graph (the matcher refuses a value inside the pattern
// that has uses outside it, and constant pooling shares every `1` of a model). So scalar
// constants of a pattern are lifted into inputs, each with an Equals condition.
#include "passes/builtin/rewrite_rules.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/ir/subgraph_matcher.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <unordered_set>

#include "passes/builtin/rules_dirs.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/interrupt.h"
#include "passes/core/module_io.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace fs = std::filesystem;

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Bounds on what a rules file may ask of the parsers and the matcher, which recurse: LibTorch's
/// IR parser over nested types and blocks, the subgraph matcher over the pattern's nodes.
constexpr size_t kMaxRulesFileBytes = size_t{1} << 20;
constexpr size_t kMaxGraphLines = 500;  ///< lines of one pattern or replacement
constexpr int kMaxNesting = 32;         ///< brackets, `[]` suffixes and block indentation

/// Where a message points: a line (1-based) and a column (1-based) of the rules file.
struct Location {
  int line = 0, column = 1;
};

class RulesParser {
 public:
  RulesParser(const std::string& text, std::string path) : path_(std::move(path)) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines_.push_back(line);
    }
  }

  std::vector<Rule> parse() {
    std::vector<Rule> rules;
    std::unordered_set<std::string> names;
    size_t i = 0;
    while (i < lines_.size()) {
      std::string word = keywordAt(i);
      if (word.empty()) {
        ++i;
        continue;
      }
      if (word != "rule") fail({lineNo(i), 1}, "expected 'rule NAME', found '" + word + "'");
      size_t next = i + 1;
      while (next < lines_.size() && !startsRule(lines_[next])) ++next;
      Rule rule;
      try {
        rule = parseRule(i, next);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        // LibTorch's own checks on what parsed (a constant without a value): the rule's line.
        fail({lineNo(i), 1}, "rule '" + ruleName(i) + "': " + describeException(e));
      }
      if (!names.insert(rule.name).second) {
        fail({lineNo(i), 6}, "a second rule named '" + rule.name + "'");
      }
      rules.push_back(std::move(rule));
      i = next;
    }
    if (rules.empty()) fail({1, 1}, "no rules (a rule starts with 'rule NAME')");
    return rules;
  }

 private:
  static bool isBlankOrComment(const std::string& line) {
    size_t p = line.find_first_not_of(" \t");
    return p == std::string::npos || line[p] == '#';
  }
  /// The word that starts line i at column 0, or "" for a blank or comment line. Indented text
  /// belongs to a graph, which the caller has consumed.
  std::string keywordAt(size_t i) const {
    const std::string& line = lines_[i];
    if (isBlankOrComment(line)) return "";
    if (std::isspace(static_cast<unsigned char>(line[0]))) {
      fail({lineNo(i), 1}, "indented text outside a 'pattern' or 'replacement' block");
    }
    return line.substr(0, line.find_first_of(" \t"));
  }
  static bool startsRule(const std::string& line) {
    return line.rfind("rule ", 0) == 0 || line.rfind("rule\t", 0) == 0 || line == "rule";
  }
  static int lineNo(size_t index) { return static_cast<int>(index) + 1; }
  std::string ruleName(size_t i) const {
    std::istringstream head(lines_[i].substr(4));
    std::string name;
    head >> name;
    return name;
  }

  [[noreturn]] void fail(Location at, const std::string& what) const {
    throw Error(path_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
                what);
  }

  /// The rule whose `rule` line is lines_[begin], ending before lines_[end].
  Rule parseRule(size_t begin, size_t end) {
    Rule rule;
    rule.location = path_ + ":" + std::to_string(lineNo(begin));
    std::istringstream head(lines_[begin].substr(4));
    head >> rule.name;
    if (rule.name.empty()) fail({lineNo(begin), 5}, "a rule needs a name: 'rule NAME'");
    std::getline(head >> std::ws, rule.description);
    std::optional<Block> pattern, replacement;
    std::vector<std::pair<size_t, std::string>> wheres;
    for (size_t i = begin + 1; i < end;) {
      const std::string& line = lines_[i];
      std::string word = keywordAt(i);
      if (word.empty()) {
        ++i;
        continue;
      }
      std::string rest = line.size() > word.size() ? trim(line.substr(word.size())) : "";
      if (word == "pattern" || word == "replacement") {
        if (!rest.empty()) fail({lineNo(i), 1}, "the graph goes on the lines after '" + word + "'");
        auto& at = word == "pattern" ? pattern : replacement;
        if (at) fail({lineNo(i), 1}, "a second '" + word + "' in rule '" + rule.name + "'");
        size_t j = i + 1;
        while (j < end &&
               (lines_[j].empty() || std::isspace(static_cast<unsigned char>(lines_[j][0])))) {
          ++j;
        }
        at = block(i + 1, j);
        i = j;
        continue;
      }
      if (word == "where") {
        wheres.emplace_back(i, rest);
      } else if (word == "tolerance") {
        parseTolerance(rule, rest, i);
      } else {
        fail({lineNo(i), 1},
             "expected 'pattern', 'replacement', 'where' or 'tolerance', found '" + word + "'");
      }
      ++i;
    }
    if (!pattern) fail({lineNo(begin), 1}, "rule '" + rule.name + "' has no 'pattern'");
    if (!replacement) fail({lineNo(begin), 1}, "rule '" + rule.name + "' has no 'replacement'");
    rule.pattern = parseGraph(*pattern, &rule.values);
    rule.replacement = parseGraph(*replacement, nullptr);
    checkShape(rule, *pattern, *replacement);
    for (const auto& [i, text] : wheres) rule.conditions.push_back(parseCondition(rule, text, i));
    liftConstants(rule);
    return rule;
  }

  static std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }

  /// The IR of a `pattern` or `replacement`: lines [first, ...) of the file with their common
  /// indentation removed; comment lines left empty so that line numbers still count.
  struct Block {
    std::string text;
    size_t first = 0, indent = 0;
  };

  Block block(size_t begin, size_t end) const {
    size_t indent = std::string::npos;
    for (size_t i = begin; i < end; ++i) {
      if (!isBlankOrComment(lines_[i])) {
        indent = std::min(indent, lines_[i].find_first_not_of(" \t"));
      }
    }
    Block b;
    b.first = begin;
    b.indent = indent == std::string::npos ? 0 : indent;
    for (size_t i = begin; i < end; ++i) {
      if (!isBlankOrComment(lines_[i])) b.text += lines_[i].substr(b.indent);
      b.text += "\n";
    }
    return b;
  }

  std::shared_ptr<Graph> parseGraph(const Block& b,
                                    std::unordered_map<std::string, Value*>* names) const {
    auto graph = std::make_shared<Graph>();
    std::unordered_map<std::string, Value*> vmap;
    if (b.text.find_first_not_of(" \t\n") == std::string::npos) {
      fail({lineNo(b.first - 1), 1}, "an empty graph");
    }
    checkBounds(b);
    try {
      torch::jit::parseIR(b.text, graph.get(), vmap);
    } catch (const std::exception& e) {
      fail(irErrorLocation(e.what(), b), irErrorMessage(e.what()));
    }
    // The parser takes any name in an operator's namespace; an unknown one would only fail
    // when the graph runs.
    for (Node* n : graph->nodes()) {
      if (n->kind().is_aten() && torch::jit::getAllOperatorsFor(n->kind()).empty()) {
        std::string name = n->kind().toQualString();
        fail(find(b, name),
             "unknown operator '" + name + "'" + didYouMean(name, atenOperatorNames()));
      }
    }
    // The parser drops the names of values a node defines; they are put back for messages.
    for (const auto& [name, v] : vmap) {
      if (name.find_first_not_of("0123456789") != std::string::npos) v->setDebugName(name);
    }
    if (names) *names = vmap;
    return graph;
  }

  /// Refuses a graph too long, or nested too deep, for the parser and the matcher to take.
  void checkBounds(const Block& b) const {
    std::istringstream in(b.text);
    size_t lines = 0;
    std::vector<size_t> indents;
    for (std::string line; std::getline(in, line); ++lines) {
      const Location at{lineNo(b.first) + static_cast<int>(lines), 1};
      if (lines >= kMaxGraphLines) {
        fail(at, "a graph of more than " + std::to_string(kMaxGraphLines) +
                     " lines (rules are small; split it)");
      }
      const size_t indent = line.find_first_not_of(" \t");
      if (indent == std::string::npos) continue;
      while (!indents.empty() && indents.back() >= indent) indents.pop_back();
      indents.push_back(indent);
      int depth = 0, deepest = 0, suffixes = 0;
      for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == '[' && i + 1 < line.size() && line[i + 1] == ']') {
          deepest = std::max(deepest, depth + ++suffixes);  // Tensor[][]: a list of lists
          ++i;
          continue;
        }
        suffixes = 0;
        if (c == '(' || c == '[' || c == '{') {
          deepest = std::max(deepest, ++depth);
        } else if (c == ')' || c == ']' || c == '}') {
          --depth;
        }
      }
      if (deepest > kMaxNesting || indents.size() > static_cast<size_t>(kMaxNesting)) {
        fail(at, "nested more than " + std::to_string(kMaxNesting) + " deep");
      }
    }
  }

  static std::vector<std::string> atenOperatorNames() {
    std::vector<std::string> names;
    for (const auto& op : torch::jit::getAllOperators()) {
      const std::string& name = op->schema().name();
      if (name.rfind("aten::", 0) == 0) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  /// Where in the file `needle` first appears in block `b`.
  Location find(const Block& b, const std::string& needle) const {
    std::istringstream in(b.text);
    int i = 0;
    for (std::string line; std::getline(in, line); ++i) {
      size_t col = line.find(needle);
      if (col != std::string::npos) {
        return {lineNo(b.first) + i, static_cast<int>(col + b.indent) + 1};
      }
    }
    return {lineNo(b.first), 1};
  }

  /// LibTorch's parser shows the offending line with "~~~ <--- HERE" under it; the line is found
  /// in the block again to give its number in the file.
  Location irErrorLocation(const std::string& message, const Block& b) const {
    std::vector<std::string> lines;
    std::istringstream in(message);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t mark = lines[i].find("<--- HERE");
      if (mark == std::string::npos) continue;
      Location at = find(b, lines[i - 1]);
      at.column = static_cast<int>(lines[i].find('~') + b.indent) + 1;
      return at;
    }
    return {lineNo(b.first), 1};
  }

  static std::string irErrorMessage(const std::string& message) {
    std::istringstream in(message);
    std::string line;
    while (std::getline(in, line) && trim(line).empty()) {
    }
    line = trim(line);
    for (const char* suffix : {" here:", ":"}) {
      std::string s(suffix);
      if (line.size() > s.size() && line.compare(line.size() - s.size(), s.size(), s) == 0) {
        line.resize(line.size() - s.size());
        break;
      }
    }
    return "in the IR: " + line;
  }

  /// Both graphs take the same inputs and return as many values of the same kinds.
  void checkShape(const Rule& rule, const Block& pattern, const Block& replacement) const {
    const Graph &p = *rule.pattern, &r = *rule.replacement;
    Location repl{lineNo(replacement.first), 1};
    if (p.inputs().size() != r.inputs().size()) {
      fail(repl, "the replacement takes " + std::to_string(r.inputs().size()) +
                     " inputs, the pattern " + std::to_string(p.inputs().size()));
    }
    for (size_t i = 0; i < p.inputs().size(); ++i) {
      if (*p.inputs()[i]->type() != *r.inputs()[i]->type()) {
        fail(repl, "input " + std::to_string(i) + " is " + p.inputs()[i]->type()->repr_str() +
                       " in the pattern but " + r.inputs()[i]->type()->repr_str() +
                       " in the replacement");
      }
    }
    auto names = [](const Graph& g) {
      std::string out;
      for (const Value* v : g.outputs()) out += (out.empty() ? "%" : ", %") + v->debugName();
      return out;
    };
    if (p.outputs().size() != r.outputs().size()) {
      fail(repl, "the replacement returns " + std::to_string(r.outputs().size()) + " values (" +
                     names(r) + "), the pattern " + std::to_string(p.outputs().size()) + " (" +
                     names(p) + ")");
    }
    for (size_t i = 0; i < p.outputs().size(); ++i) {
      if (p.outputs()[i]->type()->kind() != r.outputs()[i]->type()->kind()) {
        fail(repl, "the replacement's output %" + r.outputs()[i]->debugName() + " is " +
                       r.outputs()[i]->type()->repr_str() + " but the pattern's %" +
                       p.outputs()[i]->debugName() + " is " + p.outputs()[i]->type()->repr_str());
      }
    }
    Location pat{lineNo(pattern.first), 1};
    if (p.nodes().begin() == p.nodes().end()) fail(pat, "the pattern has no operations");
    for (const Value* in : p.inputs()) {
      if (!in->hasUses()) fail(pat, "the pattern does not use its input %" + in->debugName());
    }
    for (const Value* out : p.outputs()) {
      if (out->node()->kind() == c10::prim::Param) {
        fail(pat, "the pattern returns its input %" + out->debugName());
      }
    }
    for (const Node* n : p.nodes()) {
      for (const Value* v : n->outputs()) {
        if (!v->hasUses()) {
          fail(find(pattern, "%" + v->debugName()),
               "%" + v->debugName() + " is computed but not used by what the pattern returns");
        }
      }
    }
  }

  void parseTolerance(Rule& rule, const std::string& rest, size_t i) const {
    std::istringstream in(rest);
    for (std::string item; in >> item;) {
      size_t eq = item.find('=');
      std::string key = item.substr(0, eq);
      char* end = nullptr;
      double v = eq == std::string::npos ? -1 : std::strtod(item.c_str() + eq + 1, &end);
      Location at{lineNo(i), static_cast<int>(lines_[i].find(item)) + 1};
      // An infinite tolerance would accept any replacement (relu for sigmoid).
      if ((key != "rtol" && key != "atol") || !end || *end != '\0' || !(v >= 0) ||
          !std::isfinite(v)) {
        fail(at,
             "expected 'tolerance rtol=R atol=A' with finite numbers >= 0, found '" + item + "'");
      }
      (key == "rtol" ? rule.rtol : rule.atol) = v;
    }
  }

  /// `%name == 1`, `%p in [0, 1]`, `%x dtype float32`, `%x rank 4`, `%y one-use`.
  RuleCondition parseCondition(const Rule& rule, const std::string& text, size_t i) const {
    RuleCondition c;
    const int base = static_cast<int>(lines_[i].find(text)) + 1;
    auto at = [&](size_t offset) { return Location{lineNo(i), base + static_cast<int>(offset)}; };
    std::istringstream in(text);
    std::string name, op;
    in >> name >> op;
    if (name.size() < 2 || name[0] != '%') fail(at(0), "expected '%NAME' after 'where'");
    c.value = name.substr(1);
    if (!rule.values.count(c.value)) {
      std::vector<std::string> known;
      for (const auto& [k, v] : rule.values) known.push_back(k);
      std::sort(known.begin(), known.end());
      fail(at(0), "the pattern has no value " + name + didYouMean(c.value, known));
    }
    std::string arg;
    std::getline(in >> std::ws, arg);
    arg = trim(arg);
    const size_t argAt = text.find(arg, name.size() + op.size());
    if (op == "==" || op == "!=") {
      c.kind = op == "==" ? RuleCondition::Kind::Equals : RuleCondition::Kind::NotEquals;
      auto v = parseLiteral(arg);
      if (!v) fail(at(argAt), "expected a value (a number, true, false, None, \"text\" or [list])");
      c.constant = *v;
    } else if (op == "in") {
      double lo = 0, hi = 0;
      char open = 0, comma = 0, close = 0;
      std::istringstream range(arg);
      if (!(range >> open >> lo >> comma >> hi >> close) || open != '[' || comma != ',' ||
          close != ']' || lo > hi) {
        fail(at(argAt), "expected a range '[LOW, HIGH]' with LOW <= HIGH");
      }
      c.kind = RuleCondition::Kind::InRange;
      c.low = lo;
      c.high = hi;
    } else if (op == "dtype") {
      c.kind = RuleCondition::Kind::DType;
      auto dtype = parseDtype(arg);
      if (!dtype)
        fail(at(argAt), "unknown dtype '" + arg + "' (float32, float16, int64, bool, ...)");
      c.dtype = *dtype;
    } else if (op == "rank") {
      c.kind = RuleCondition::Kind::Rank;
      char* end = nullptr;
      c.rank = std::strtoll(arg.c_str(), &end, 10);
      if (arg.empty() || *end != '\0' || c.rank < 0) fail(at(argAt), "expected a rank >= 0");
    } else if (op == "one-use") {
      c.kind = RuleCondition::Kind::OneUse;
      if (!arg.empty()) fail(at(argAt), "'one-use' takes nothing after it");
    } else {
      fail(at(name.size() + 1),
           "expected '==', '!=', 'in', 'dtype', 'rank' or 'one-use', found '" + op + "'");
    }
    return c;
  }

  static std::optional<c10::IValue> parseLiteral(const std::string& s) {
    if (s == "true" || s == "True") return c10::IValue(true);
    if (s == "false" || s == "False") return c10::IValue(false);
    if (s == "None") return c10::IValue();
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
      return c10::IValue(s.substr(1, s.size() - 2));
    }
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
      std::vector<int64_t> items;
      std::istringstream in(s.substr(1, s.size() - 2));
      for (std::string item; std::getline(in, item, ',');) {
        item = trim(item);
        char* end = nullptr;
        long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0') return std::nullopt;  // a list holds integers only
        items.push_back(static_cast<int64_t>(v));
      }
      return c10::IValue(items);
    }
    char* end = nullptr;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') return c10::IValue(static_cast<int64_t>(i));
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0') return c10::IValue(d);
    return std::nullopt;
  }

  static std::optional<c10::ScalarType> parseDtype(const std::string& s) {
    static const std::map<std::string, c10::ScalarType> dtypes = {
        {"float32", c10::kFloat},     {"float", c10::kFloat},  {"float64", c10::kDouble},
        {"double", c10::kDouble},     {"float16", c10::kHalf}, {"half", c10::kHalf},
        {"bfloat16", c10::kBFloat16}, {"int64", c10::kLong},   {"long", c10::kLong},
        {"int32", c10::kInt},         {"int", c10::kInt},      {"int16", c10::kShort},
        {"int8", c10::kChar},         {"uint8", c10::kByte},   {"bool", c10::kBool}};
    auto it = dtypes.find(s);
    if (it == dtypes.end()) return std::nullopt;
    return it->second;
  }

  /// Turns the pattern's scalar constants into inputs (of the replacement too) with an Equals
  /// condition each.
  static void liftConstants(Rule& rule) {
    std::vector<Node*> constants;
    for (Node* n : rule.pattern->nodes()) {
      if (n->kind() == c10::prim::Constant && !n->output()->type()->cast<c10::TensorType>()) {
        constants.push_back(n);
      }
    }
    for (Node* n : constants) {
      Value* in = rule.pattern->addInput(n->output()->debugName());
      in->setType(n->output()->type());
      rule.replacement->addInput()->setType(n->output()->type());
      RuleCondition c;
      c.kind = RuleCondition::Kind::Equals;
      c.constant = *torch::jit::toIValue(n->output());
      for (auto& [name, v] : rule.values) {
        if (v == n->output()) {
          v = in;
          c.value = name;
        }
      }
      if (c.value.empty()) {
        c.value = in->debugName();
        rule.values[c.value] = in;
      }
      n->output()->replaceAllUsesWith(in);
      n->destroy();
      rule.conditions.push_back(std::move(c));
    }
  }

  std::string path_;
  std::vector<std::string> lines_;
};

// --- conditions ---------------------------------------------------------------------------

bool sameConstant(const c10::IValue& a, const c10::IValue& b) {
  // Strict on the kind: `x * 1` and `x * 1.` differ in the dtype of an integer tensor's result.
  if (a.isIntList() && b.isIntList()) return a.toIntVector() == b.toIntVector();
  if (a.isTensor() || b.isTensor()) return false;
  return a.tagKind() == b.tagKind() && a == b;
}

bool holds(const RuleCondition& c, Value* v) {
  using Kind = RuleCondition::Kind;
  switch (c.kind) {
    case Kind::Equals:
    case Kind::NotEquals: {
      auto constant = torch::jit::toIValue(v);
      if (!constant) {
        // Not a constant: only `!= None` can still be known, from the type.
        c10::TypeKind k = v->type()->kind();
        return c.kind == Kind::NotEquals && c.constant.isNone() && k != c10::TypeKind::NoneType &&
               k != c10::TypeKind::OptionalType;
      }
      return sameConstant(*constant, c.constant) == (c.kind == Kind::Equals);
    }
    case Kind::InRange: {
      auto constant = torch::jit::toIValue(v);
      if (!constant || !(constant->isInt() || constant->isDouble())) return false;
      double x = constant->toScalar().toDouble();
      return x >= c.low && x <= c.high;
    }
    case Kind::DType: {
      auto t = v->type()->cast<c10::TensorType>();
      return t && t->scalarType() && *t->scalarType() == c.dtype;
    }
    case Kind::Rank: {
      auto t = v->type()->cast<c10::TensorType>();
      return t && t->dim() && static_cast<int64_t>(*t->dim()) == c.rank;
    }
    case Kind::OneUse:
      return v->uses().size() == 1;
  }
  return false;
}

bool conditionsHold(const Rule& rule, const torch::jit::Match& match) {
  for (const RuleCondition& c : rule.conditions) {
    auto it = match.values_map.find(rule.values.at(c.value));
    if (it == match.values_map.end() || !holds(c, it->second)) return false;
  }
  return true;
}

// --- the numeric check --------------------------------------------------------------------

const std::vector<int64_t> kDefaultShape = {2, 3, 4, 5};
/// The most elements a declared input shape may have: the check makes a tensor of it.
constexpr int64_t kMaxCheckElements = int64_t{1} << 20;

/// Random inputs for the pattern, from the declared types and the conditions on the inputs.
class InputMaker {
 public:
  InputMaker(const Rule& rule, uint64_t seed) : rule_(rule), rng_(seed) {
    gen_ = at::make_generator<at::CPUGeneratorImpl>(seed);
  }

  std::vector<c10::IValue> make() {
    std::vector<c10::IValue> out;
    for (Value* in : rule_.pattern->inputs()) out.push_back(make(in, in->type()));
    return out;
  }

 private:
  std::vector<const RuleCondition*> conditionsOn(Value* v) const {
    std::vector<const RuleCondition*> out;
    for (const RuleCondition& c : rule_.conditions) {
      if (rule_.values.at(c.value) == v) out.push_back(&c);
    }
    return out;
  }

  c10::IValue make(Value* v, const c10::TypePtr& type) {
    using Kind = RuleCondition::Kind;
    auto conditions = conditionsOn(v);
    for (const RuleCondition* c : conditions) {
      if (c->kind == Kind::Equals) return c->constant;
    }
    const RuleCondition* range = nullptr;
    for (const RuleCondition* c : conditions) {
      if (c->kind == Kind::InRange) range = c;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
      c10::IValue value = sample(v, type, conditions, range);
      bool excluded = false;
      for (const RuleCondition* c : conditions) {
        excluded |= c->kind == Kind::NotEquals && sameConstant(value, c->constant);
      }
      if (!excluded) return value;
    }
    throw Error("cannot make a value for %" + v->debugName() + " that its conditions allow");
  }

  c10::IValue sample(Value* v, const c10::TypePtr& type,
                     const std::vector<const RuleCondition*>& conditions,
                     const RuleCondition* range) {
    using Kind = RuleCondition::Kind;
    if (auto t = type->cast<c10::TensorType>()) {
      c10::ScalarType dtype = t->scalarType().value_or(c10::kFloat);
      std::vector<int64_t> shape = kDefaultShape;
      if (auto sizes = t->sizes().concrete_sizes()) {
        shape = *sizes;
        int64_t elements = 1;
        for (int64_t d : shape) {
          if (d < 0 || (d > 0 && elements > kMaxCheckElements / d)) {
            throw Error("the declared shape of %" + v->debugName() + " has more than " +
                        std::to_string(kMaxCheckElements) +
                        " elements; rules are checked on small inputs");
          }
          elements *= d;
        }
      } else {
        c10::optional<size_t> rank = t->dim();
        for (const RuleCondition* c : conditions) {
          if (c->kind == Kind::Rank) rank = c->rank;
          if (c->kind == Kind::DType) dtype = c->dtype;
        }
        if (rank) {
          shape.clear();
          for (size_t i = 0; i < *rank; ++i) shape.push_back(static_cast<int64_t>(2 + i));
        }
      }
      auto options = at::TensorOptions().dtype(c10::kFloat);
      at::Tensor x = at::randn(shape, gen_, options);
      if (range) x = x.uniform_(range->low, range->high, gen_);
      if (c10::isIntegralType(dtype, /*includeBool=*/true)) {
        x = dtype == c10::kBool ? x.gt(0) : (x * 3).round();
      }
      return x.to(dtype);
    }
    std::uniform_real_distribution<double> unit(0, 1);
    double lo = range ? range->low : -2, hi = range ? range->high : 2;
    switch (type->kind()) {
      case c10::TypeKind::IntType: {
        int64_t a = range ? static_cast<int64_t>(std::ceil(lo)) : 1;
        int64_t b = range ? static_cast<int64_t>(std::floor(hi)) : 2;
        return std::uniform_int_distribution<int64_t>(a, std::max(a, b))(rng_);
      }
      case c10::TypeKind::FloatType:
      case c10::TypeKind::NumberType:
        return lo + (hi - lo) * unit(rng_);
      case c10::TypeKind::BoolType:
        return unit(rng_) < 0.5;
      case c10::TypeKind::OptionalType:
        return make(v, type->expectRef<c10::OptionalType>().getElementType());
      default:
        throw Error("cannot make a random %" + v->debugName() + " of type " + type->repr_str() +
                    "; give its value with 'where %" + v->debugName() + " == VALUE'");
    }
  }

  const Rule& rule_;
  std::mt19937_64 rng_;
  at::Generator gen_;
};

std::string describe(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    std::ostringstream out;
    out << c10::toString(t.scalar_type()) << t.sizes();
    if (t.numel() <= 6) {
      out << " {";
      for (int64_t i = 0; i < t.numel(); ++i) {
        out << (i ? ", " : "") << t.reshape(-1)[i].item<double>();
      }
      out << "}";
    }
    return out.str();
  }
  std::ostringstream out;
  out << v;
  return out.str();
}

std::vector<c10::IValue> runGraph(Graph& graph, const std::vector<c10::IValue>& inputs) {
  torch::jit::Stack stack;
  for (const c10::IValue& v : inputs) stack.push_back(v.isTensor() ? v.toTensor().clone() : v);
  torch::jit::Code code(graph.copy(), "rule");
  torch::jit::InterpreterState(code).run(stack);
  return stack;
}

/// Where `got` differs from `want` on edge values, in words, or "": where the pattern's result is
/// NaN or an infinity, the replacement's must be one too (not the same one: kernels differ there
/// by CPU and LibTorch version, LibTorch 2.6's AVX-512 gelu giving NaN at +inf where its scalar
/// code gives +inf, matrix products meeting inf - inf in their own order); where it is finite,
/// the replacement's must be close.
std::string edgeDifference(const at::Tensor& a, const at::Tensor& b, double rtol, double atol) {
  const at::Tensor wa = a.to(c10::kDouble), wb = b.to(c10::kDouble);
  const at::Tensor finite = wa.isfinite();
  const at::Tensor wrong =
      (finite.logical_not() & wb.isfinite()) |
      (finite & at::isclose(wa, wb, rtol, atol, /*equal_nan=*/false).logical_not());
  if (!wrong.any().item<bool>()) return "";
  const int64_t flat = wrong.reshape(-1).nonzero()[0][0].item<int64_t>();
  std::ostringstream out;
  out << "pattern " << wa.reshape(-1)[flat].item<double>() << ", replacement "
      << wb.reshape(-1)[flat].item<double>() << " at element " << flat << " (rtol " << rtol
      << " atol " << atol << ")";
  return out.str();
}

/// Where `got` differs from `want`, in words, or "". On `edge` values, floating tensors are
/// compared as edgeDifference says.
std::string difference(const c10::IValue& want, const c10::IValue& got, double rtol, double atol,
                       bool edge) {
  if (want.isTensor() != got.isTensor()) return "one is a tensor, the other is not";
  if (!want.isTensor()) {
    if (want.isTuple() && got.isTuple()) {
      const auto &a = want.toTupleRef().elements(), &b = got.toTupleRef().elements();
      if (a.size() != b.size()) return "tuples of different lengths";
      for (size_t i = 0; i < a.size(); ++i) {
        std::string d = difference(a[i], b[i], rtol, atol, edge);
        if (!d.empty()) return "element " + std::to_string(i) + ": " + d;
      }
      return "";
    }
    return sameConstant(want, got) ? "" : describe(want) + " != " + describe(got);
  }
  const at::Tensor &a = want.toTensor(), &b = got.toTensor();
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) {
    return "the pattern gives " + describe(a) + ", the replacement " + describe(b);
  }
  if (edge && a.is_floating_point()) return edgeDifference(a, b, rtol, atol);
  if (at::allclose(a.to(c10::kDouble), b.to(c10::kDouble), rtol, atol, /*equal_nan=*/true)) {
    return "";
  }
  at::Tensor diff = (a.to(c10::kDouble) - b.to(c10::kDouble)).abs().nan_to_num(INFINITY);
  int64_t flat = diff.reshape(-1).argmax().item<int64_t>();
  std::ostringstream out;
  out << "max abs difference " << diff.max().item<double>() << " (pattern "
      << a.reshape(-1)[flat].item<double>() << ", replacement "
      << b.reshape(-1)[flat].item<double>() << ", rtol " << rtol << " atol " << atol << ")";
  return out.str();
}

// --- edge values --------------------------------------------------------------------------

/// The values where arithmetic is most often wrong, for `dtype`, as a 1-D tensor of it (empty
/// for a dtype that is neither a number nor bool: complex, quantized).
at::Tensor edgeValues(c10::ScalarType dtype) {
  if (dtype == c10::kBool) return at::tensor({false, true});
  if (!c10::isIntegralType(dtype, false) && !c10::isFloatingType(dtype)) {
    return at::empty({0}, at::kDouble);
  }
  std::vector<int64_t> ints;
  std::vector<double> floats;
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "edgeValues", [&] {
    using Limits = std::numeric_limits<scalar_t>;
    if constexpr (std::is_integral_v<scalar_t>) {
      const int64_t lo = Limits::lowest(), hi = Limits::max();
      ints = {0, 1, 2, hi, hi - 1, lo, lo + 1};
      if (lo < 0) ints.insert(ints.end(), {-1, -2});
    } else {
      // Large magnitudes, not the largest: where a rule computes in another order, x * 6 / 6
      // overflows at the largest value and not at 1e20, in any correct decomposition.
      const double tiny = static_cast<double>(Limits::min());
      const double large = std::min(1e20, static_cast<double>(Limits::max()) / 16);
      const double inf = INFINITY;
      floats = {0.0, -0.0, 1.0, -1.0, inf, -inf, NAN, tiny, -tiny, 0.5, -2.5, large, -large};
    }
  });
  return ints.empty() ? at::tensor(floats, at::kDouble).to(dtype)
                      : at::tensor(ints, at::kLong).to(dtype);
}

/// `values` without those the conditions on the input exclude (a range, != constants).
at::Tensor allowedBy(const std::vector<const RuleCondition*>& conditions, at::Tensor values) {
  at::Tensor keep = at::ones({values.numel()}, at::kBool);
  at::Tensor asDouble = values.to(at::kDouble);
  for (const RuleCondition* c : conditions) {
    if (c->kind == RuleCondition::Kind::InRange) {
      keep &= asDouble.ge(c->low) & asDouble.le(c->high);
    } else if (c->kind == RuleCondition::Kind::NotEquals && c->constant.isScalar()) {
      keep &= asDouble.ne(c->constant.toScalar().toDouble());
    }
  }
  return values.index({keep});
}

/// How many edge-value sets checkRule tries for each way of pairing the inputs' values.
size_t edgeValueCount(const Rule& rule) {
  size_t most = 0;
  for (Value* in : rule.pattern->inputs()) {
    auto t = in->type()->cast<c10::TensorType>();
    c10::ScalarType dtype = t ? t->scalarType().value_or(c10::kFloat) : c10::kDouble;
    most = std::max(most, static_cast<size_t>(edgeValues(dtype).numel()));
  }
  return most;
}

/// `inputs` (made by InputMaker: shapes, dtypes and fixed values as the rule declares) with edge
/// values: each tensor filled with its dtype's edge values in turn, each free number set to one.
/// Sets below `count` (edgeValueCount) shift each input's values differently (pairs of different
/// values), the sets above shift them alike (x against itself).
std::vector<c10::IValue> withEdgeValues(const Rule& rule, std::vector<c10::IValue> inputs,
                                        size_t set, size_t count) {
  const bool alike = set >= count;
  set %= count;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value* in = rule.pattern->inputs()[i];
    std::vector<const RuleCondition*> conditions;
    bool fixed = false;
    for (const RuleCondition& c : rule.conditions) {
      if (rule.values.at(c.value) != in) continue;
      conditions.push_back(&c);
      fixed |= c.kind == RuleCondition::Kind::Equals;
    }
    if (fixed) continue;
    const int64_t shift = static_cast<int64_t>(set + (alike ? 0 : 3 * i));
    c10::IValue& v = inputs[i];
    if (v.isTensor()) {
      at::Tensor x = v.toTensor();
      at::Tensor values = allowedBy(conditions, edgeValues(x.scalar_type()));
      if (values.numel() == 0 || x.numel() == 0) continue;
      at::Tensor index = (at::arange(x.numel(), at::kLong) + shift).remainder(values.numel());
      v = values.index_select(0, index).reshape(x.sizes()).contiguous();
    } else if (v.isDouble() || v.isInt()) {
      at::Tensor values =
          allowedBy(conditions, edgeValues(v.isDouble() ? c10::kDouble : c10::kLong));
      if (values.numel() == 0) continue;
      at::Tensor pick = values[shift % values.numel()];
      v = v.isDouble() ? c10::IValue(pick.item<double>()) : c10::IValue(pick.item<int64_t>());
    }
  }
  return inputs;
}

// --- rewriting ----------------------------------------------------------------------------

/// Rewrites every non-overlapping match of `rule` in `graph`; returns how many.
int64_t applyRule(Graph& graph, const Rule& rule) {
  std::vector<torch::jit::Match> matches = torch::jit::findPatternMatches(*rule.pattern, graph);
  std::unordered_set<Node*> taken;
  std::vector<Node*> dead;
  std::unordered_map<Value*, Value*> rewrites;
  std::vector<Value*> oldOutputs;
  std::vector<Value*> inputsUsed;
  int64_t count = 0;
  for (const torch::jit::Match& m : matches) {
    bool overlaps = std::any_of(m.nodes_map.begin(), m.nodes_map.end(),
                                [&](const auto& kv) { return taken.count(kv.second) > 0; });
    if (overlaps || !conditionsHold(rule, m)) continue;
    // The replacement goes just before the last matched node: every input is defined by then,
    // and the outputs must not be used before it.
    Node* last = nullptr;
    for (const auto& [p, n] : m.nodes_map) {
      if (!last || last->isBefore(n)) last = n;
    }
    std::vector<Value*> inputs, outputs;
    for (Value* in : rule.pattern->inputs()) inputs.push_back(m.values_map.at(in));
    for (Value* out : rule.pattern->outputs()) outputs.push_back(m.values_map.at(out));
    bool usedBefore = false;
    for (Value* out : outputs) {
      for (const torch::jit::Use& u : out->uses()) {
        bool inMatch = std::any_of(m.nodes_map.begin(), m.nodes_map.end(),
                                   [&](const auto& kv) { return kv.second == u.user; });
        usedBefore |= !inMatch && !last->isBefore(u.user);
      }
    }
    if (usedBefore) continue;
    torch::jit::WithInsertPoint guard(last);
    std::vector<Value*> replaced = torch::jit::insertGraph(graph, *rule.replacement, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) {
      Value* now = replaced[i];
      bool isInput = std::find(inputs.begin(), inputs.end(), now) != inputs.end();
      if (!isInput && now->type()->cast<c10::TensorType>() &&
          outputs[i]->type()->cast<c10::TensorType>()) {
        now->setType(outputs[i]->type());  // keeps what the model knew of shapes and dtypes
      }
      rewrites[outputs[i]] = now;
      oldOutputs.push_back(outputs[i]);
    }
    for (const auto& [p, n] : m.nodes_map) {
      taken.insert(n);
      dead.push_back(n);
    }
    inputsUsed.insert(inputsUsed.end(), inputs.begin(), inputs.end());
    ++count;
  }
  // Outputs are replaced after every match is inserted: a later match may read an earlier one's
  // output, and a replacement may return a value that another match replaces in turn.
  for (Value* old : oldOutputs) {
    Value* now = rewrites.at(old);
    for (auto it = rewrites.find(now); it != rewrites.end(); it = rewrites.find(now)) {
      now = it->second;
    }
    old->replaceAllUsesWith(now);
  }
  // Constants the matches read (lifted ones) go too once nothing else reads them.
  std::unordered_set<Node*> constants;
  for (Value* in : inputsUsed) {
    if (!taken.count(in->node()) && in->node()->kind() == c10::prim::Constant) {
      constants.insert(in->node());
    }
  }
  for (Node* n : dead) n->removeAllInputs();
  for (Node* n : dead) n->destroy();
  for (Node* n : constants) {
    if (!n->output()->hasUses()) n->destroy();
  }
  return count;
}

}  // namespace

std::vector<Rule> parseRules(const std::string& text, const std::string& path) {
  return RulesParser(text, path).parse();
}

std::string checkRule(const Rule& rule, int trials) {
  // Random inputs first, then edge values: zeros of both signs, infinities, NaN, the extremes of
  // each dtype, large and tiny magnitudes, where most wrong algebra (x*0 -> 0, x/x -> 1,
  // abs(x) -> sqrt(x*x)) shows. An input set the pattern itself fails on says nothing of the
  // replacement: random ones must run, edge ones (a dimension of INT64_MAX) may not.
  const size_t edgeCount = edgeValueCount(rule);
  std::vector<c10::IValue> edgeShapes;  // the inputs every edge set fills: made once
  for (size_t trial = 0; trial < static_cast<size_t>(trials) + 2 * edgeCount; ++trial) {
    checkInterrupt();
    const bool edge = trial >= static_cast<size_t>(trials);
    std::vector<c10::IValue> inputs;
    try {
      if (!edge) {
        inputs = InputMaker(rule, trial).make();
      } else {
        if (edgeShapes.empty()) edgeShapes = InputMaker(rule, 0).make();
        inputs = withEdgeValues(rule, edgeShapes, trial - trials, edgeCount);
      }
    } catch (const Error& e) {
      return std::string("cannot check it: ") + e.what();
    }
    auto shown = [&] {
      std::string out;
      for (size_t i = 0; i < inputs.size(); ++i) {
        out += (i ? ", %" : "%") + rule.pattern->inputs()[i]->debugName() + " = " +
               describe(inputs[i]);
      }
      return out + (edge ? " (edge values, set " + std::to_string(trial - trials + 1) + ")"
                         : " (seed " + std::to_string(trial) + ")");
    };
    std::vector<c10::IValue> want, got;
    try {
      want = runGraph(*rule.pattern, inputs);
    } catch (const std::exception& e) {
      if (edge) continue;
      return "cannot check it: the pattern fails on " + shown() + ": " + describeException(e) +
             "; declare the inputs' shapes (%x : Float(1, 3, 8, 8)) or give values (where)";
    }
    try {
      got = runGraph(*rule.replacement, inputs);
    } catch (const std::exception& e) {
      return "the replacement fails where the pattern runs, on " + shown() + ": " +
             describeException(e);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      std::string d = difference(want[i], got[i], rule.rtol, rule.atol, edge);
      if (!d.empty()) {
        return "the replacement computes something else: output " + std::to_string(i) + " (%" +
               rule.pattern->outputs()[i]->debugName() + "): " + d + ", on " + shown();
      }
    }
  }
  return "";
}

std::string findRulesFile(const std::string& name) {
  if (fs::exists(name) || name.find('/') != std::string::npos) return name;
  std::set<std::string> shipped;
  for (const char* dir : {TSOPT_INSTALLED_RULES_DIR, TSOPT_SOURCE_RULES_DIR}) {
    for (const std::string& file : {name + ".rules", name}) {
      fs::path p = fs::path(dir) / file;
      if (fs::is_regular_file(p)) return p.string();
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".rules") shipped.insert(entry.path().stem().string());
    }
  }
  std::string known;
  for (const std::string& s : shipped) known += (known.empty() ? "" : ", ") + s;
  throw Error("rules file '" + name + "': no such file, nor shipped rules of that name" +
              (known.empty() ? "" : " (shipped: " + known + ")"));
}

std::vector<Rule> readRulesFile(const std::string& name) {
  const std::string path = findRulesFile(name);
  // A FIFO would wait for a writer, /dev/zero never end.
  if (std::string why = unreadableFile(path); !why.empty()) {
    throw Error("rules file '" + path + "': " + why);
  }
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(path, ec);
  if (!ec && bytes > kMaxRulesFileBytes) {
    throw Error("rules file '" + path + "' is " + std::to_string(bytes) + " bytes, more than the " +
                std::to_string(kMaxRulesFileBytes >> 20) + " MiB a rules file may be");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text;
  text.resize(kMaxRulesFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) throw Error("rules file '" + path + "': read error");
  if (text.size() > kMaxRulesFileBytes) {  // it grew while read
    throw Error("rules file '" + path + "' is more than the " +
                std::to_string(kMaxRulesFileBytes >> 20) + " MiB a rules file may be");
  }
  return parseRules(text, path);
}

std::vector<Rule> loadRules(const std::string& name) {
  std::vector<Rule> rules = readRulesFile(name);
  for (const Rule& rule : rules) {
    std::string wrong = checkRule(rule);
    if (!wrong.empty()) {
      throw Error(rule.location + ": rule '" + rule.name + "' is refused: " + wrong);
    }
  }
  return rules;
}

RewriteResult applyRules(Graph& graph, const std::vector<Rule>& rules, bool once,
                         int64_t maxRounds) {
  auto nodeCount = [&] {
    int64_t n = 0;
    forEachNode(graph.block(), [&](Node*) { ++n; });
    return n;
  };
  RewriteResult result;
  for (const Rule& rule : rules) result.matches[rule.name] = 0;
  result.nodeBudget = kNodeBudgetFactor * nodeCount() + kNodeBudgetSlack;
  const int64_t limit = once ? 1 : maxRounds;
  bool changed = true;
  while (changed && result.rounds < limit) {
    checkInterrupt();
    ++result.rounds;
    changed = false;
    for (const Rule& rule : rules) {
      int64_t n = applyRule(graph, rule);
      result.matches[rule.name] += n;
      changed |= n > 0;
      if (n > 0 && nodeCount() > result.nodeBudget) {
        result.grewPast = rule.name;
        result.converged = false;
        return result;
      }
    }
  }
  result.converged = once || !changed;
  return result;
}

}  // namespace tsopt
