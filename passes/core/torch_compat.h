// The one place that knows how the LibTorch lines tsopt builds against differ: 1.13 (Debian 12)
// and 2.x (Debian 13's 2.6, or any 2.x that CMake is pointed at). Code elsewhere is the same
// for both and asks here what differs.
#pragma once

#include <torch/script.h>
#include <torch/version.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tsopt::compat {

/// The memo IValue::deepcopy takes: aliases map to one copy.
#if TORCH_VERSION_MAJOR >= 2
using DeepCopyMemo = c10::IValue::HashIdentityIValueMap;
#else
using DeepCopyMemo = c10::IValue::HashAliasedIValueMap;
#endif

/// "1.13", "2.6": the LibTorch this tsopt was built against.
std::string libtorchVersion();

/// The two LibTorch lines whose operators tsopt knows (libtorch_operators.inc): "1.13", "2.6".
const char* oldLine();
const char* newLine();

/// "aten::squeeze.dims": the name and overload of the schema `n` calls, or its kind where it has
/// no schema (an operator this LibTorch lacks, a node of the interpreter's own).
std::string operatorName(const torch::jit::Node* n);

/// Turns LibTorch's TensorExpr fuser off for the process. Where LibTorch was built with LLVM (2.x
/// on Debian 13), the profiling executor compiles fused CPU kernels the second time a method
/// runs: seconds to minutes a model, for the same numbers. Debian 12's 1.13 never fuses on CPU.
void disableTensorExprFuser();

/// The archive's format version (its `version` record).
uint64_t archiveFormatVersion(const std::string& path);

/// What a model needs of the LibTorch that loads it, by the operators it calls.
struct Requirement {
  /// The oldest LibTorch release that can load it: "1.13", or the first release after 1.13
  /// ("2.0") when it calls an operator that 1.13 lacks.
  std::string oldest;
  /// The operators (name.overload) it calls that LibTorch 1.13 lacks and 2.6 has.
  std::vector<std::string> newerOperators;
  /// The operators it calls that LibTorch 1.13 has and 2.6 lacks.
  std::vector<std::string> removedOperators;
};

/// What `module` needs: the operators of its methods' graphs and of the functions they call;
/// with `methods`, only of what those methods of the root call (a run that keeps only them).
Requirement requirement(const torch::jit::Module& module,
                        const std::vector<std::string>* methods = nullptr);

/// "A, B, which LibTorch L lacks": operators named for a message.
std::string lacking(const std::vector<std::string>& operators, const std::string& line);

/// The operator a load failed on for want of its registration ("torchvision::nms",
/// "aten::rms_norm"), from LibTorch's message `why`; "" for any other failure.
std::string unknownOperator(const std::string& why);

/// For a load that failed with `why` (LibTorch's message): one line saying which LibTorch the
/// model needs when the failure is this LibTorch being too old (an archive format it cannot
/// read, one of LibTorch's own operators or overloads it lacks), or "" for any other failure.
std::string newerLibTorchNeeded(const std::string& why);

}  // namespace tsopt::compat
