// The inputs a verification feeds a model: described by the user (--input), saved beside the
// model or given as a file (torch.save), or inferred from the model; random ones are seeded per
// trial.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// The size of dimension `dim` of top-level input `input` ("@0.1"): a length that must match
/// another input (Conformer's lengths and its features' time axis).
struct SizeRef {
  int input = 0;
  int dim = 0;
  bool operator==(const SizeRef& o) const { return input == o.input && dim == o.dim; }
};

/// A number, or the size it refers to.
struct Bound {
  int64_t value = 0;
  std::optional<SizeRef> ref;
};

/// One argument (see docs/verify.md for the syntax parseInputSpec reads):
/// - a tensor: "SHAPE[:DTYPE[:VALUES]]", e.g. "1x3x224x224", "scalar:float64", "1x16:int64:1000";
///   a size may be "@I.D" (dimension D of input I); integer VALUES are HIGH (drawn from [0, HIGH)),
///   LOW..HIGH (from [LOW, HIGH)) or =V (every element V); bounds may be "@I.D" too;
/// - a list: "[SPEC,SPEC,...]" (List[Tensor], e.g. a detection model's images);
/// - a dict: "{KEY=SPEC,...}" (Dict[str, Tensor]).
struct InputSpec {
  enum class Kind { kTensor, kList, kDict };
  Kind kind = Kind::kTensor;
  std::vector<int64_t> shape;           ///< -1 marks a size still to be chosen (spatial sizes)
  std::map<size_t, SizeRef> shapeRefs;  ///< dimensions whose size is another input's
  c10::ScalarType dtype = c10::kFloat;
  Bound low, high{10, std::nullopt};  ///< integer inputs are drawn from [low, high)
  bool fill = false;                  ///< integer inputs: every element is `low`
  std::vector<std::pair<std::string, InputSpec>> items;  ///< list elements (no key) or dict entries
  std::string source;  ///< how it was obtained, for reports ("given", "inferred from ...")

  /// The spec in the syntax parseInputSpec reads.
  std::string str() const;
};

/// Parses an input spec; throws tsopt::Error saying what is wrong.
InputSpec parseInputSpec(const std::string& text);

enum class Distribution { kUniform, kNormal };

/// How random floating-point inputs are drawn.
struct InputGeneration {
  Distribution distribution = Distribution::kUniform;
  double scale = 1.0;  ///< uniform on [-scale, scale), or normal with standard deviation scale
  uint64_t seed = 0;
};

/// "uniform" or "normal"; throws tsopt::Error for anything else.
Distribution parseDistribution(const std::string& name);

/// Random inputs for `trial`: the same specs, generation and trial always give the same values.
/// Throws tsopt::Error for a size reference that names no input or dimension.
std::vector<c10::IValue> makeInputs(const std::vector<InputSpec>& specs,
                                    const InputGeneration& generation, int trial);

/// Inputs saved with torch.save: a tuple or list with one element per argument, or one tensor.
/// Throws tsopt::Error if the file cannot be read.
std::vector<c10::IValue> loadInputsFile(const std::string& path);

/// The example inputs saved beside a model, MODEL.inputs.pt for MODEL.pt (or MODEL.inputs.pt
/// beside any other name), if that file exists; "" otherwise.
std::string inputsBeside(const std::string& modelPath);

/// `inputs` with lists and dicts typed as `method`'s arguments declare them: torch.save's lists
/// carry no element type, and a method taking List[Tensor] rejects an untyped list.
std::vector<c10::IValue> typedAsArguments(const torch::jit::Module& module,
                                          const std::string& method,
                                          std::vector<c10::IValue> inputs);

/// Specs for the arguments of `method` that have no default value, when the user gives none:
/// from complete tensor types in its graph where they are recorded, otherwise from the first
/// layer that consumes each input after inlining (a convolution's weight gives rank and channels,
/// a linear layer's its features, an embedding's its index range). Spatial sizes are left -1.
/// Throws tsopt::Error naming an input it cannot infer.
std::vector<InputSpec> inferInputSpecs(const torch::jit::Module& module, const std::string& method);

/// Checks that `count` inputs fit `method` (every argument without a default, at most all of
/// them); throws tsopt::Error listing the signature otherwise. `what` names the inputs' source.
void checkInputCount(const torch::jit::Module& module, const std::string& method, size_t count,
                     const std::string& what);

}  // namespace tsopt
