// The inputs a verification feeds a model: described by the user (--input-shape), inferred from
// the model, or loaded from a file saved with torch.save; random ones are seeded per trial.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tsopt {

/// One tensor input: "SHAPE[:DTYPE[:HIGH]]", e.g. "1x3x224x224", "1x16:int64:1000", "scalar".
struct InputSpec {
  std::vector<int64_t> shape;  ///< -1 marks a size still to be chosen (inferred spatial sizes)
  c10::ScalarType dtype = c10::kFloat;
  int64_t high = 10;   ///< integer inputs are drawn from [0, high)
  std::string source;  ///< how it was obtained, for reports ("given", "inferred from ...")

  /// The spec in the syntax parseInputSpec reads.
  std::string str() const;
};

/// Parses "SHAPE[:DTYPE[:HIGH]]"; throws tsopt::Error saying what is wrong.
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
std::vector<c10::IValue> makeInputs(const std::vector<InputSpec>& specs,
                                    const InputGeneration& generation, int trial);

/// Inputs saved with torch.save: a tuple or list with one element per argument, or one tensor.
/// Throws tsopt::Error if the file cannot be read.
std::vector<c10::IValue> loadInputsFile(const std::string& path);

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
