// The IR checker run after every pass: the invariants Graph::lint() checks, and more, in time
// linear in the size of the graph, with the defect named in words.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <string>

namespace tsopt {

/// The first defect found in `graph`, in words naming the node; "" when there is none.
/// Checks that every node is in exactly one block of this graph, in list order and topological
/// position; values are defined before use across blocks, numbered once, and of this graph; use
/// lists and inputs agree both ways, and no use names a destroyed or never-inserted node;
/// prim::Param, prim::Return, prim::Constant, prim::If and prim::Loop have their shapes; outputs
/// of operators whose schema fixes their type have that type; fusion subgraphs recursively.
std::string findGraphDefect(const torch::jit::Graph& graph);

}  // namespace tsopt
