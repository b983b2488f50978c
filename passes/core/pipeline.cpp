// Recursive-descent parser for textual pipelines. Grammar (whitespace and '#' comments allowed
// between tokens):
//   pipeline := element (',' element)*
//   element  := NAME ['{' [opt (','? opt)*] '}'] ['(' pipeline ')']   -- '(' only for fixed-point
//   opt      := NAME ['=' value]                                      -- bare NAME means true
//   value    := '[' [scalar (',' scalar)*] ']' | scalar
//   scalar   := '"' chars '"' | chars other than  , { } [ ] ( ) = " and whitespace
#include "passes/core/pipeline.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "passes/core/error.h"

namespace tsopt {

namespace {

constexpr int kMaxGroupDepth = 32;

class Parser {
 public:
  Parser(const std::string& text, const PassRegistry& registry)
      : text_(text), registry_(registry) {}

  Pipeline parse() {
    skipSpace();
    if (atEnd()) fail("the pipeline is empty");
    Pipeline p;
    p.elements = parseList(/*nested=*/false);
    return p;
  }

 private:
  const std::string& text_;
  const PassRegistry& registry_;
  size_t pos_ = 0;
  int depth_ = 0;  ///< fixed-point groups open at pos_

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  void skipSpace() {
    while (!atEnd()) {
      if (std::isspace(static_cast<unsigned char>(peek()))) {
        ++pos_;
      } else if (peek() == '#') {
        while (!atEnd() && peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string where(size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    if (line > 1 || text_.find('\n') != std::string::npos) {
      return "line " + std::to_string(line) + ", column " + std::to_string(col);
    }
    return "column " + std::to_string(col);
  }

  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw Error("bad pipeline at " + where(at) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& what) const { fail(what, pos_); }

  std::string found() const {
    if (atEnd()) return "end of pipeline";
    return std::string("'") + peek() + "'";
  }

  void expect(char c, const std::string& context) {
    skipSpace();
    if (peek() != c) fail(std::string("expected '") + c + "' " + context + ", found " + found());
    ++pos_;
  }

  static bool isNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  }

  std::string parseName(const char* what) {
    skipSpace();
    size_t start = pos_;
    while (!atEnd() && isNameChar(peek())) ++pos_;
    if (start == pos_) {
      if (peek() == ',' || atEnd() || peek() == ')') fail(std::string("empty ") + what);
      fail(std::string("expected ") + what + ", found " + found());
    }
    return text_.substr(start, pos_ - start);
  }

  std::vector<PipelineElement> parseList(bool nested) {
    std::vector<PipelineElement> out;
    while (true) {
      out.push_back(parseElement());
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (nested && peek() == ')') return out;
      if (!nested && atEnd()) return out;
      fail(std::string("expected ',' or ") + (nested ? "')'" : "end of pipeline") + ", found " +
           found());
    }
  }

  std::string parseScalar() {
    skipSpace();
    if (peek() == '"') {
      size_t start = pos_++;
      std::string out;
      while (!atEnd() && peek() != '"') {
        if (peek() == '\\' && pos_ + 1 < text_.size()) ++pos_;
        out += text_[pos_++];
      }
      if (atEnd()) fail("unterminated string", start);
      ++pos_;
      return out;
    }
    size_t start = pos_;
    while (!atEnd() && std::string(",{}[]()=\"").find(peek()) == std::string::npos &&
           !std::isspace(static_cast<unsigned char>(peek()))) {
      ++pos_;
    }
    if (start == pos_) fail("expected a value, found " + found());
    return text_.substr(start, pos_ - start);
  }

  OptionValue parseValue() {
    skipSpace();
    OptionValue v;
    if (peek() != '[') {
      v.scalar = parseScalar();
      return v;
    }
    ++pos_;
    v.isList = true;
    skipSpace();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    while (true) {
      v.items.push_back(parseScalar());
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']', "to close the list");
      return v;
    }
  }

  struct ParsedOption {
    std::string name;
    size_t at;
    OptionValue value;
  };

  std::vector<ParsedOption> parseOptions() {
    std::vector<ParsedOption> opts;
    ++pos_;  // '{'
    std::set<std::string> seen;
    while (true) {
      skipSpace();
      if (peek() == '}') {
        ++pos_;
        return opts;
      }
      if (atEnd()) fail("expected '}' to close the options, found end of pipeline");
      ParsedOption o;
      o.at = pos_;
      o.name = parseName("option name");
      if (!seen.insert(o.name).second) fail("option '" + o.name + "' given twice", o.at);
      skipSpace();
      if (peek() == '=') {
        ++pos_;
        o.value = parseValue();
      } else {
        o.value.scalar = "true";
      }
      opts.push_back(std::move(o));
      skipSpace();
      if (peek() == ',') ++pos_;
    }
  }

  PipelineElement parseElement() {
    skipSpace();
    size_t at = pos_;
    std::string name = parseName("pass name");
    skipSpace();
    std::vector<ParsedOption> opts;
    if (peek() == '{') opts = parseOptions();
    skipSpace();
    PipelineElement e;
    if (name == "fixed-point") {
      e.maxIterations = kDefaultFixedPointIterations;
      for (const ParsedOption& o : opts) {
        if (o.name != "max-iterations") {
          fail("unknown option '" + o.name + "' of fixed-point" +
                   didYouMean(o.name, {"max-iterations"}),
               o.at);
        }
        char* end = nullptr;
        long long n = o.value.isList ? 0 : std::strtoll(o.value.scalar.c_str(), &end, 10);
        if (o.value.isList || *end != '\0' || n < 1) {
          fail("option 'max-iterations' of fixed-point takes an integer >= 1", o.at);
        }
        e.maxIterations = n;
      }
      if (peek() != '(') fail("expected '(' after fixed-point, found " + found());
      // Every walk of a pipeline recurses into groups: the text must not choose how deep.
      if (++depth_ > kMaxGroupDepth) {
        fail("fixed-point groups nested more than " + std::to_string(kMaxGroupDepth) + " deep", at);
      }
      ++pos_;
      skipSpace();
      if (peek() == ')') fail("fixed-point group is empty");
      e.group = parseList(/*nested=*/true);
      ++pos_;  // ')'
      --depth_;
      return e;
    }
    const PassInfo* info = registry_.find(name);
    if (!info) {
      fail("unknown pass '" + name + "'" + didYouMean(name, registry_.names()) +
               "; 'tsopt passes' lists them",
           at);
    }
    e.pass = info->factory();
    for (const ParsedOption& o : opts) {
      OptionBase* opt = e.pass->findOption(o.name);
      if (!opt) {
        std::vector<std::string> names;
        for (const OptionBase* ob : e.pass->options()) names.push_back(ob->name());
        std::string hint = didYouMean(o.name, names);
        if (hint.empty()) {
          hint = names.empty() ? " (it takes no options)" : " (it takes: " + join(names) + ")";
        }
        fail("unknown option '" + o.name + "' of pass '" + name + "'" + hint, o.at);
      }
      try {
        opt->set(o.value);
      } catch (const Error& err) {
        fail(err.what(), o.at);
      }
    }
    std::string wrong = e.pass->checkOptions();
    if (!wrong.empty()) fail("pass '" + name + "' " + wrong, at);
    if (peek() == '(') fail("only fixed-point takes a '(' group; '" + name + "' does not");
    return e;
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }
};

}  // namespace

std::string PipelineElement::str() const {
  if (!isGroup()) return pass->str();
  std::string out = "fixed-point";
  if (maxIterations != kDefaultFixedPointIterations) {
    out += "{max-iterations=" + std::to_string(maxIterations) + "}";
  }
  out += "(";
  for (size_t i = 0; i < group.size(); ++i) out += (i ? "," : "") + group[i].str();
  return out + ")";
}

std::string Pipeline::str() const {
  std::string out;
  for (size_t i = 0; i < elements.size(); ++i) out += (i ? "," : "") + elements[i].str();
  return out;
}

namespace {

/// Every pass of `elements` in execution order, each with the index of the first pass that may
/// run after it: in a fixed-point group, the group's first (the next iteration); else SIZE_MAX.
void collectOrder(const std::vector<PipelineElement>& elements, size_t groupStart,
                  std::vector<std::pair<const Pass*, size_t>>& order) {
  for (const PipelineElement& e : elements) {
    if (e.isGroup()) {
      collectOrder(e.group, std::min(groupStart, order.size()), order);
    } else {
      order.push_back({e.pass.get(), groupStart});
    }
  }
}

/// Throws if a pass is followed by one it forbids after it (Pass::constraintsOnLater).
void checkOrder(const Pipeline& pipeline) {
  std::vector<std::pair<const Pass*, size_t>> order;
  collectOrder(pipeline.elements, SIZE_MAX, order);
  for (size_t i = 0; i < order.size(); ++i) {
    const Pass& pass = *order[i].first;
    for (const Pass::LaterConstraint& c : pass.constraintsOnLater()) {
      for (size_t j = std::min(i + 1, order[i].second); j < order.size(); ++j) {
        std::vector<std::string> traits = order[j].first->traits();
        if (std::find(traits.begin(), traits.end(), c.trait) == traits.end()) continue;
        throw Error("pass '" + pass.name() + "' cannot be followed by '" + order[j].first->name() +
                    "', which " + c.trait + ": " + c.reason + "; run '" + pass.name() +
                    "' after it");
      }
    }
  }
}

}  // namespace

Pipeline parsePipeline(const std::string& text, const PassRegistry& registry) {
  Pipeline pipeline = Parser(text, registry).parse();
  checkOrder(pipeline);
  return pipeline;
}

std::string resolvePipelineArgument(const std::string& arg) {
  if (arg.empty() || arg[0] != '@') return arg;
  std::string path = arg.substr(1);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error("cannot read pipeline file '" + path + "': " +
                (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  }
  std::ifstream in(path);
  if (!in) throw Error("cannot read pipeline file '" + path + "': permission denied");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const PipelinePreset& findPreset(const std::string& name, const PassRegistry& registry) {
  std::string known;
  for (const PipelinePreset& p : registry.presets()) {
    if (p.name == name || p.name == "O" + name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  const std::string shown = name.rfind('O', 0) == 0 ? name : "O" + name;
  throw Error("unknown preset '" + shown + "' (known: " + known + ")");
}

}  // namespace tsopt
