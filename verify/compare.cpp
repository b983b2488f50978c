// Structure-aware output comparison with per-dtype tolerances and error locations.
#include "verify/compare.h"

#include <ATen/ATen.h>

#include <functional>
#include <sstream>

#include "passes/core/error.h"

namespace tsopt {

namespace {

std::string num(double v) {
  std::ostringstream os;
  os.precision(7);
  os << v;
  return os.str();
}

std::vector<int64_t> unravel(int64_t flat, c10::IntArrayRef sizes) {
  std::vector<int64_t> index(sizes.size());
  for (size_t i = sizes.size(); i-- > 0;) {
    index[i] = flat % sizes[i];
    flat /= sizes[i];
  }
  return index;
}

/// Keeps `value` and where it is if it beats the largest so far.
void keepLargest(double value, const std::function<ErrorLocation()>& where, double& largest,
                 std::optional<ErrorLocation>& at) {
  if (value <= largest) return;
  largest = value;
  at = where();
}

/// A dict key or scalar as Python would show it: strings quoted.
std::string keyText(const c10::IValue& k) {
  std::ostringstream os;
  if (k.isString()) {
    os << "'" << k.toStringRef() << "'";
  } else {
    os << k;
  }
  return os.str();
}

const std::vector<std::pair<std::string, c10::ScalarType>>& dtypeNames() {
  static const std::vector<std::pair<std::string, c10::ScalarType>> names = {
      {"float32", at::kFloat},
      {"float", at::kFloat},
      {"float64", at::kDouble},
      {"double", at::kDouble},
      {"float16", at::kHalf},
      {"half", at::kHalf},
      {"bfloat16", at::kBFloat16},
      {"complex64", at::kComplexFloat},
      {"complex128", at::kComplexDouble},
      {"int64", at::kLong},
      {"long", at::kLong},
      {"int32", at::kInt},
      {"int", at::kInt},
      {"int16", at::kShort},
      {"int8", at::kChar},
      {"uint8", at::kByte},
      {"bool", at::kBool}};
  return names;
}

/// "quint8 (scale 0.1, zero point 3)", "qint8 per channel (axis 0)", "float32 (not quantized)".
std::string quantization(const at::Tensor& t) {
  std::ostringstream os;
  if (!t.is_quantized()) {
    os << dtypeName(t.scalar_type()) << " (not quantized)";
  } else if (t.qscheme() == at::kPerTensorAffine) {
    os << c10::toString(t.scalar_type()) << " (scale " << t.q_scale() << ", zero point "
       << t.q_zero_point() << ")";
  } else {
    os << c10::toString(t.scalar_type()) << " " << c10::toString(t.qscheme()) << " (axis "
       << t.q_per_channel_axis() << ")";
  }
  return os.str();
}

/// "Tensor[float32, 2x8x12x12]" for a tensor, else the IValue's tag ("Tuple", "Int").
std::string kindOf(const c10::IValue& v) {
  if (!v.isTensor()) return v.tagKind();
  const at::Tensor& t = v.toTensor();
  return "Tensor[" + dtypeName(t.scalar_type()) + ", " + shapeText(t.sizes()) + "]";
}

}  // namespace

std::string indexText(const std::vector<int64_t>& index) {
  std::string s = "[";
  for (size_t i = 0; i < index.size(); ++i) s += (i ? ", " : "") + std::to_string(index[i]);
  return s + "]";
}

std::string shapeText(c10::IntArrayRef sizes) {
  if (sizes.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? "x" : "") + std::to_string(sizes[i]);
  return s;
}

c10::ScalarType parseDtype(const std::string& name) {
  std::string known;
  for (const auto& [n, t] : dtypeNames()) {
    if (n == name) return t;
    known += (known.empty() ? "" : ", ") + n;
  }
  throw Error("unknown dtype '" + name + "' (known: " + known + ")");
}

std::string dtypeName(c10::ScalarType dtype) {
  for (const auto& [n, t] : dtypeNames()) {
    if (t == dtype) return n;
  }
  return c10::toString(dtype);
}

std::map<c10::ScalarType, Tolerance> Tolerances::defaults() {
  return {{at::kFloat, {1e-4, 1e-5}},
          {at::kDouble, {1e-7, 1e-9}},
          {at::kHalf, {1e-3, 1e-4}},
          {at::kBFloat16, {1e-2, 1e-3}}};
}

Tolerance Tolerances::of(c10::ScalarType dtype) const {
  if (dtype == at::kComplexFloat) dtype = at::kFloat;
  if (dtype == at::kComplexDouble) dtype = at::kDouble;
  auto it = perDtype.find(dtype);
  return it != perDtype.end() ? it->second : perDtype.at(at::kFloat);
}

void Tolerances::set(const std::string& text, bool isRtol) {
  const char* what = isRtol ? "rtol" : "atol";
  const Setting setting = isRtol ? Setting::kRtol : Setting::kAtol;
  size_t eq = text.find('=');
  std::string value = eq == std::string::npos ? text : text.substr(eq + 1);
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(value, &used);
    if (used != value.size() || !(v >= 0)) throw std::invalid_argument(value);
  } catch (const std::exception&) {
    throw Error(std::string("bad ") + what + " '" + text +
                    "': expected a non-negative number, optionally after DTYPE=",
                setting);
  }
  auto apply = [&](Tolerance& t) { (isRtol ? t.rtol : t.atol) = v; };
  if (eq == std::string::npos) {
    for (auto& [dtype, t] : perDtype) apply(t);
    return;
  }
  c10::ScalarType dtype = parseDtype(text.substr(0, eq));
  if (!c10::isFloatingType(dtype)) {
    throw Error(std::string("bad ") + what + " '" + text + "': " + dtypeName(dtype) +
                    " values are compared exactly",
                setting);
  }
  apply(perDtype.emplace(dtype, perDtype.at(at::kFloat)).first->second);
}

OutputDiff& OutputComparison::leaf(const std::string& method, const std::string& path,
                                   const std::string& kind) {
  auto [it, fresh] = byPath_.emplace(std::make_pair(method, path), outputs_.size());
  if (fresh) {
    OutputDiff d;
    d.method = method;
    d.path = path;
    d.kind = kind;
    outputs_.push_back(std::move(d));
  }
  return outputs_[it->second];
}

void OutputComparison::fail(OutputDiff& d, const std::string& why) {
  if (d.passed) d.mismatch = why;
  d.passed = false;
}

void OutputComparison::add(const std::string& method, int trial, const c10::IValue& expected,
                           const c10::IValue& actual) {
  compare(method, trial, expected, actual, "out");
}

void OutputComparison::addFailure(const std::string& method, int trial, const std::string& why) {
  fail(leaf(method, "out", "error"),
       "the candidate failed on trial " + std::to_string(trial) + ": " + why);
}

bool OutputComparison::passed() const {
  for (const OutputDiff& d : outputs_) {
    if (!d.passed) return false;
  }
  return true;
}

std::string OutputComparison::firstMismatch() const {
  for (const OutputDiff& d : outputs_) {
    if (!d.passed) {
      return d.path + (d.method == "forward" ? "" : " of " + d.method) + ": " + d.mismatch;
    }
  }
  return "";
}

void OutputComparison::compare(const std::string& method, int trial, const c10::IValue& e,
                               const c10::IValue& a, const std::string& path) {
  if (skipped_.count({method, path})) {
    leaf(method, path, kindOf(e)).skipped = true;
    return;
  }
  if (e.tagKind() != a.tagKind()) {
    return fail(leaf(method, path, e.tagKind()),
                "expected " + e.tagKind() + ", got " + a.tagKind());
  }
  if (e.isTensor()) {
    return compareTensors(leaf(method, path, kindOf(e)), trial, e.toTensor(), a.toTensor());
  }
  if (e.isTuple() || e.isList()) {
    std::vector<c10::IValue> ev =
        e.isTuple() ? e.toTupleRef().elements().vec() : e.toListRef().vec();
    std::vector<c10::IValue> av =
        a.isTuple() ? a.toTupleRef().elements().vec() : a.toListRef().vec();
    if (ev.size() != av.size()) {
      return fail(
          leaf(method, path, e.tagKind()),
          "expected " + std::to_string(ev.size()) + " elements, got " + std::to_string(av.size()));
    }
    for (size_t i = 0; i < ev.size(); ++i) {
      compare(method, trial, ev[i], av[i], path + "[" + std::to_string(i) + "]");
    }
    return;
  }
  if (e.isObject()) {
    // A scripted class instance: the same class, then every field.
    const auto& eo = e.toObjectRef();
    const auto& ao = a.toObjectRef();
    if (eo.type()->name() != ao.type()->name()) {
      return fail(leaf(method, path, "Object"), "expected an object of class " +
                                                    e.type()->annotation_str() + ", got " +
                                                    a.type()->annotation_str());
    }
    for (size_t i = 0; i < eo.type()->numAttributes() && i < ao.slots().size(); ++i) {
      compare(method, trial, eo.getSlot(i), ao.getSlot(i),
              path + "." + eo.type()->getAttributeName(i));
    }
    return;
  }
  if (e.isGenericDict()) {
    auto ed = e.toGenericDict(), ad = a.toGenericDict();
    for (const auto& entry : ad) {
      if (!ed.contains(entry.key())) {
        return fail(leaf(method, path, "Dict"), "unexpected key " + keyText(entry.key()));
      }
    }
    for (const auto& entry : ed) {
      std::string key = path + "[" + keyText(entry.key()) + "]";
      if (!ad.contains(entry.key())) return fail(leaf(method, path, "Dict"), "missing key " + key);
      compare(method, trial, entry.value(), ad.at(entry.key()), key);
    }
    return;
  }
  OutputDiff& d = leaf(method, path, e.tagKind());
  if (e.isDouble()) {
    double x = e.toDouble(), y = a.toDouble();
    d.tol = tol_.of(at::kDouble);
    double diff = std::abs(x - y);
    if (x == y || (std::isnan(x) && std::isnan(y))) return;
    auto here = [&] { return ErrorLocation{trial, {}, x, y}; };
    keepLargest(diff, here, d.maxAbsDiff, d.maxAbsAt);
    if (x != 0) keepLargest(diff / std::abs(x), here, d.maxRelDiff, d.maxRelAt);
    if (!(diff <= d.tol.atol + d.tol.rtol * std::abs(x))) {
      ++d.badElements;
      fail(d, "expected " + num(x) + ", got " + num(y) + " (trial " + std::to_string(trial) + ")");
    }
    return;
  }
  if (!(e == a)) {
    fail(d, "expected " + keyText(e) + ", got " + keyText(a) + " (trial " + std::to_string(trial) +
                ")");
  }
}

void OutputComparison::compareTensors(OutputDiff& d, int trial, const at::Tensor& expected,
                                      const at::Tensor& actual) {
  // Sparse and MKLDNN tensors by their dense values; quantized ones by their quantization and
  // then their dequantized values.
  auto dense = [](const at::Tensor& t) {
    return t.is_sparse() || t.is_mkldnn() ? t.to_dense() : t;
  };
  at::Tensor e = dense(expected), a = dense(actual);
  if (e.is_quantized() || a.is_quantized()) {
    if (e.is_quantized() != a.is_quantized() || e.qscheme() != a.qscheme()) {
      return fail(d,
                  "expected a tensor quantized as " + quantization(e) + ", got " + quantization(a));
    }
    const bool perTensor = e.qscheme() == at::kPerTensorAffine;
    const bool same =
        e.scalar_type() == a.scalar_type() &&
        (perTensor ? e.q_scale() == a.q_scale() && e.q_zero_point() == a.q_zero_point()
                   : e.q_per_channel_axis() == a.q_per_channel_axis() &&
                         at::equal(e.q_per_channel_scales(), a.q_per_channel_scales()) &&
                         at::equal(e.q_per_channel_zero_points(), a.q_per_channel_zero_points()));
    if (!same) {
      return fail(d,
                  "expected a tensor quantized as " + quantization(e) + ", got " + quantization(a));
    }
    e = e.dequantize();
    a = a.dequantize();
  }
  if (e.scalar_type() != a.scalar_type()) {
    return fail(
        d, "expected dtype " + dtypeName(e.scalar_type()) + ", got " + dtypeName(a.scalar_type()));
  }
  if (e.sizes() != a.sizes()) {
    // Compared by shape first: values of tensors of different sizes cannot be matched up.
    std::string why = "expected shape " + shapeText(e.sizes()) + ", got " + shapeText(a.sizes());
    if (e.dim() == a.dim() && e.dim() > 0 && e.sizes().slice(1) == a.sizes().slice(1)) {
      why += " in trial " + std::to_string(trial) + ": " + std::to_string(a.size(0)) +
             " rows where the reference has " + std::to_string(e.size(0)) +
             " (a variable-size output, such as detections above a score threshold; its values "
             "were not compared)";
    }
    return fail(d, why);
  }
  if (e.numel() == 0) return;
  at::Tensor ec = e.detach().cpu(), ac = a.detach().cpu();
  if (ec.is_complex()) {
    ec = at::view_as_real(ec.resolve_conj());
    ac = at::view_as_real(ac.resolve_conj());
  }
  const bool floating = ec.is_floating_point();
  d.tol = floating ? tol_.of(e.scalar_type()) : Tolerance{0, 0};
  at::Tensor ed = ec.to(at::kDouble).contiguous(), ad = ac.to(at::kDouble).contiguous();
  at::Tensor same = floating ? at::eq(ed, ad).logical_or_(at::isnan(ed).logical_and_(at::isnan(ad)))
                             : at::eq(ec, ac);  // exact, even beyond double's 53 bits
  // diff is NaN where exactly one side is NaN or the infinities differ.
  at::Tensor diff = (ed - ad).abs_().masked_fill_(same, 0);
  at::Tensor finiteDiff = diff.masked_fill(at::isfinite(diff).logical_not_(), 0);
  at::Tensor absE = ed.abs();
  at::Tensor ref = absE;
  if (tol_.relToMax) {
    ref = absE.masked_fill(at::isfinite(absE).logical_not_(), 0).max();
  }
  // Outside the tolerance, or a non-finite difference (a NaN on one side, unequal infinities);
  // integers must be equal (their double difference may round to zero).
  at::Tensor bad = floating ? (diff <= (ref * d.tol.rtol + d.tol.atol))
                                  .logical_and_(at::isfinite(diff))
                                  .logical_or_(same)
                                  .logical_not_()
                            : same.logical_not();

  auto location = [&](int64_t flat) {
    return ErrorLocation{trial, unravel(flat, ec.sizes()), ed.view(-1)[flat].item<double>(),
                         ad.view(-1)[flat].item<double>()};
  };
  // The largest element of `errors` (finite, same shape as the output), and where it is.
  auto largest = [&](const at::Tensor& errors, double& max, std::optional<ErrorLocation>& at) {
    at::Tensor flat = errors.view(-1);
    int64_t i = flat.argmax().item<int64_t>();
    double value = flat[i].item<double>();
    keepLargest(
        value, [&] { return location(i); }, max, at);
    return value;
  };
  double maxAbs = largest(finiteDiff, d.maxAbsDiff, d.maxAbsAt);
  // Relative error: against the largest |expected| with relToMax, else elementwise where the
  // expected value is not zero (an error at an expected zero is an absolute one).
  at::Tensor rel = tol_.relToMax ? finiteDiff / ref.clamp_min(1e-300)
                                 : (finiteDiff / absE).masked_fill_(absE == 0, 0);
  largest(rel.masked_fill_(at::isfinite(rel).logical_not_(), 0), d.maxRelDiff, d.maxRelAt);

  int64_t nBad = bad.sum().item<int64_t>();
  if (nBad == 0) return;
  d.badElements += nBad;
  ErrorLocation first = location(bad.view(-1).nonzero()[0][0].item<int64_t>());
  std::string rule = floating ? "outside rtol " + num(d.tol.rtol) + ", atol " + num(d.tol.atol) +
                                    (tol_.relToMax ? " (relative to the largest value)" : "")
                              : "different";
  std::string hint;
  if (floating && !tol_.relToMax && at::isfinite(diff).all().item<bool>()) {
    double largest = absE.max().item<double>();
    if (maxAbs <= d.tol.atol + d.tol.rtol * largest) {
      hint = " (within rtol of the largest |expected|, " + num(largest) +
             ": accumulated rounding? tolerances relative to the largest value accept this)";
    }
  }
  fail(d, std::to_string(nBad) + " of " + std::to_string(ec.numel()) + " elements " + rule +
              " in trial " + std::to_string(trial) + "; first at " + indexText(first.index) +
              ": expected " + num(first.expected) + ", got " + num(first.actual) +
              "; max abs diff " + num(maxAbs) + hint);
}

Comparison compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                          const Tolerance& tol) {
  Tolerances all;
  for (auto& [dtype, t] : all.perDtype) t = tol;
  OutputComparison c(all);
  c.add("forward", 0, expected, actual);
  Comparison r;
  r.equal = c.passed();
  r.mismatch = c.firstMismatch();
  for (const OutputDiff& d : c.outputs()) {
    r.maxAbsDiff = std::max(r.maxAbsDiff, d.maxAbsDiff);
    r.maxRelDiff = std::max(r.maxRelDiff, d.maxRelDiff);
  }
  return r;
}

}  // namespace tsopt
