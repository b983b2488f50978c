// backport: each LibTorch 2.x operator call becomes operators LibTorch 1.13 has (the IR, with
// FileCheck), constant flags fold away, and the numbers are those of a float64 computation within
// a bound derived from the float32 arithmetic; on a 2.x build the original operator is held to
// the same bound, and squeeze.dims, which only moves sizes, must match it exactly. Both lines
// parse the graphs: the IR parser needs no schema, and the pass matches 1.13's schema-less nodes
// by name.
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <cmath>
#include <limits>

#include "passes/builtin/builtin.h"
#include "passes/core/torch_compat.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using torch::jit::testing::FileCheck;

const double kEps = std::numeric_limits<float>::epsilon();
const bool kNewLine = compat::libtorchVersion() != compat::oldLine();

std::shared_ptr<torch::jit::Graph> parse(const std::string& ir) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, g.get());
  return g;
}

at::Tensor run(const std::shared_ptr<torch::jit::Graph>& g, std::vector<c10::IValue> inputs) {
  torch::jit::GraphFunction fn("g", g->copy(), nullptr);
  torch::jit::Stack stack(inputs.begin(), inputs.end());
  fn.run(stack);
  return stack.back().toTensor();
}

/// Backports a copy of `g`, checks it lints, and returns it.
std::shared_ptr<torch::jit::Graph> backported(const std::shared_ptr<torch::jit::Graph>& g,
                                              Statistics* stats) {
  auto copy = g->copy();
  EXPECT_TRUE(backportOperators(copy, stats));
  copy->lint();
  return copy;
}

const char* kTracedAttention = R"IR(
graph(%q : Tensor, %k : Tensor, %v : Tensor, %scale : float):
  %none : NoneType = prim::Constant()
  %zero : float = prim::Constant[value=0.]()
  %false : bool = prim::Constant[value=0]()
  %y : Tensor = aten::scaled_dot_product_attention(%q, %k, %v, %none, %zero, %false, %scale, %false)
  return (%y)
)IR";

/// The largest |got - exact|, in float64.
double maxError(const at::Tensor& got, const at::Tensor& exact) {
  return (got.to(at::kDouble) - exact).abs().max().item<double>();
}

/// softmax(scale q k^T + mask) v in float64, a row that the mask hides entirely giving 0.
at::Tensor attentionInDouble(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             double scale, const c10::optional<at::Tensor>& keep) {
  at::Tensor s = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-2, -1)) * scale;
  if (keep) s = s.masked_fill(keep->logical_not(), -INFINITY);
  at::Tensor w = at::softmax(s, -1);
  if (keep) w = w.masked_fill(keep->logical_not().all(-1, true), 0.0);
  return at::matmul(w, v.to(at::kDouble));
}

/// The float32 error bound of attention: the scores of E products carry at most
/// (E + 1) eps A (A = the largest scale |q| |k|^T), a softmax moves by at most twice that plus
/// (S + 4) eps, and the S-term sum of weights (summing to 1) times v adds S eps max |v|.
double attentionBound(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const double e = q.size(-1), s = k.size(-2);
  const double a =
      (at::matmul(q.abs().to(at::kDouble), k.abs().to(at::kDouble).transpose(-2, -1)) * scale)
          .max()
          .item<double>();
  return v.abs().max().item<double>() * (2 * (e + 1) * kEps * a + (2 * s + 4) * kEps);
}

TEST(Backport, AttentionWithConstantFlagsBecomesStraightLineMatmulSoftmax) {
  auto g = parse(kTracedAttention);
  Statistics stats;
  auto b = backported(g, &stats);
  EXPECT_EQ(stats.get("backported.aten::scaled_dot_product_attention"), 1);
  FileCheck()
      .check_not("scaled_dot_product_attention")
      ->check("aten::transpose")
      ->check("aten::matmul")
      ->check("aten::softmax")
      ->check("aten::matmul")
      ->check_not("prim::If")
      ->run(*b);

  torch::manual_seed(0);
  at::Tensor q = torch::randn({2, 3, 4, 8}), k = torch::randn({2, 3, 5, 8}),
             v = torch::randn({2, 3, 5, 6});
  for (double scale : {1 / std::sqrt(8.0), 0.3}) {
    SCOPED_TRACE(scale);
    at::Tensor exact = attentionInDouble(q, k, v, scale, c10::nullopt);
    const double bound = attentionBound(q, k, v, scale);
    at::Tensor got = run(b, {q, k, v, scale});
    EXPECT_LE(maxError(got, exact), bound);
    if (kNewLine) {
      at::Tensor kernel = run(g, {q, k, v, scale});
      EXPECT_LE(maxError(kernel, exact), bound);
    }
  }
}

TEST(Backport, TheDefaultScaleIsOneOverTheSquareRootOfTheHeadSize) {
  auto g = parse(R"IR(
graph(%q : Tensor, %k : Tensor, %v : Tensor):
  %none : NoneType = prim::Constant()
  %zero : float = prim::Constant[value=0.]()
  %false : bool = prim::Constant[value=0]()
  %y : Tensor = aten::scaled_dot_product_attention(%q, %k, %v, %none, %zero, %false, %none, %false)
  return (%y)
)IR");
  auto b = backported(g, nullptr);
  FileCheck().check("aten::size")->check("aten::pow")->check_not("prim::If")->run(*b);
  torch::manual_seed(1);
  at::Tensor q = torch::randn({1, 2, 3, 16}), k = torch::randn({1, 2, 7, 16}),
             v = torch::randn({1, 2, 7, 4});
  at::Tensor exact = attentionInDouble(q, k, v, 0.25, c10::nullopt);
  EXPECT_LE(maxError(run(b, {q, k, v}), exact), attentionBound(q, k, v, 0.25));
}

TEST(Backport, AMaskKnownOnlyAtRunTimeStaysABranchAndHiddenRowsGiveZero) {
  auto g = parse(R"IR(
graph(%q : Tensor, %k : Tensor, %v : Tensor, %mask : Tensor?, %causal : bool):
  %none : NoneType = prim::Constant()
  %zero : float = prim::Constant[value=0.]()
  %false : bool = prim::Constant[value=0]()
  %y : Tensor = aten::scaled_dot_product_attention(%q, %k, %v, %mask, %zero, %causal, %none, %false)
  return (%y)
)IR");
  auto b = backported(g, nullptr);
  FileCheck().check_not("scaled_dot_product_attention")->check("prim::If")->run(*b);

  torch::manual_seed(2);
  at::Tensor q = torch::randn({2, 4, 8}), k = torch::randn({2, 4, 8}), v = torch::randn({2, 4, 3});
  at::Tensor keep = torch::rand({4, 4}) > 0.3;
  keep[1] = false;  // a row hidden entirely
  at::Tensor causal = torch::ones({4, 4}, at::kBool).tril();
  const double scale = 1 / std::sqrt(8.0), bound = attentionBound(q, k, v, scale);
  struct Case {
    c10::IValue mask;
    bool causal;
    c10::optional<at::Tensor> keep;
  };
  at::Tensor bias = torch::randn({4, 4});
  for (const Case& c : {Case{c10::IValue(), false, c10::nullopt}, Case{keep, false, keep},
                        Case{c10::IValue(), true, causal}}) {
    at::Tensor exact = attentionInDouble(q, k, v, scale, c.keep);
    at::Tensor got = run(b, {q, k, v, c.mask, c.causal});
    EXPECT_LE(maxError(got, exact), bound);
    if (kNewLine) {
      EXPECT_LE(maxError(run(g, {q, k, v, c.mask, c.causal}), exact), bound);
    }
  }
  // A float mask is added to the scores.
  at::Tensor exact = at::matmul(
      at::softmax(at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-2, -1)) * scale +
                      bias.to(at::kDouble),
                  -1),
      v.to(at::kDouble));
  EXPECT_LE(maxError(run(b, {q, k, v, bias, false}), exact),
            bound + v.abs().max().item<double>() * 4 * kEps * bias.abs().max().item<double>());
}

TEST(Backport, RmsNormBecomesItsArithmetic) {
  auto g = parse(R"IR(
graph(%x : Tensor, %w : Tensor):
  %shape : int[] = prim::Constant[value=[8]]()
  %none : NoneType = prim::Constant()
  %y : Tensor = aten::rms_norm(%x, %shape, %w, %none)
  return (%y)
)IR");
  Statistics stats;
  auto b = backported(g, &stats);
  EXPECT_EQ(stats.get("backported.aten::rms_norm"), 1);
  FileCheck()
      .check_not("rms_norm")
      ->check("aten::pow")
      ->check("aten::mean")
      ->check("aten::rsqrt")
      ->run(*b);
  torch::manual_seed(3);
  at::Tensor x = torch::randn({3, 5, 8}), w = torch::randn({8});
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor exact = xd * at::rsqrt(xd.pow(2).mean({-1}, true) + kEps) * w.to(at::kDouble);
  // The mean of n squares carries (n + 2) eps; rsqrt, the two products and the add a few more.
  const double bound = (8 + 10) * kEps * exact.abs().max().item<double>();
  EXPECT_LE(maxError(run(b, {x, w}), exact), bound);
  if (kNewLine) {
    EXPECT_LE(maxError(run(g, {x, w}), exact), bound);
  }
}

TEST(Backport, SqueezeWithAListOfDimsBecomesSqueezesOfOneDimExactly) {
  if (!kNewLine) GTEST_SKIP() << "LibTorch 1.13 has no aten::squeeze.dims to call";
  auto g = parse(R"IR(
graph(%x : Tensor):
  %dims : int[] = prim::Constant[value=[0, -2, 3]]()
  %y : Tensor = aten::squeeze(%x, %dims)
  return (%y)
)IR");
  Statistics stats;
  auto b = backported(g, &stats);
  EXPECT_EQ(stats.get("backported.aten::squeeze.dims"), 1);
  FileCheck().check("aten::squeeze")->run(*b);
  torch::manual_seed(4);
  for (at::Tensor x : {torch::randn({1, 3, 1, 5}), torch::randn({1, 3, 2, 1})}) {
    at::Tensor want = run(g, {x}), got = run(b, {x});
    EXPECT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(got.equal(want));
  }
}

std::string crafted(const std::string& name) {
  return std::string(TSOPT_HOSTILE_DIR) + "/" + name + ".pt";
}

TEST(Backport, ThePresetWritesAModelThatLibTorch113Loads) {
  if (!kNewLine) GTEST_SKIP() << "LibTorch 1.13 cannot load a model that calls SDPA";
  const std::string out = test::tempDir() + "/out.pt";
  test::CommandResult r = test::runTsopt("run '" + crafted("calls_sdpa") +
                                         "' -O backport --verify --input 2x3x4 -o " + out);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  test::CommandResult s = test::runTsopt("show --summary " + out);
  EXPECT_NE(s.out.find("\nLibTorch: archive format version 3; loads in LibTorch >= 1.13\n"),
            std::string::npos)
      << s.out;
}

TEST(Backport, AnOperatorItCannotWriteIsAWarningNamingTheLibTorchTheModelNeeds) {
  if (!kNewLine) GTEST_SKIP() << "LibTorch 1.13 cannot load a model that calls all.dims";
  const std::string out = test::tempDir() + "/out.pt";
  test::CommandResult r =
      test::runTsopt("run '" + crafted("calls_all_dims") + "' -O backport -o " + out);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tsopt: warning: pass 'backport': the model still calls aten::all.dims, "
                       "which LibTorch 1.13 lacks: it needs LibTorch >= 2.0\n"),
            std::string::npos)
      << r.err;
}

TEST(Backport, AGraphWithoutSuchCallsIsLeftAsItWas) {
  auto g = parse(R"IR(
graph(%x : Tensor):
  %y : Tensor = aten::relu(%x)
  return (%y)
)IR");
  const std::string before = g->toString();
  EXPECT_FALSE(backportOperators(g, nullptr));
  EXPECT_EQ(g->toString(), before);
}

}  // namespace
}  // namespace tsopt
