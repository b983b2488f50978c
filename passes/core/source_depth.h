// How deeply TorchScript source nests, read without parsing it: LibTorch's compiler parses and
// emits code recursively, so code nested some ten thousand deep (parentheses, `1 + 1 + ...`,
// `not not ...`, `a.b.c...`, blocks in blocks) overflows its stack. archive_check.cpp refuses a
// code record that nests deeper than the limit before LibTorch compiles it.
#pragma once

#include <string_view>

namespace tsopt {

/// An upper bound on the depth of the syntax tree LibTorch builds of `source`: at each point,
/// the blocks open (indentation levels) plus, for each bracket open, one plus the operators
/// chained since the last comma, colon or `=` at its level (a chain of N operators is a tree N
/// deep). String literals and comments are skipped.
int sourceNestingDepth(std::string_view source);

}  // namespace tsopt
