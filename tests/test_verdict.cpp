// What decides a verdict: the float64 rule (errors against the float64 answer, within a multiple
// of the reference's own), its fallbacks with their reasons, discrete outputs judged by
// agreement, the float64 copy of a model, and the warnings about verdicts that say little.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "passes/builtin/builtin.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"
#include "verify/discrete.h"
#include "verify/float64.h"
#include "verify/verifier.h"

namespace tsopt {
namespace {

/// A float32 reference rounded from a float64 answer, and a candidate `relative` away from it.
struct Outputs {
  at::Tensor exact, reference, candidate;
};
Outputs outputs(double scale, double relative) {
  at::Tensor exact =
      at::randn({1000}, at::detail::createCPUGenerator(7), torch::dtype(torch::kDouble)) * scale;
  return {exact, exact.to(torch::kFloat), (exact * (1 + relative)).to(torch::kFloat)};
}

OutputComparison judged(const Outputs& o, Tolerances tol = {}) {
  OutputComparison c(std::move(tol));
  c10::IValue exact = o.exact;
  c.add("forward", 0, o.reference, o.candidate, &exact);
  return c;
}

TEST(Float64Rule, AcceptsRoundingAndRejectsADifferenceAtEveryScale) {
  for (double scale : {1e-9, 1.0, 1e6}) {
    SCOPED_TRACE(scale);
    // Two more roundings' worth of error: what another kernel or a fold does.
    OutputComparison rounding = judged(outputs(scale, 1e-7));
    EXPECT_TRUE(rounding.passed()) << rounding.firstMismatch();
    const OutputDiff& d = rounding.outputs()[0];
    EXPECT_EQ(d.rule, "float64");
    EXPECT_GT(d.referenceError, 0);
    EXPECT_LE(d.exactError, d.bound);
    EXPECT_LT(d.errorRatio, 1);

    OutputComparison wrong = judged(outputs(scale, 1e-3));
    EXPECT_FALSE(wrong.passed());
    EXPECT_NE(wrong.firstMismatch().find("off the float64 answer"), std::string::npos)
        << wrong.firstMismatch();
    EXPECT_GT(wrong.outputs()[0].errorRatio, 1);
  }
  // The elementwise tolerances call a 0.1% error on outputs of magnitude 1e-9 equal.
  Tolerances tolerances;
  tolerances.float64.enabled = false;
  OutputComparison vacuous = judged(outputs(1e-9, 1e-3), tolerances);
  EXPECT_TRUE(vacuous.passed());
  EXPECT_EQ(vacuous.outputs()[0].rule, "tolerance");
  EXPECT_EQ(vacuous.outputs()[0].ruleNote, "tolerances were given");
}

TEST(Float64Rule, FallsBackToTolerancesAndSaysWhy) {
  Outputs o = outputs(1, 1e-7);
  struct Case {
    c10::IValue exact;
    bool given;
    std::string note;
  };
  std::vector<Case> cases = {
      {c10::IValue(), false, "it computes with quantized operators"},
      {o.exact.to(torch::kFloat), true, "the float64 run computes this output in float32"},
      {o.exact.reshape({10, 100}), true, "the float64 run gives shape 10x100 here"},
      {o.exact * 2, true, "the float32 and float64 runs of the reference disagree beyond rounding"},
  };
  for (const Case& c : cases) {
    OutputComparison cmp{Tolerances{}};
    cmp.add("forward", 0, o.reference, o.candidate, c.given ? &c.exact : nullptr,
            "it computes with quantized operators");
    ASSERT_EQ(cmp.outputs().size(), 1u);
    EXPECT_TRUE(cmp.passed()) << cmp.firstMismatch();
    EXPECT_EQ(cmp.outputs()[0].rule, "tolerance");
    EXPECT_EQ(cmp.outputs()[0].ruleNote.rfind(c.note, 0), 0u) << cmp.outputs()[0].ruleNote;
  }
}

TEST(Float64Rule, WhereTheReferenceIsNotFiniteTheCandidateMustMatchIt) {
  at::Tensor exact = torch::tensor({1.0, double(INFINITY), double(NAN), 2.0}, torch::kDouble);
  at::Tensor reference = exact.to(torch::kFloat);
  c10::IValue x = exact;
  for (auto [candidate, equal] : std::vector<std::pair<at::Tensor, bool>>{
           {reference.clone(), true},
           {torch::tensor({1.0f, INFINITY, 0.0f, 2.0f}), false},
           {torch::tensor({1.0f, -INFINITY, NAN, 2.0f}), false},
           {torch::tensor({1.0f, INFINITY, NAN, NAN}), false}}) {
    OutputComparison c{Tolerances{}};
    c.add("forward", 0, reference, candidate, &x);
    EXPECT_EQ(c.passed(), equal) << candidate;
  }
}

TEST(Discrete, AFewFlippedElementsAgreeMoreDiffer) {
  at::Tensor keypoints = torch::rand({150}) * 64;
  for (auto [flipped, equal] : std::vector<std::pair<int, bool>>{{1, true}, {2, false}}) {
    at::Tensor moved = keypoints.clone();
    moved.narrow(0, 0, flipped) += 1;  // a keypoint one pixel over
    OutputComparison c{Tolerances{}};
    c.markDiscrete("forward", "out[1]", "aten::argmax");
    c.add("forward", 0, std::make_tuple(keypoints, keypoints), std::make_tuple(moved, moved));
    ASSERT_EQ(c.outputs().size(), 2u);
    EXPECT_FALSE(c.outputs()[0].passed);  // out[0] is not discrete: one element is enough
    EXPECT_EQ(c.outputs()[1].passed, equal) << c.outputs()[1].mismatch;
    EXPECT_EQ(c.outputs()[1].discrete, "aten::argmax");
    EXPECT_DOUBLE_EQ(c.outputs()[1].agreement, 1.0 - flipped / 150.0);
  }
  EXPECT_EQ(discreteAllowance(150), 1);
  EXPECT_EQ(discreteAllowance(32768), 327);
}

TEST(Discrete, RowsInAnotherOrderAgreeOtherRowsDiffer) {
  // Detections after NMS: near-equal scores swap two boxes, and every row after them moves.
  at::Tensor boxes = torch::rand({300, 4}) * 100;
  at::Tensor swapped =
      torch::cat({boxes.narrow(0, 0, 10), boxes.narrow(0, 11, 289), boxes.narrow(0, 10, 1)});
  at::Tensor moved = swapped.clone();
  moved.narrow(0, 0, 5) += 1;  // five boxes elsewhere: more than 1% of 300 rows
  for (auto [candidate, equal] :
       std::vector<std::pair<at::Tensor, bool>>{{swapped, true}, {moved, false}}) {
    OutputComparison c{Tolerances{}};
    c.markDiscrete("forward", "out", "torchvision::nms");
    c10::IValue exact = boxes.to(torch::kDouble);
    c.add("forward", 0, boxes, candidate, &exact);
    const OutputDiff& d = c.outputs()[0];
    EXPECT_EQ(d.passed, equal) << d.mismatch;
    EXPECT_EQ(d.reordered, equal);
    EXPECT_EQ(d.agreement, equal ? 1 : 295.0 / 300);
  }
}

torch::jit::Module scripted(const std::string& source) {
  torch::jit::Module m("m");
  m.register_parameter("w", torch::randn({4, 4}), false);
  m.define(source);
  return m;
}

TEST(Discrete, FoundByDataFlowThroughContainersAndBranchesButNotThroughShapes) {
  torch::jit::Module m = scripted(R"(
def forward(self, x):
    y = torch.matmul(x, self.w)
    k = torch.argmax(y, 1)
    p = y[y > 0.5]
    n = x.size(0) * 2
    r = [y[0]]
    for i in range(x.size(0)):
        if bool(y[i].sum() > 0):
            r.append(y[i])
    d = {"k": k, "y": y}
    return (k, y, p, n, r, d, torch.floor(y), y.long())
)");
  std::vector<std::pair<std::string, std::string>> expected = {
      {"out[0]", "aten::argmax"},      {"out[2]", "aten::gt"},    {"out[4]", "aten::gt"},
      {"out[5]['k']", "aten::argmax"}, {"out[6]", "aten::floor"}, {"out[7]", "aten::to"}};
  EXPECT_EQ(discreteOutputs(*inlinedCopy(m, "forward")), expected);
}

TEST(Float64Model, ComputesInFloat64AndLeavesTheModelAsItWas) {
  torch::jit::Module m = scripted(R"(
def forward(self, x):
    c = torch.tensor([0.5, 0.25, 2.0, 1.0])
    z = torch.zeros([4], dtype=6)
    return torch.matmul(x, self.w) * c + z + x.float()
)");
  Float64Model f = makeFloat64Model(m, {{"forward", inlinedCopy(m, "forward")}});
  ASSERT_TRUE(f.module) << f.unavailable;
  at::Tensor x = torch::randn({2, 4}, torch::kDouble);
  at::Tensor out = f.run("forward", {x.to(torch::kFloat)}, 0).toTensor();
  EXPECT_EQ(out.scalar_type(), torch::kDouble);
  at::Tensor w = m.attr("w").toTensor();
  EXPECT_EQ(w.scalar_type(), torch::kFloat);  // the original keeps its float32 parameter
  at::Tensor exact = torch::matmul(x.to(torch::kFloat).to(torch::kDouble), w.to(torch::kDouble)) *
                         torch::tensor({0.5, 0.25, 2.0, 1.0}, torch::kDouble) +
                     x.to(torch::kFloat).to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(out, exact, 1e-15, 1e-15));
  EXPECT_EQ(m.forward({x.to(torch::kFloat)}).toTensor().scalar_type(), torch::kFloat);

  torch::jit::Module q = scripted(R"(
def forward(self, x):
    return torch.quantize_per_tensor(x, 0.1, 0, 13).dequantize()
)");
  Float64Model quantized = makeFloat64Model(q, {{"forward", inlinedCopy(q, "forward")}});
  EXPECT_FALSE(quantized.module);
  EXPECT_EQ(quantized.unavailable, "it calls aten::quantize_per_tensor");
}

TEST(Verifier, WarnsWhenTheVerdictSaysLittle) {
  VerifyOptions o;
  o.inputShapes = {parseInputSpec("2x4")};
  struct Case {
    std::string body, warning;
  };
  std::vector<Case> cases = {
      {"return x * 0.0", "are the same for every trial's inputs"},
      {"return torch.matmul(x, self.w) * 1e-9", "is below 1e-05 in magnitude"},
      {"return x[x > 1e9]", "is empty on these inputs"},
      {"return torch.matmul(x, self.w)", ""},
  };
  for (const Case& c : cases) {
    Verifier v(scripted("def forward(self, x):\n    " + c.body + "\n"), o);
    std::string all;
    for (const std::string& w : v.warnings()) all += w + "\n";
    if (c.warning.empty()) {
      EXPECT_EQ(all, "") << c.body;
    } else {
      EXPECT_NE(all.find(c.warning), std::string::npos) << c.body << ": " << all;
    }
  }
}

TEST(Verifier, TrialsRunAtSeveralInputScales) {
  VerifyOptions o;
  o.inputShapes = {parseInputSpec("2x4")};
  // The clamp at 6 is reached only by the scaled trials: relu and relu6 differ there.
  Verifier v(scripted("def forward(self, x):\n    return torch.relu(x)\n"), o);
  VerifyResult r = v.check(scripted("def forward(self, x):\n    return torch.clamp(x, 0., 6.)\n"));
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.mismatch.find("in trial 1"), std::string::npos) << r.mismatch;
  EXPECT_EQ(trialScale(0), 1);
  EXPECT_EQ(trialScale(1), 16);
  EXPECT_EQ(trialScale(2), 256);
  EXPECT_EQ(trialScale(3), 1);
}

TEST(Divergence, NamesTheFirstValueThatDiffers) {
  at::Tensor w = torch::randn({4, 4});
  auto model = [&](const std::string& activation) {
    torch::jit::Module m("m");
    m.register_parameter("w", w, false);
    m.define(R"(
def forward(self, x):
    y = torch.matmul(x, self.w)
    z = )" + activation +
             R"(
    u = torch.matmul(z, self.w)
    return u.sum(1)
)");
    return m;
  };
  torch::jit::Module before = model("torch.relu(y)"), after = model("torch.clamp(y, 0., 0.5)");
  VerifyOptions o;
  o.inputShapes = {parseInputSpec("3x4")};
  Verifier v(before, o);
  VerifyResult r = v.check(after);
  ASSERT_FALSE(r.passed);
  Divergence d = v.locate(before, after, r);
  ASSERT_TRUE(d.found);
  EXPECT_EQ(d.method, "forward");
  EXPECT_EQ(d.value, "%z.1");
  EXPECT_EQ(d.compared, 3u);  // y, z, u
  EXPECT_EQ(d.node.rfind("%z.1 : Tensor = aten::clamp(%y.1", 0), 0u) << d.node;
  EXPECT_NE(d.node.find("(its inputs from aten::matmul)"), std::string::npos) << d.node;
  EXPECT_NE(d.mismatch.find("off the float64 answer"), std::string::npos) << d.mismatch;

  // The same model: nothing parts. A change only in the last node: the output parts.
  const std::vector<c10::IValue> inputs{torch::rand({3, 4}) * 16};
  EXPECT_FALSE(findDivergence(before, before, "forward", inputs, 0, Tolerances{}).found);
  torch::jit::Module last("m");
  last.register_parameter("w", w, false);
  last.define(R"(
def forward(self, x):
    y = torch.matmul(x, self.w)
    z = torch.relu(y)
    u = torch.matmul(z, self.w)
    return u.sum(1) * 2.
)");
  Divergence output = findDivergence(before, last, "forward", inputs, 0, Tolerances{});
  ASSERT_TRUE(output.found);
  EXPECT_EQ(output.value, "the output");
  EXPECT_NE(output.node.find("aten::mul"), std::string::npos) << output.node;
}

}  // namespace
}  // namespace tsopt
