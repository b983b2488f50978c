// Recursive, structure-aware output comparison.
#include "verify/compare.h"

#include <ATen/ATen.h>

#include <sstream>

namespace tsopt {

namespace {

class Comparer {
 public:
  explicit Comparer(const Tolerance& tol) : tol_(tol) {}

  void compare(const c10::IValue& e, const c10::IValue& a, const std::string& path) {
    if (!result_.equal) return;
    if (e.tagKind() != a.tagKind()) {
      return fail(path, "expected " + e.tagKind() + ", got " + a.tagKind());
    }
    if (e.isTensor()) return compareTensors(e.toTensor(), a.toTensor(), path);
    if (e.isTuple() || e.isList()) {
      std::vector<c10::IValue> ev =
          e.isTuple() ? e.toTupleRef().elements().vec() : e.toListRef().vec();
      std::vector<c10::IValue> av =
          a.isTuple() ? a.toTupleRef().elements().vec() : a.toListRef().vec();
      if (ev.size() != av.size()) {
        return fail(path, "expected " + std::to_string(ev.size()) + " elements, got " +
                              std::to_string(av.size()));
      }
      for (size_t i = 0; i < ev.size(); ++i)
        compare(ev[i], av[i], path + "[" + std::to_string(i) + "]");
      return;
    }
    if (e.isGenericDict()) {
      auto ed = e.toGenericDict(), ad = a.toGenericDict();
      if (ed.size() != ad.size()) return fail(path, "dicts differ in size");
      for (const auto& entry : ed) {
        std::string key = path + "[" + keyText(entry.key()) + "]";
        if (!ad.contains(entry.key())) return fail(key, "missing key");
        compare(entry.value(), ad.at(entry.key()), key);
      }
      return;
    }
    if (e.isDouble()) {
      double x = e.toDouble(), y = a.toDouble();
      if (std::abs(x - y) > tol_.atol + tol_.rtol * std::abs(x)) {
        return fail(path, "expected " + std::to_string(x) + ", got " + std::to_string(y));
      }
      return;
    }
    if (e.isNone()) return;
    if (!(e == a)) {
      std::ostringstream os;
      os << "expected " << e << ", got " << a;
      fail(path, os.str());
    }
  }

  Comparison result_;

 private:
  static std::string keyText(const c10::IValue& k) {
    std::ostringstream os;
    if (k.isString()) {
      os << "'" << k.toStringRef() << "'";
    } else {
      os << k;
    }
    return os.str();
  }

  void fail(const std::string& path, const std::string& why) {
    result_.equal = false;
    result_.mismatch = path + ": " + why;
  }

  void compareTensors(const at::Tensor& e, const at::Tensor& a, const std::string& path) {
    if (e.scalar_type() != a.scalar_type()) {
      return fail(path, std::string("dtype ") + c10::toString(e.scalar_type()) + " vs " +
                            c10::toString(a.scalar_type()));
    }
    if (e.sizes() != a.sizes()) {
      std::ostringstream os;
      os << "shape " << e.sizes() << " vs " << a.sizes();
      return fail(path, os.str());
    }
    if (!e.is_floating_point()) {
      if (!at::equal(e, a)) fail(path, "integer tensors differ");
      return;
    }
    at::Tensor ed = e.to(at::kDouble), ad = a.to(at::kDouble);
    if (e.numel() == 0) return;
    at::Tensor diff = (ed - ad).abs();
    double maxAbs = diff.max().item<double>();
    double maxRel = (diff / ed.abs().clamp_min(1e-12)).max().item<double>();
    result_.maxAbsDiff = std::max(result_.maxAbsDiff, maxAbs);
    result_.maxRelDiff = std::max(result_.maxRelDiff, maxRel);
    at::Tensor bad = diff > (tol_.atol + tol_.rtol * ed.abs());
    if (bad.any().item<bool>()) {
      int64_t idx = bad.flatten().nonzero()[0].item<int64_t>();
      std::ostringstream os;
      os << "values differ: max abs diff " << maxAbs << " (first at flat index " << idx
         << ": expected " << ed.flatten()[idx].item<double>() << ", got "
         << ad.flatten()[idx].item<double>() << ")";
      fail(path, os.str());
    }
  }

  Tolerance tol_;
};

}  // namespace

Comparison compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                          const Tolerance& tol) {
  Comparer c(tol);
  c.compare(expected, actual, "out");
  return c.result_;
}

}  // namespace tsopt
