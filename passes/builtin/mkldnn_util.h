// What the oneDNN passes share (mkldnn_conv.cpp, mkldnn_blocked.cpp): which 2-d convolutions
// they rewrite, their constant parameters, and the holder submodule that keeps what a graph
// constant cannot hold (prepacked or reordered weights) and rebuilds it when the model loads.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace tsopt::mkldnn {

/// A constant int list of one or two elements, as two elements.
std::optional<std::vector<int64_t>> intPair(torch::jit::Value* v);

/// Where the groups argument is if `n` is a convolution these passes handle (aten::conv2d,
/// aten::_convolution, aten::convolution); 0 for any other node.
size_t groupsInput(const torch::jit::Node* n);

/// Why convolution `n` cannot run through oneDNN with its weight as it is ("" if it can):
/// the weight must be a constant 4-d float CPU tensor, and stride, padding, dilation and
/// groups constants.
std::string rejection(torch::jit::Node* n, size_t groupsAt);

/// The constant parameters of a convolution `rejection` accepts.
struct ConvParams {
  at::Tensor weight;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};
ConvParams convParams(torch::jit::Node* n, size_t groupsAt);

/// What makes two convolutions' prepared weights interchangeable: the same weight tensor (by
/// identity) laid out for the same stride, padding, dilation and groups. Convolutions that share
/// a weight (a head applied to every level of a feature pyramid, a traced loop unrolled) then
/// share one prepared copy, and the model stores it once.
using ConvKey = std::tuple<const c10::TensorImpl*, std::vector<int64_t>, std::vector<int64_t>,
                           std::vector<int64_t>, int64_t>;
ConvKey convKey(const ConvParams& c);

/// `v` as TorchScript source: "[1, 2]".
std::string intList(const std::vector<int64_t>& v);

/// A new, empty holder module of class `__torch__.tsopt.<className>` in `owner`'s compilation
/// unit, in eval mode (its __getstate__ and __setstate__ are the caller's to define).
torch::jit::Module newHolder(const torch::jit::Module& owner, const std::string& className);

/// Registers `holder` as a submodule of `module`, named `base` or, if that is taken,
/// `base_<n>`, and reads it at the top of `graph` (whose first input is `module`).
torch::jit::Value* attachHolder(torch::jit::Module& module, torch::jit::Graph& graph,
                                const torch::jit::Module& holder, const std::string& base);

}  // namespace tsopt::mkldnn
