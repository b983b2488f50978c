// Comparing the outputs of two module runs: any structure (tensors, tuples, lists, dicts,
// scalars, None, nested), and for every leaf of the output the largest absolute and relative
// error and where it is. A float32 leaf is judged against the float64 answer, within a multiple
// of the reference's own float32 error (the rule that holds on every CPU and at every scale);
// what has no float64 answer by tolerances per dtype. Used by `tsopt verify` and by the tests.
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

/// The rule for float32 outputs that have a float64 answer: the candidate's largest error against
/// that answer may be `factor` times the reference's own largest error, plus `ulps` units in the
/// last place of the output's largest magnitude.
struct Float64Rule {
  bool enabled = true;
  double factor = 4;
  double ulps = 16;
  /// The float64 answer is trusted only where the float32 reference is this close to it,
  /// relative to the output's largest magnitude (farther, a discrete decision or a diverging
  /// computation separates them, and the tolerances decide).
  double plausible = 1e-3;
};

/// Tolerances per floating-point dtype. Integers, bools and strings must be equal.
struct Tolerances {
  std::map<c10::ScalarType, Tolerance> perDtype = defaults();
  bool relToMax = false;
  Float64Rule float64;

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

  /// What decided the leaf: "float64" (the error against the float64 answer), "tolerance"
  /// (rtol/atol against the reference) or "exact" (integers, bools, strings, structure).
  std::string rule;
  std::string ruleNote;  ///< why the tolerances decided a float leaf, where float64 could not
  /// The float64 rule's figures, over every trial: the reference's own error and the
  /// candidate's against the float64 answer, and the largest bound they were held to.
  double referenceError = 0, exactError = 0, bound = 0;
  /// The largest error over what the rule accepts, elementwise (above 1 fails): how far a leaf
  /// is from failing, comparable between leaves, rules and passes.
  double errorRatio = 0;
  /// Set when the leaf comes out of a discrete decision (argmax, topk, NMS, a threshold): the
  /// operator that makes it. Such a leaf may have a few elements off (agreement below).
  std::string discrete;
  double agreement = 1;  ///< the smallest fraction of elements (or rows) within the rule
  /// A discrete output whose rows came in another order (detections after NMS, a sort with
  /// near-ties) and matched the reference's row for row.
  bool reordered = false;
};

/// A discrete output may disagree in this many elements of each trial: max(1, 1% of them). One
/// flipped index or one moved keypoint is a rounding decision; more is a difference.
int64_t discreteAllowance(int64_t elements);

/// Accumulates the comparison of a method's outputs over several trials.
class OutputComparison {
 public:
  explicit OutputComparison(Tolerances tol) : tol_(std::move(tol)) {}

  /// Compares one trial's outputs of `method`, merging into the leaf with the same path.
  /// `exact` is the float64 model's output on the same inputs, or nullptr (tolerances decide);
  /// `exactNote` says why there is none.
  void add(const std::string& method, int trial, const c10::IValue& expected,
           const c10::IValue& actual, const c10::IValue* exact = nullptr,
           const std::string& exactNote = "");
  /// Records that `method` failed to run on the candidate in `trial`.
  void addFailure(const std::string& method, int trial, const std::string& why);
  /// Leaves (method, path) and everything under it out of the comparison: reported as skipped.
  void skip(const std::string& method, const std::string& path) { skipped_.emplace(method, path); }
  /// Marks (method, path) and every leaf under it as coming out of a discrete decision `why`.
  void markDiscrete(const std::string& method, const std::string& path, const std::string& why) {
    discrete_[{method, path}] = why;
  }

  bool passed() const;
  const std::vector<OutputDiff>& outputs() const { return outputs_; }
  /// "method out[1]: why" for the first leaf that failed, or "".
  std::string firstMismatch() const;

 private:
  OutputDiff& leaf(const std::string& method, const std::string& path, const std::string& kind);
  /// The float64 answer at the same place as the leaf or container being compared.
  struct Exact {
    const c10::IValue* value = nullptr;
    std::string note;  ///< why there is none
  };
  void compare(const std::string& method, int trial, const c10::IValue& e, const c10::IValue& a,
               const Exact& x, const std::string& path);
  void compareTensors(OutputDiff& d, int trial, const at::Tensor& e, const at::Tensor& a,
                      const Exact& x);
  std::string discreteAt(const std::string& method, const std::string& path) const;
  static void fail(OutputDiff& d, const std::string& why);

  Tolerances tol_;
  std::vector<OutputDiff> outputs_;
  std::map<std::pair<std::string, std::string>, size_t> byPath_;
  std::set<std::pair<std::string, std::string>> skipped_;
  std::map<std::pair<std::string, std::string>, std::string> discrete_;
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
