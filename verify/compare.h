// Comparing the outputs of two module runs: any structure (tensors, tuples, lists, dicts,
// scalars, None, nested), with tolerances. Used by pass tests and by `tsopt verify`.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace tsopt {

/// |a - b| <= atol + rtol * |b|, elementwise.
struct Tolerance {
  double rtol = 1e-5;
  double atol = 1e-6;
};

/// The result of comparing two outputs.
struct Comparison {
  bool equal = true;
  std::string mismatch;   ///< first difference, with its path ("out[1]['a']"), if any
  double maxAbsDiff = 0;  ///< over all floating-point tensor elements
  double maxRelDiff = 0;
};

/// Compares `actual` against `expected` recursively; structure, dtype and shape must match.
Comparison compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                          const Tolerance& tol);

}  // namespace tsopt
