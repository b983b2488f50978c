// Structure-aware output comparison with per-dtype tolerances and error locations.
#include "verify/compare.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>
#include <limits>
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

int64_t discreteAllowance(int64_t elements) { return std::max<int64_t>(1, elements / 100); }

namespace {

/// Discrete outputs of at most this many rows are matched row by row when their order differs.
constexpr int64_t kMaxMatchedRows = 4096;

/// How many rows of `candidate` match no row of `reference` (within `limit`, elementwise), each
/// reference row matched once: what is left of rows that only came in another order.
int64_t unmatchedRows(const at::Tensor& reference, const at::Tensor& candidate,
                      const at::Tensor& limit) {
  const int64_t rows = reference.size(0);
  std::vector<bool> used(rows, false);
  int64_t unmatched = 0;
  for (int64_t i = 0; i < rows; ++i) {
    at::Tensor fits = ((reference - candidate[i]).abs() <= limit).all(1).contiguous();
    const bool* f = fits.data_ptr<bool>();
    int64_t j = 0;
    while (j < rows && (used[j] || !f[j])) ++j;
    j < rows ? used[j] = true : ++unmatched;
  }
  return unmatched;
}

}  // namespace

void OutputComparison::add(const std::string& method, int trial, const c10::IValue& expected,
                           const c10::IValue& actual, const c10::IValue* exact,
                           const std::string& exactNote) {
  compare(method, trial, expected, actual, Exact{exact, exactNote}, "out");
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

std::string OutputComparison::discreteAt(const std::string& method, const std::string& path) const {
  for (const auto& [where, why] : discrete_) {
    const std::string& p = where.second;
    if (where.first == method && path.compare(0, p.size(), p) == 0 &&
        (path.size() == p.size() || path[p.size()] == '[' || path[p.size()] == '.')) {
      return why;
    }
  }
  return "";
}

void OutputComparison::compare(const std::string& method, int trial, const c10::IValue& e,
                               const c10::IValue& a, const Exact& x, const std::string& path) {
  if (skipped_.count({method, path})) {
    leaf(method, path, kindOf(e)).skipped = true;
    return;
  }
  if (e.tagKind() != a.tagKind()) {
    return fail(leaf(method, path, e.tagKind()),
                "expected " + e.tagKind() + ", got " + a.tagKind());
  }
  // The float64 answer for a child of this container: `held` keeps the values it points to.
  std::vector<c10::IValue> held;
  const bool sameShape = x.value && x.value->tagKind() == e.tagKind();
  auto child = [&](const std::function<std::optional<c10::IValue>()>& find) {
    std::optional<c10::IValue> v = sameShape ? find() : std::nullopt;
    if (!v) {
      return Exact{nullptr,
                   x.value ? "the float64 run's output has another structure here" : x.note};
    }
    held.push_back(std::move(*v));
    return Exact{&held.back(), ""};
  };
  if (e.isTensor()) {
    OutputDiff& d = leaf(method, path, kindOf(e));
    if (d.discrete.empty()) d.discrete = discreteAt(method, path);
    return compareTensors(d, trial, e.toTensor(), a.toTensor(), x);
  }
  if (e.isTuple() || e.isList()) {
    auto items = [](const c10::IValue& v) {
      return v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    };
    std::vector<c10::IValue> ev = items(e), av = items(a);
    std::vector<c10::IValue> xv = sameShape ? items(*x.value) : std::vector<c10::IValue>{};
    if (ev.size() != av.size()) {
      return fail(
          leaf(method, path, e.tagKind()),
          "expected " + std::to_string(ev.size()) + " elements, got " + std::to_string(av.size()));
    }
    held.reserve(ev.size());
    for (size_t i = 0; i < ev.size(); ++i) {
      Exact xi = child([&]() -> std::optional<c10::IValue> {
        if (xv.size() == ev.size()) return xv[i];
        return std::nullopt;
      });
      compare(method, trial, ev[i], av[i], xi, path + "[" + std::to_string(i) + "]");
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
    held.reserve(eo.slots().size());
    for (size_t i = 0; i < eo.type()->numAttributes() && i < ao.slots().size(); ++i) {
      Exact xi = child([&]() -> std::optional<c10::IValue> {
        const auto& xo = x.value->toObjectRef();
        if (i < xo.slots().size()) return xo.getSlot(i);
        return std::nullopt;
      });
      compare(method, trial, eo.getSlot(i), ao.getSlot(i), xi,
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
    held.reserve(ed.size());
    for (const auto& entry : ed) {
      std::string key = path + "[" + keyText(entry.key()) + "]";
      if (!ad.contains(entry.key())) return fail(leaf(method, path, "Dict"), "missing key " + key);
      Exact xi = child([&]() -> std::optional<c10::IValue> {
        auto xd = x.value->toGenericDict();
        if (xd.contains(entry.key())) return xd.at(entry.key());
        return std::nullopt;
      });
      compare(method, trial, entry.value(), ad.at(entry.key()), xi, key);
    }
    return;
  }
  OutputDiff& d = leaf(method, path, e.tagKind());
  if (e.isDouble()) {
    const double r = e.toDouble(), c = a.toDouble();  // the reference's and the candidate's
    d.tol = tol_.of(at::kDouble);
    d.rule = "tolerance";
    d.ruleNote = "a Python float";
    double diff = std::abs(r - c);
    if (r == c || (std::isnan(r) && std::isnan(c))) return;
    auto here = [&] { return ErrorLocation{trial, {}, r, c}; };
    keepLargest(diff, here, d.maxAbsDiff, d.maxAbsAt);
    if (r != 0) keepLargest(diff / std::abs(r), here, d.maxRelDiff, d.maxRelAt);
    d.errorRatio = std::max(d.errorRatio, diff / (d.tol.atol + d.tol.rtol * std::abs(r)));
    if (!(diff <= d.tol.atol + d.tol.rtol * std::abs(r))) {
      ++d.badElements;
      fail(d, "expected " + num(r) + ", got " + num(c) + " (trial " + std::to_string(trial) + ")");
    }
    return;
  }
  d.rule = "exact";
  if (!(e == a)) {
    fail(d, "expected " + keyText(e) + ", got " + keyText(a) + " (trial " + std::to_string(trial) +
                ")");
  }
}

namespace {

/// Sparse and MKLDNN tensors as dense ones.
at::Tensor dense(const at::Tensor& t) { return t.is_sparse() || t.is_mkldnn() ? t.to_dense() : t; }

/// The float64 answer to hold a float32 output `e` against (as a contiguous CPU double tensor),
/// or an undefined tensor with `why` said.
at::Tensor float64Answer(const at::Tensor& e, const c10::IValue* x, const Float64Rule& rule,
                         std::string& why) {
  if (!rule.enabled) {
    why = "tolerances were given";
  } else if (e.scalar_type() != at::kFloat) {
    why = "float64 answers are kept for float32 outputs, this one is " + dtypeName(e.scalar_type());
  } else if (!x) {
    if (why.empty()) why = "no float64 run";
  } else if (!x->isTensor()) {
    why = "the float64 run gives " + x->tagKind() + " here";
  } else {
    at::Tensor t = dense(x->toTensor());
    if (t.is_quantized() || t.scalar_type() != at::kDouble) {
      why = "the float64 run computes this output in " + dtypeName(t.scalar_type()) +
            " (a cast on the way)";
    } else if (t.sizes() != e.sizes()) {
      why = "the float64 run gives shape " + shapeText(t.sizes()) + " here";
    } else {
      return t.detach().cpu().contiguous();
    }
  }
  return {};
}

}  // namespace

void OutputComparison::compareTensors(OutputDiff& d, int trial, const at::Tensor& expected,
                                      const at::Tensor& actual, const Exact& x) {
  // Quantized tensors are compared by their quantization and then their dequantized values.
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
  const bool floating = e.is_floating_point() || e.is_complex();
  if (e.numel() == 0) {
    if (d.rule.empty()) d.rule = floating ? "tolerance" : "exact";
    return;
  }
  at::Tensor ec = e.detach().cpu(), ac = a.detach().cpu();
  if (ec.is_complex()) {
    ec = at::view_as_real(ec.resolve_conj());
    ac = at::view_as_real(ac.resolve_conj());
  }
  d.tol = floating ? tol_.of(e.scalar_type()) : Tolerance{0, 0};
  at::Tensor ed = ec.to(at::kDouble).contiguous(), ad = ac.to(at::kDouble).contiguous();
  at::Tensor same = floating ? at::eq(ed, ad).logical_or_(at::isnan(ed).logical_and_(at::isnan(ad)))
                             : at::eq(ec, ac);  // exact, even beyond double's 53 bits
  // diff is NaN where exactly one side is NaN or the infinities differ.
  at::Tensor diff = (ed - ad).abs_().masked_fill_(same, 0);
  at::Tensor finiteDiff = diff.masked_fill(at::isfinite(diff).logical_not_(), 0);
  at::Tensor absE = ed.abs();

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
  at::Tensor ref = absE;
  if (tol_.relToMax) ref = absE.masked_fill(at::isfinite(absE).logical_not_(), 0).max();
  at::Tensor rel = tol_.relToMax ? finiteDiff / ref.clamp_min(1e-300)
                                 : (finiteDiff / absE).masked_fill_(absE == 0, 0);
  largest(rel.masked_fill_(at::isfinite(rel).logical_not_(), 0), d.maxRelDiff, d.maxRelAt);

  // The rule for this trial: the float64 answer where there is a trustworthy one.
  std::string note = x.note;
  at::Tensor answer =
      floating && !ec.is_complex() ? float64Answer(e, x.value, tol_.float64, note) : at::Tensor();
  at::Tensor bad;
  double referenceError = 0, magnitude = 0, bound = 0;
  if (answer.defined()) {
    at::Tensor finite = at::isfinite(ed).logical_and_(at::isfinite(answer));
    at::Tensor notFinite = finite.logical_not();
    referenceError = (ed - answer).abs_().masked_fill_(notFinite, 0).max().item<double>();
    magnitude = answer.abs().masked_fill_(notFinite, 0).max().item<double>();
    if (referenceError > tol_.float64.plausible * magnitude) {
      note = "the float32 and float64 runs of the reference disagree beyond rounding here (by " +
             num(referenceError) + " on values up to " + num(magnitude) + ")";
      answer = at::Tensor();
    } else {
      bound = tol_.float64.factor * referenceError +
              tol_.float64.ulps * std::numeric_limits<float>::epsilon() * magnitude +
              std::numeric_limits<float>::min();
      at::Tensor error = (ad - answer).abs_();
      // Where the reference is not finite, the candidate must be what the reference is.
      bad = at::where(finite, error <= bound, same).logical_not_();
      double exactError = error.masked_fill_(at::isfinite(error).logical_not_(), 0)
                              .masked_fill_(notFinite, 0)
                              .max()
                              .item<double>();
      d.referenceError = std::max(d.referenceError, referenceError);
      d.exactError = std::max(d.exactError, exactError);
      d.bound = std::max(d.bound, bound);
      d.errorRatio = std::max(d.errorRatio, exactError / bound);
    }
  }
  const std::string rule = !floating ? "exact" : answer.defined() ? "float64" : "tolerance";
  // A leaf is held to the float64 answer only if every trial was; the first that was not says
  // why.
  if (d.rule.empty() || (rule == "tolerance" && d.rule != "tolerance")) {
    d.rule = rule;
    d.ruleNote = rule == "tolerance" ? note : "";
  }
  if (!answer.defined() && floating) {
    // Outside the tolerance, or a non-finite difference (a NaN on one side, unequal
    // infinities).
    at::Tensor allowed = ref * d.tol.rtol + d.tol.atol;
    bad = (diff <= allowed).logical_and_(at::isfinite(diff)).logical_or_(same).logical_not_();
    at::Tensor ratio = finiteDiff / allowed.clamp_min(1e-300);
    d.errorRatio = std::max(d.errorRatio, ratio.max().item<double>());
  } else if (!floating) {
    bad = same.logical_not();  // integers must be equal (their double difference may round to 0)
  }

  int64_t nBad = bad.sum().item<int64_t>();
  if (nBad == 0) return;
  const int64_t numel = ec.numel();
  if (!d.discrete.empty()) {
    double agreement = 1.0 - static_cast<double>(nBad) / numel;
    if (nBad > discreteAllowance(numel) && ec.dim() >= 1 && ec.size(0) > 1 &&
        ec.size(0) <= kMaxMatchedRows) {
      // Rows that came in another order, each within the same rule of a reference row.
      const int64_t rows = ec.size(0);
      at::Tensor reference = (answer.defined() ? answer : ed).reshape({rows, -1});
      at::Tensor limit = answer.defined() ? at::full_like(reference, bound)
                         : floating       ? reference.abs() * d.tol.rtol + d.tol.atol
                                          : at::zeros_like(reference);
      const int64_t unmatched = unmatchedRows(reference, ad.reshape({rows, -1}), limit);
      const double rowAgreement = 1.0 - static_cast<double>(unmatched) / rows;
      if (unmatched <= discreteAllowance(rows)) {
        d.reordered = true;
        d.agreement = std::min(d.agreement, rowAgreement);
        return;
      }
      agreement = std::max(agreement, rowAgreement);
    }
    d.agreement = std::min(d.agreement, agreement);
    if (nBad <= discreteAllowance(numel)) return;
  }
  d.badElements += nBad;
  const int64_t flat = bad.view(-1).nonzero()[0][0].item<int64_t>();
  ErrorLocation first = location(flat);
  std::string what;
  if (rule == "float64") {
    what = std::to_string(nBad) + " of " + std::to_string(numel) +
           " elements off the float64 answer by more than " + num(bound) + " (" +
           num(tol_.float64.factor) + " x the reference's own error " + num(referenceError) +
           " + " + num(tol_.float64.ulps) + " ulps of its largest value " + num(magnitude) +
           ") in trial " + std::to_string(trial) + "; first at " + indexText(first.index) +
           ": float64 " + num(answer.view(-1)[flat].item<double>()) + ", reference " +
           num(first.expected) + ", got " + num(first.actual);
  } else {
    std::string hint;
    if (floating && !tol_.relToMax && at::isfinite(diff).all().item<bool>()) {
      double largestE = absE.max().item<double>();
      if (maxAbs <= d.tol.atol + d.tol.rtol * largestE) {
        hint = " (within rtol of the largest |expected|, " + num(largestE) +
               ": accumulated rounding? tolerances relative to the largest value accept this)";
      }
    }
    what = std::to_string(nBad) + " of " + std::to_string(numel) + " elements " +
           (floating ? "outside rtol " + num(d.tol.rtol) + ", atol " + num(d.tol.atol) +
                           (tol_.relToMax ? " (relative to the largest value)" : "")
                     : "different") +
           " in trial " + std::to_string(trial) + "; first at " + indexText(first.index) +
           ": expected " + num(first.expected) + ", got " + num(first.actual) + "; max abs diff " +
           num(maxAbs) + hint;
  }
  if (!d.discrete.empty()) {
    what += "; a discrete output (from " + d.discrete + ") may differ in " +
            std::to_string(discreteAllowance(numel)) + " of its elements";
  }
  fail(d, what);
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
