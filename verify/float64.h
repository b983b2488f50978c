// The exact answer a verdict measures errors against: a copy of the reference model that computes
// in float64 wherever it computed in float32 (parameters, buffers, tensor attributes, graph
// constants, dtype arguments and inputs converted), so that float32 rounding, the reference's
// and the candidate's alike, shows as a distance from it.
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// A float64 copy of a module, or why there is none: the module's state converted, and each
/// method's graph inlined and converted (the module's own methods are left as they are).
struct Float64Model {
  std::optional<torch::jit::Module> module;  ///< nullopt when the model has no float64 path
  std::map<std::string, std::shared_ptr<torch::jit::Graph>> graphs;  ///< per method
  std::string unavailable;  ///< why not ("it computes with quantized operators")

  /// Runs `method`'s float64 graph on `inputs` (converted to float64) as runIsolated runs a
  /// method.
  c10::IValue run(const std::string& method, const std::vector<c10::IValue>& inputs,
                  uint64_t seed) const;
};

/// A deep copy of `module` whose methods compute in float64, from `inlined` (each method's graph,
/// inlined: inlinedCopy), which it copies and leaves as they are: float32 tensors held by any
/// module's attributes and by graph constants become float64, and a `dtype` argument naming
/// float32 names float64; `module` itself is left as it was. Values keep their debug names.
/// Models that compute with quantized or prepacked operators have no float64 path: `unavailable`
/// says so.
Float64Model makeFloat64Model(
    const torch::jit::Module& module,
    const std::map<std::string, std::shared_ptr<torch::jit::Graph>>& inlined);

/// `v` with every float32 tensor inside it (lists, tuples and dicts included) as float64.
c10::IValue toFloat64(const c10::IValue& v);

}  // namespace tsopt
