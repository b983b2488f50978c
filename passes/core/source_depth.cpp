// A single pass over the characters with a stack of per-bracket chain lengths.
#include "passes/core/source_depth.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace tsopt {

namespace {

bool isWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool isOperatorWord(std::string_view w) {
  return w == "not" || w == "and" || w == "or" || w == "is" || w == "in" || w == "if" ||
         w == "else" || w == "lambda" || w == "await";
}

}  // namespace

int sourceNestingDepth(std::string_view s) {
  std::vector<int> indents = {0};  // indentation widths of the blocks open
  std::vector<int> chains = {0};   // per open bracket (and the statement): operators chained
  int chainSum = 0, deepest = 0;
  bool lineStart = true;
  auto note = [&] {
    deepest = std::max(deepest, static_cast<int>(indents.size() + chains.size()) + chainSum);
  };
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (lineStart && chains.size() == 1) {  // a new logical line: its indentation
      lineStart = false;
      size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j < s.size() && s[j] != '\n' && s[j] != '#') {
        const int width = static_cast<int>(j - i);
        while (indents.size() > 1 && width < indents.back()) indents.pop_back();
        if (width > indents.back()) indents.push_back(width);
      }
      i = j;
      continue;
    }
    lineStart = false;
    if (c == '\n') {
      lineStart = true;
      if (chains.size() == 1) {
        chainSum -= chains[0];
        chains[0] = 0;
      }
      ++i;
    } else if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = s.substr(i, 3) == std::string(3, c);
      const std::string close(triple ? 3 : 1, c);
      for (i += close.size(); i < s.size() && s.substr(i, close.size()) != close;) {
        i += s[i] == '\\' ? 2 : 1;
      }
      i += close.size();
    } else if (c == '(' || c == '[' || c == '{') {
      chains.push_back(0);
      note();
      ++i;
    } else if (c == ')' || c == ']' || c == '}') {
      if (chains.size() > 1) {
        chainSum -= chains.back();
        chains.pop_back();
      }
      ++chains.back();  // the bracketed expression can be the operand of what follows
      ++chainSum;
      note();
      ++i;
    } else if (c == ',' || c == ':' || c == ';' ||
               (c == '=' && i + 1 < s.size() && s[i + 1] != '=' && i > 0 &&
                std::string_view("=!<>").find(s[i - 1]) == std::string_view::npos)) {
      chainSum -= chains.back();
      chains.back() = 0;
      ++i;
    } else if (isWordChar(c)) {
      size_t j = i;
      while (j < s.size() && isWordChar(s[j])) ++j;
      if (isOperatorWord(s.substr(i, j - i))) {
        ++chains.back();
        ++chainSum;
        note();
      }
      i = j;
    } else if (std::string_view("+-*/%@&|^~<>=!.").find(c) != std::string_view::npos) {
      ++chains.back();
      ++chainSum;
      note();
      ++i;
    } else {
      ++i;
    }
  }
  return deepest;
}

}  // namespace tsopt
