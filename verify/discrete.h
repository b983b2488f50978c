// Which outputs of a method come out of a discrete decision on computed values: an argmax, a
// top-k, a sort, non-maximum suppression, a threshold, a branch on a tensor's value. A rounding
// change can flip such a decision (a keypoint moves by a pixel, a detection reorders), so the
// verifier judges them by their agreement rate instead of failing on one flipped element.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// The outputs of a method, given as its inlined graph (inlinedCopy), that depend on a discrete
/// decision on floating-point values computed from its inputs, as (path, operator) pairs:
/// "out[1]" and "aten::argmax" mark out[1] and everything under it. Found by following data
/// flow, containers (a list appended to in a loop) and control flow (the outputs of a branch
/// taken on such a value) from every such decision; outputs whose paths cannot be told apart
/// inside a container are marked as a whole.
std::vector<std::pair<std::string, std::string>> discreteOutputs(torch::jit::Graph& inlined);

}  // namespace tsopt
