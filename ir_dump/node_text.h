// How one node or value reads in a picture of a graph: the text of types, of constants and of
// values drawn inside their users' labels, and the op family that colours a node. Shared by the
// DOT export and the interactive viewer, so both show a node alike.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <optional>
#include <string>

namespace tsopt {

/// A type as a label shows it: tensors with sizes and dtype where known ("Tensor(2x3, Float)"),
/// classes by their last name, the rest shortened.
std::string typeText(const c10::TypePtr& type);

/// How a value that is drawn inside its users' labels rather than as a node reads: a constant,
/// a list of constants ("[1, 1]"), or a prim::GetAttr chain rooted at self
/// ("self.layer1.0.conv1.weight"). nullopt for a value whose producer is drawn as a node.
std::optional<std::string> inlineText(const torch::jit::Value* v);

/// A node's label lines below its kind: the attribute name of a GetAttr/SetAttr, then each input
/// shown inline as "ARG = TEXT" (argument names from the schema where there is one).
std::vector<std::string> argumentLines(const torch::jit::Node* n);

/// A node's attributes as "NAME = VALUE" lines (prim::CallMethod's `name = forward`, a fused
/// group's subgraph as "<graph>"); tensors by their sizes.
std::vector<std::string> attributeLines(const torch::jit::Node* n);

/// The op family a node kind belongs to ("convolution", "normalisation", "activation", "shape",
/// "control", "attribute", "call", "other"), as the colours of pictures show it.
std::string opFamily(const std::string& kind);

/// The fill colour of every op family, as "#rrggbb".
const std::map<std::string, std::string>& familyColours();

/// The fill colour of an op family.
const std::string& familyColour(const std::string& family);

}  // namespace tsopt
