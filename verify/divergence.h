// Where two models' computations part: the intermediate values of a model before a pass and
// after it, matched by debug name (the values a pass kept), compared in the order the model
// computes them, to name the first node whose value differs (as Polygraphy's comparison with
// every output marked does for ONNX).
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <string>
#include <vector>

#include "verify/compare.h"

namespace tsopt {

/// The first intermediate value that differs, or found = false.
struct Divergence {
  bool found = false;
  std::string method;
  std::string value;  ///< its debug name, "%input.7", or "the output"
  std::string node;   ///< the candidate's node that computes it, as IR ("aten::hardtanh(%x, ...)")
  std::string name;   ///< that node's first output as the viewer searches it ("%input.7")
  std::string mismatch;  ///< how it differs, as for an output
  size_t compared = 0;   ///< intermediate values compared (those both graphs have)
};

/// Runs `method` of `reference` and `candidate`, inlined, on `inputs` from the random-number
/// state `seed`, capturing every tensor value both compute under the same debug name (in the
/// top-level block, at most `limit` of them), and the float64 copy of the reference likewise;
/// compares them in the reference's order by `tolerances` and returns the first that differs.
Divergence findDivergence(const torch::jit::Module& reference, const torch::jit::Module& candidate,
                          const std::string& method, const std::vector<c10::IValue>& inputs,
                          uint64_t seed, const Tolerances& tolerances, size_t limit = 2000);

}  // namespace tsopt
