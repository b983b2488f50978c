// Comparing the outputs of two module runs: any structure (tensors, tuples, lists, dicts,
// scalars, None, nested), tolerances per dtype, and for every leaf of the output the largest
// absolute and relative error and where it is. Used by `tsopt verify` and by the tests.
#pragma once

#include <ATen/core/ivalue.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tsopt {

/// An element passes when |actual - expected| <= atol + rtol * ref, where ref is |expected| at
/// that element (or, with Tolerances::relToMax, the largest |expected| in the tensor).
struct Tolerance {
  double rtol = 1e-4;
  double atol = 1e-5;
};

/// Tolerances per floating-point dtype. Integers, bools and strings must be equal.
struct Tolerances {
  std::map<c10::ScalarType, Tolerance> perDtype = defaults();
  bool relToMax = false;

  /// float32 1e-4/1e-5, float64 1e-7/1e-9, float16 1e-3/1e-4 and bfloat16 1e-2/1e-3 (rtol/atol).
  static std::map<c10::ScalarType, Tolerance> defaults();
  /// The tolerance of `dtype` (complex types use that of their real type).
  Tolerance of(c10::ScalarType dtype) const;
  /// Sets rtol (or atol) for every floating dtype, or for one: "1e-3" or "float16=1e-3".
  void set(const std::string& text, bool isRtol);
};

/// Where an error was found: the trial, the element's index and both values there.
struct ErrorLocation {
  int trial = 0;
  std::vector<int64_t> index;
  double expected = 0, actual = 0;
};

/// One leaf of an output (a tensor, scalar, string or None, or a container whose structure
/// differed), compared over every trial.
struct OutputDiff {
  std::string method;  ///< the method that produced it
  std::string path;    ///< "out", "out[1]", "out[2]['mean']"
  std::string kind;    ///< "Tensor[float32, 2x8x12x12]", "int", "List", ...
  bool passed = true;
  std::string mismatch;  ///< the first failure: structure, dtype, shape or values; empty if none
  double maxAbsDiff = 0, maxRelDiff = 0;  ///< over finite elements of every trial
  std::optional<ErrorLocation> maxAbsAt, maxRelAt;
  int64_t badElements = 0;  ///< elements outside the tolerance, summed over trials
  Tolerance tol;            ///< the tolerance this leaf was held to
  bool skipped = false;     ///< not compared: the reference itself is not deterministic here
};

/// Accumulates the comparison of a method's outputs over several trials.
class OutputComparison {
 public:
  explicit OutputComparison(Tolerances tol) : tol_(std::move(tol)) {}

  /// Compares one trial's outputs of `method`, merging into the leaf with the same path.
  void add(const std::string& method, int trial, const c10::IValue& expected,
           const c10::IValue& actual);
  /// Records that `method` failed to run on the candidate in `trial`.
  void addFailure(const std::string& method, int trial, const std::string& why);
  /// Leaves (method, path) and everything under it out of the comparison: reported as skipped.
  void skip(const std::string& method, const std::string& path) { skipped_.emplace(method, path); }

  bool passed() const;
  const std::vector<OutputDiff>& outputs() const { return outputs_; }
  /// "method out[1]: why" for the first leaf that failed, or "".
  std::string firstMismatch() const;

 private:
  OutputDiff& leaf(const std::string& method, const std::string& path, const std::string& kind);
  void compare(const std::string& method, int trial, const c10::IValue& e, const c10::IValue& a,
               const std::string& path);
  void compareTensors(OutputDiff& d, int trial, const at::Tensor& e, const at::Tensor& a);
  static void fail(OutputDiff& d, const std::string& why);

  Tolerances tol_;
  std::vector<OutputDiff> outputs_;
  std::map<std::pair<std::string, std::string>, size_t> byPath_;
  std::set<std::pair<std::string, std::string>> skipped_;
};

/// The result of comparing two outputs once (a convenience for tests).
struct Comparison {
  bool equal = true;
  std::string mismatch;  ///< first difference, with its path ("out[1]['a']"), if any
  double maxAbsDiff = 0, maxRelDiff = 0;
};

/// Compares `actual` against `expected` with one tolerance for every floating dtype.
Comparison compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                          const Tolerance& tol);

/// "[1, 5, 3]": an element's index as messages print it.
std::string indexText(const std::vector<int64_t>& index);

/// "2x3x224x224" ("scalar" for a 0-d shape).
std::string shapeText(c10::IntArrayRef sizes);

/// The dtype named `name` as Python spells it ("float32", "float", "int64", "long", "bool", ...);
/// throws tsopt::Error listing the names for anything else.
c10::ScalarType parseDtype(const std::string& name);
/// Python's name of `dtype` ("float32").
std::string dtypeName(c10::ScalarType dtype);

}  // namespace tsopt
