// Output comparison: structures, dtypes, shapes, tolerances per dtype, --rel-to-max, NaN and
// infinities, and where the largest errors are.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "passes/core/error.h"
#include "tests/test_paths.h"
#include "verify/compare.h"

namespace tsopt {
namespace {

c10::IValue tuple(std::vector<c10::IValue> items) {
  return c10::ivalue::Tuple::create(std::move(items));
}

OutputComparison compared(const c10::IValue& e, const c10::IValue& a, Tolerances tol = {}) {
  OutputComparison c(std::move(tol));
  c.add("forward", 0, e, a);
  return c;
}

TEST(Compare, NestedStructuresAreComparedLeafByLeafWithPaths) {
  at::Tensor t = torch::arange(6, torch::kFloat).reshape({2, 3});
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("mean", t.mean());
  c10::List<at::Tensor> list({t, t + 1});
  c10::IValue out = tuple({t, list, dict, c10::IValue(), int64_t{3}, 2.5, std::string("s")});
  OutputComparison c = compared(out, out);
  EXPECT_TRUE(c.passed());
  std::vector<std::string> paths;
  for (const OutputDiff& d : c.outputs()) paths.push_back(d.path + " " + d.kind);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "out[0] Tensor[float32, 2x3]", "out[1][0] Tensor[float32, 2x3]",
                       "out[1][1] Tensor[float32, 2x3]", "out[2]['mean'] Tensor[float32, scalar]",
                       "out[3] None", "out[4] Int", "out[5] Double", "out[6] String"}));
}

TEST(Compare, EveryKindOfStructuralDifferenceIsAMismatch) {
  at::Tensor t = torch::ones({2, 3});
  c10::Dict<std::string, at::Tensor> d1, d2;
  d1.insert("a", t);
  d2.insert("b", t);
  struct Case {
    c10::IValue expected, actual;
    std::string mismatch;
  };
  std::vector<Case> cases = {
      {tuple({t, t}), tuple({t}), "out: expected 2 elements, got 1"},
      {tuple({t}), t, "out: expected Tuple, got Tensor"},
      {t, t.to(torch::kDouble), "out: expected dtype float32, got float64"},
      {t, torch::ones({3, 2}), "out: expected shape 2x3, got 3x2"},
      {d1, d2, "out: unexpected key 'b'"},
      {int64_t{3}, int64_t{4}, "out: expected 3, got 4 (trial 0)"},
      {c10::IValue(), t, "out: expected None, got Tensor"},
      {std::string("a"), std::string("b"), "out: expected 'a', got 'b' (trial 0)"},
  };
  for (const Case& c : cases) {
    OutputComparison r = compared(c.expected, c.actual);
    EXPECT_FALSE(r.passed()) << c.mismatch;
    EXPECT_EQ(r.firstMismatch(), c.mismatch);
  }
}

TEST(Compare, ReportsTheLargestErrorsAndWhereTheyAreAcrossTrials) {
  at::Tensor e = torch::ones({2, 3, 4});
  at::Tensor a1 = e.clone(), a2 = e.clone();
  a1.index_put_({0, 1, 2}, 1.5);  // trial 0: abs 0.5
  a2.index_put_({1, 2, 3}, 3.0);  // trial 1: abs 2, the largest
  OutputComparison c(Tolerances{});
  c.add("forward", 0, e, a1);
  c.add("forward", 1, e, a2);
  ASSERT_EQ(c.outputs().size(), 1u);
  const OutputDiff& d = c.outputs()[0];
  EXPECT_FALSE(d.passed);
  EXPECT_DOUBLE_EQ(d.maxAbsDiff, 2.0);
  ASSERT_TRUE(d.maxAbsAt);
  EXPECT_EQ(d.maxAbsAt->trial, 1);
  EXPECT_EQ(d.maxAbsAt->index, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(d.maxAbsAt->expected, 1.0);
  EXPECT_DOUBLE_EQ(d.maxAbsAt->actual, 3.0);
  EXPECT_DOUBLE_EQ(d.maxRelDiff, 2.0);
  EXPECT_EQ(d.badElements, 2);
  // The message describes the first trial that failed.
  EXPECT_EQ(d.mismatch,
            "1 of 24 elements outside rtol 0.0001, atol 1e-05 in trial 0; first at [0, 1, 2]: "
            "expected 1, got 1.5; max abs diff 0.5");
}

TEST(Compare, ToleranceBoundaryIsInclusive) {
  Tolerances tol;
  tol.perDtype[at::kDouble] = {0.1, 0.5};
  at::Tensor e = torch::full({1}, 10.0, torch::kDouble);
  // allowed: 0.5 + 0.1 * 10 = 1.5
  EXPECT_TRUE(compared(e, e + 1.5, tol).passed());
  EXPECT_FALSE(compared(e, e + 1.5001, tol).passed());
}

TEST(Compare, TolerancesArePerDtype) {
  Tolerances tol;
  at::Tensor e = torch::ones({4});
  // A 5e-4 error: too much for float32 (1e-4), fine for float16 (1e-3).
  EXPECT_FALSE(compared(e, e + 5e-4, tol).passed());
  at::Tensor h = e.to(torch::kHalf);
  EXPECT_TRUE(compared(h, (e + 5e-4).to(torch::kHalf), tol).passed());
  tol.set("float32=1e-3", true);
  EXPECT_TRUE(compared(e, e + 5e-4, tol).passed());
  EXPECT_DOUBLE_EQ(tol.of(at::kDouble).rtol, 1e-7);  // untouched
  tol.set("0.5", false);
  EXPECT_DOUBLE_EQ(tol.of(at::kDouble).atol, 0.5);
  EXPECT_DOUBLE_EQ(tol.of(at::kHalf).atol, 0.5);
}

TEST(Compare, BadToleranceTextIsAnError) {
  Tolerances tol;
  EXPECT_THROW(tol.set("abc", true), Error);
  EXPECT_THROW(tol.set("-1", true), Error);
  EXPECT_THROW(tol.set("float33=1", true), Error);
  try {
    tol.set("int64=1", false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "bad atol 'int64=1': int64 values are compared exactly");
    EXPECT_EQ(e.setting(), Setting::kAtol);
  }
}

TEST(Compare, RelToMaxJudgesErrorsAgainstTheLargestValue) {
  at::Tensor e = torch::tensor({1000.0f, 1e-3f, -2e-3f});
  at::Tensor a = e + torch::tensor({0.0f, 0.02f, 0.03f});  // large next to tiny values
  Tolerances tol;
  OutputComparison elementwise = compared(e, a, tol);
  ASSERT_FALSE(elementwise.passed());
  EXPECT_NE(
      elementwise.firstMismatch().find("tolerances relative to the largest value accept this"),
      std::string::npos)
      << elementwise.firstMismatch();
  tol.relToMax = true;
  OutputComparison r = compared(e, a, tol);
  EXPECT_TRUE(r.passed()) << r.firstMismatch();
  EXPECT_NEAR(r.outputs()[0].maxRelDiff, 0.03 / 1000, 1e-9);
  // An error that is large even against the largest value still fails.
  EXPECT_FALSE(compared(e, e + torch::tensor({0.0f, 1.0f, 0.0f}), tol).passed());
}

TEST(Compare, NanAndInfinityMustMatchExactly) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  at::Tensor e = torch::tensor({1.0f, nan, inf, -inf});
  EXPECT_TRUE(compared(e, e.clone()).passed());
  OutputComparison oneNan = compared(e, torch::tensor({1.0f, 2.0f, inf, -inf}));
  EXPECT_FALSE(oneNan.passed());
  EXPECT_NE(oneNan.firstMismatch().find("first at [1]"), std::string::npos)
      << oneNan.firstMismatch();
  EXPECT_FALSE(compared(e, torch::tensor({1.0f, nan, -inf, -inf})).passed());
  EXPECT_FALSE(compared(torch::tensor({1.0f}), torch::tensor({nan})).passed());
}

TEST(Compare, IntegersAndBoolsAreExactEvenBeyondDoublePrecision) {
  int64_t big = (int64_t{1} << 53);
  at::Tensor e = torch::tensor({big, int64_t{1}});
  EXPECT_FALSE(compared(e, torch::tensor({big + 1, int64_t{1}})).passed());
  EXPECT_TRUE(compared(e, e.clone()).passed());
  at::Tensor b = torch::tensor({true, false});
  OutputComparison r = compared(b, torch::tensor({true, true}));
  EXPECT_EQ(r.firstMismatch(),
            "out: 1 of 2 elements different in trial 0; first at [1]: expected 0, got 1; "
            "max abs diff 1");
}

TEST(Compare, ScalarsUseTheFloat64Tolerance) {
  EXPECT_TRUE(compared(1.0, 1.0 + 1e-10).passed());
  EXPECT_FALSE(compared(1.0, 1.0 + 1e-5).passed());
}

TEST(Compare, VariableSizeOutputsAreComparedByShapeFirst) {
  // Detections: as many rows as boxes above the threshold. Rows are not matched up by value.
  OutputComparison c(Tolerances{});
  c10::impl::GenericDict e(c10::StringType::get(), c10::TensorType::get());
  c10::impl::GenericDict a(c10::StringType::get(), c10::TensorType::get());
  e.insert("boxes", torch::zeros({5, 4}));
  a.insert("boxes", torch::zeros({7, 4}));
  c.add("forward", 2, e, a);
  EXPECT_EQ(c.firstMismatch(),
            "out['boxes']: expected shape 5x4, got 7x4 in trial 2: 7 rows where the reference has "
            "5 (a variable-size output, such as detections above a score threshold; its values "
            "were not compared)");
  // Any other difference of shape is named as it is.
  OutputComparison other(Tolerances{});
  other.add("forward", 0, torch::zeros({5, 4}), torch::zeros({5, 3}));
  EXPECT_EQ(other.firstMismatch(), "out: expected shape 5x4, got 5x3");
}

TEST(Compare, QuantizedSparseAndMkldnnTensorsAreComparedByWhatTheyHold) {
  at::Tensor x = torch::tensor({0.5f, -1.0f, 2.0f});
  at::Tensor q = at::quantize_per_tensor(x, 0.1, 3, at::kQUInt8);
  // The same quantized tensor equals itself (LibTorch's own equality refuses quantized ones).
  EXPECT_TRUE(compareOutputs(q, q.clone(), Tolerance{}).equal);
  Comparison other = compareOutputs(q, at::quantize_per_tensor(x, 0.2, 3, at::kQUInt8), {});
  EXPECT_FALSE(other.equal);
  EXPECT_EQ(other.mismatch,
            "out: expected a tensor quantized as QUInt8 (scale 0.1, zero point 3), got QUInt8 "
            "(scale 0.2, zero point 3)");
  Comparison values = compareOutputs(q, at::quantize_per_tensor(x + 1, 0.1, 3, at::kQUInt8), {});
  EXPECT_FALSE(values.equal);
  EXPECT_NE(values.mismatch.find("3 of 3 elements outside"), std::string::npos) << values.mismatch;
  EXPECT_EQ(compareOutputs(q, x, {}).mismatch,
            "out: expected a tensor quantized as QUInt8 (scale 0.1, zero point 3), got float32 "
            "(not quantized)");
  at::Tensor dense = torch::tensor({{0.0f, 1.5f}, {2.0f, 0.0f}});
  EXPECT_TRUE(compareOutputs(dense.to_sparse(), dense.to_sparse(), {}).equal);
  EXPECT_FALSE(compareOutputs(dense.to_sparse(), (dense * 2).to_sparse(), {}).equal);
  EXPECT_TRUE(compareOutputs(dense.to_mkldnn(), dense.to_mkldnn(), {}).equal);
}

TEST(Compare, ObjectsAreComparedFieldByField) {
  // forward(x, n) returns Pair(x * 2, n), an instance of a scripted class.
  torch::jit::Module m = torch::jit::load(TSOPT_FIXTURE_DIR "/returns_object.pt");
  at::Tensor x = torch::ones({2});
  auto run = [&](at::Tensor in, int64_t n) { return m.forward({in, n}); };
  EXPECT_TRUE(compareOutputs(run(x, 1), run(x.clone(), 1), {}).equal);
  EXPECT_EQ(compareOutputs(run(x, 1), run(x, 2), {}).mismatch,
            "out.n: expected 1, got 2 (trial 0)");
  EXPECT_EQ(
      compareOutputs(run(x, 1), run(x * 3, 1), {}).mismatch.rfind("out.a: 2 of 2 elements", 0), 0u);
}

TEST(Compare, ACandidateFailureIsAMismatch) {
  OutputComparison c(Tolerances{});
  c.add("forward", 0, torch::ones({1}), torch::ones({1}));
  c.addFailure("encode", 1, "boom");
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(c.firstMismatch(), "out of encode: the candidate failed on trial 1: boom");
}

TEST(Compare, DtypeNames) {
  EXPECT_EQ(parseDtype("float"), at::kFloat);
  EXPECT_EQ(parseDtype("int64"), at::kLong);
  EXPECT_EQ(dtypeName(at::kBFloat16), "bfloat16");
  EXPECT_THROW(parseDtype("f32"), Error);
  EXPECT_EQ(shapeText({}), "scalar");
  EXPECT_EQ(shapeText({1, 3, 224, 224}), "1x3x224x224");
}

}  // namespace
}  // namespace tsopt
