// IR helpers shared by passes and plugins: resolving prim::GetAttr chains to module values,
// reading constants, walking blocks.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// If `v` is `self` (the method's first input) or a prim::GetAttr chain rooted at it, the
/// attribute names from `self` down ({} for self itself); otherwise nullopt.
std::optional<std::vector<std::string>> attrPath(const torch::jit::Value* v);

/// The value a GetAttr chain rooted at `self` reads from `module`, if it resolves.
std::optional<c10::IValue> resolveAttr(const torch::jit::Module& module,
                                       const torch::jit::Value* v);

/// The constant value of `v` if it is produced by prim::Constant or is a GetAttr chain to a
/// value on `module` (when given) that holds a non-tensor, non-module attribute.
std::optional<c10::IValue> constantValue(const torch::jit::Value* v,
                                         const torch::jit::Module* module = nullptr);

/// Calls `fn` on every node in `block` and its nested blocks, in order; `fn` may not destroy
/// nodes other than the one it is given.
void forEachNode(torch::jit::Block* block, const std::function<void(torch::jit::Node*)>& fn);

}  // namespace tsopt
