// strip: what no kept method reaches goes and what one reaches stays (instances sharing a type,
// calls through an interface, several kept methods); the graphs and the outputs are exactly as
// before it; the saved model is no larger than the input and loads.
#include <gtest/gtest.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <filesystem>
#include <map>

#include "ir_dump/ir_text.h"
#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "passes/core/pipeline.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

/// Without strip, the default pipeline.
const char* kFoldPipeline = "inline,fold-conv-bn,fold-linear-bn,dce";

/// Expects `method` of `a` and `b` to return bit-identical outputs on the fixture's inputs.
void expectIdenticalOutputs(const test::Fixture& f, torch::jit::Module& a, torch::jit::Module& b,
                            const std::string& method = "forward") {
  for (uint64_t seed : {1, 2}) {
    auto inputs = test::makeInputs(f, seed);
    Comparison c = compareOutputs(test::runMethod(a, inputs, method),
                                  test::runMethod(b, inputs, method), Tolerance{0.0, 0.0});
    EXPECT_TRUE(c.equal) << f.id() << " " << method << " seed " << seed << ": " << c.mismatch;
  }
}

std::vector<std::string> attributeNames(const torch::jit::Module& m) {
  std::vector<std::string> names;
  for (const torch::jit::NameValue& a : m.named_attributes(/*recurse=*/false)) {
    names.push_back(a.name);
  }
  return names;
}

TEST(Strip, OnEveryFixtureTheSavedModelIsNoLargerLoadsAndComputesExactlyTheSame) {
  ASSERT_EQ(findPreset("O1").pipeline, std::string(kFoldPipeline) + ",strip");
  for (const test::Fixture& f : test::fixtures()) {
    SCOPED_TRACE(f.id());
    auto [folded, r1] = test::runPipeline(f, kFoldPipeline);
    auto [stripped, r2] = test::runPipeline(f, findPreset("O1").pipeline);
    // Strip changes no graph (but the source ranges, which canonical IR does not print).
    EXPECT_EQ(canonicalModuleIr(stripped, {"forward"}), canonicalModuleIr(folded, {"forward"}));
    const std::string bytes = serializeModule(stripped);
    EXPECT_LE(bytes.size(), std::filesystem::file_size(f.path()));
    torch::jit::Module loaded = deserializeModule(bytes, "the stripped model");
    expectIdenticalOutputs(f, folded, loaded);
  }
}

TEST(Strip, DropsSourceRangesUnlessToldToKeepThem) {
  const test::Fixture& f = test::fixture("conv2d_bn", "scripted");
  auto [kept, rk] = test::runPipeline(f, std::string(kFoldPipeline) + ",strip{debug-info}");
  auto [dropped, rd] = test::runPipeline(f, std::string(kFoldPipeline) + ",strip");
  EXPECT_EQ(rk.passes.back().stats.count("removed.source-ranges"), 0u);
  EXPECT_GT(rd.passes.back().stats.at("removed.source-ranges"), 10);
  auto ranged = [](const torch::jit::Module& m) {
    int64_t n = 0;
    forEachNode(m.get_method("forward").graph()->block(),
                [&](torch::jit::Node* node) { n += node->sourceRange().source() != nullptr; });
    return n;
  };
  EXPECT_GT(ranged(kept), 10);
  EXPECT_EQ(ranged(dropped), 0);
  EXPECT_EQ(canonicalModuleIr(dropped, {"forward"}), canonicalModuleIr(kept, {"forward"}));

  // Saved without the records that map its code to the Python source, the model computes the
  // same, bit for bit, and its own checks still raise their messages.
  const std::string withRanges = serializeModule(kept);
  const std::string without = serializeModule(dropped);
  EXPECT_LT(without.size(), withRanges.size());
  torch::jit::Module loaded = deserializeModule(without, "the stripped model");
  expectIdenticalOutputs(f, kept, loaded);
  try {
    // LibTorch 1.13's optimising executor drops this check (a 3-d input then runs): run the
    // code as written, on a copy whose executor has not planned yet.
    torch::jit::GraphOptimizerEnabledGuard unoptimised(false);
    deserializeModule(without, "the stripped model").forward({torch::randn({3, 12, 12})});
    ADD_FAILURE() << "a 3-d input passed the BatchNorm's check";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("expected 4D input (got 3D input)"), std::string::npos)
        << e.what();
  }
}

TEST(Strip, FoldedWeightsReplaceTheOriginalsInTheFile) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  auto [m, r] = test::runPipeline(f, findPreset("O1").pipeline);
  const PassRecord& strip = r.passes.back();
  ASSERT_EQ(strip.name, "strip");
  EXPECT_TRUE(strip.changed);
  // The root held `layers`; the fold put its weight and bias on the root. Conv (weight, bias) and
  // BatchNorm (weight, bias, running_mean, running_var) are 6 tensors of 8 channels of 3x3x3
  // and 8 floats: (8*27 + 5*8) * 4 bytes. num_batches_tracked (one int64) goes too.
  EXPECT_EQ(strip.stats.at("removed.submodules"), 1);
  EXPECT_EQ(strip.stats.at("removed.bytes"), (8 * 27 + 5 * 8) * 4 + 8);
  for (const std::string& name : attributeNames(m)) {
    EXPECT_NE(name, "layers");
  }
  EXPECT_TRUE(m.hasattr("training"));
}

TEST(Strip, InstancesOfOneTypeKeepWhatTheKeptMethodsReach) {
  // a and b are scripted with one type; forward calls a, the exported `extra` calls b.
  const test::Fixture& f = test::fixture("shared_type_blocks", "scripted");
  torch::jit::Module original = loadModule(f.path());
  ASSERT_EQ(original.attr("a").toModule().type(), original.attr("b").toModule().type());

  torch::jit::Module m = loadModule(f.path());
  Statistics stats;
  std::vector<std::string> warnings;
  EXPECT_TRUE(stripModule(m, {"forward"}, &stats, &warnings));
  EXPECT_FALSE(m.hasattr("b"));
  EXPECT_TRUE(m.hasattr("a"));
  EXPECT_FALSE(m.find_method("extra"));
  // Besides b (a 3x3 conv of 3 to 4 channels with bias, a BatchNorm of 4: (108 + 4 + 4 * 4)
  // floats and num_batches_tracked) and extra: __len__ of the Sequential type, which nothing
  // calls, and attributes no method reads (each of the six types' _is_full_backward_hook,
  // Conv2d's _reversed_padding_repeated_twice and transposed).
  EXPECT_EQ(stats.all(), (std::map<std::string, int64_t>{{"removed.attributes", 8},
                                                         {"removed.bytes", (108 + 4 + 16) * 4 + 8},
                                                         {"removed.methods", 2},
                                                         {"removed.submodules", 1}}));
  EXPECT_TRUE(m.attr("a").toModule().attr("layers").toModule().find_method("forward"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0],
            "removed method(s) extra of the model, which the run does not keep (name each with "
            "--method to keep it)");
  torch::jit::Module loaded = deserializeModule(serializeModule(m), "the stripped model");
  expectIdenticalOutputs(f, original, loaded);

  // Both methods kept: both blocks stay; the attributes and the method nothing uses go.
  torch::jit::Module both = loadModule(f.path());
  Statistics kept;
  EXPECT_TRUE(stripModule(both, {"forward", "extra"}, &kept, nullptr));
  EXPECT_EQ(kept.all(),
            (std::map<std::string, int64_t>{{"removed.attributes", 8}, {"removed.methods", 1}}));
  EXPECT_TRUE(both.hasattr("a") && both.hasattr("b"));
  expectIdenticalOutputs(f, original, both, "extra");
}

TEST(Strip, KeepsEverythingACallThroughAnInterfaceMayUse) {
  const test::Fixture& f = test::fixture("with_interface", "scripted");
  auto [m, r] = test::runPipeline(f, findPreset("O1").pipeline);
  // forward calls self.act.forward through an interface: inline leaves the call, so the module
  // behind it keeps its type's methods.
  ASSERT_TRUE(m.hasattr("act"));
  EXPECT_TRUE(m.attr("act").toModule().find_method("forward"));
  torch::jit::Module loaded = deserializeModule(serializeModule(m), "the stripped model");
  torch::jit::Module original = loadModule(f.path());
  expectIdenticalOutputs(f, original, loaded);
}

TEST(Strip, EveryKeptMethodKeepsWhatItReaches) {
  const test::Fixture& f = test::fixture("nested", "scripted");
  torch::jit::Module original = loadModule(f.path());
  auto [m, r] = test::runPipeline(f, "inline,strip", {"forward", "encode"});
  EXPECT_EQ(r.warnings, (std::vector<std::string>{
                            "pass 'strip': removed method(s) helper of the model, which the run "
                            "does not keep (name each with --method to keep it)"}));
  torch::jit::Module loaded = deserializeModule(serializeModule(m), "the stripped model");
  expectIdenticalOutputs(f, original, loaded, "forward");
  expectIdenticalOutputs(f, original, loaded, "encode");
  // Inlined, nothing calls `helper` or any submodule's method any more; the submodules stay,
  // since the inlined graphs read their parameters.
  std::vector<std::string> rootMethods;
  for (const torch::jit::Method& method : loaded.get_methods())
    rootMethods.push_back(method.name());
  EXPECT_EQ(rootMethods, (std::vector<std::string>{"forward", "encode"}));
  for (const torch::jit::NameModule& sub : loaded.named_modules()) {
    if (sub.name.empty()) continue;
    EXPECT_TRUE(sub.value.get_methods().empty()) << sub.name;
    EXPECT_TRUE(sub.value.hasattr("training")) << sub.name;
  }
  EXPECT_TRUE(loaded.attr("m2").toModule().attr("b").toModule().hasattr("conv"));
}

TEST(Strip, EqualTensorConstantsAreStoredOnce) {
  torch::jit::Module m("Consts");
  m.define(R"(
def forward(self, x):
    return x
)");
  auto g = m.get_method("forward").graph();
  // Two equal constants made apart (different storages) and one that differs.
  torch::jit::WithInsertPoint guard(g->return_node());
  at::Tensor a = at::arange(1000, at::kFloat), b = a.clone(), c = a + 1;
  torch::jit::Value* sum = g->inputs()[1];
  for (const at::Tensor& t : {a, b, c}) {
    sum = g->insert(c10::aten::add, {sum, g->insertConstant(t)});
  }
  g->return_node()->replaceInput(0, sum);
  Statistics stats;
  EXPECT_TRUE(stripModule(m, {"forward"}, &stats, nullptr));
  EXPECT_EQ(stats.get("merged.constants"), 1);
  EXPECT_EQ(stats.get("merged.bytes"), 4000);
  std::vector<at::Tensor> held;
  for (torch::jit::Node* n : g->nodes()) {
    if (n->kind() == c10::prim::Constant &&
        n->kindOf(c10::attr::value) == torch::jit::AttributeKind::t) {
      held.push_back(n->t(c10::attr::value));
    }
  }
  ASSERT_EQ(held.size(), 3u);
  EXPECT_TRUE(held[0].is_same(held[1]));
  EXPECT_FALSE(held[1].is_same(held[2]));
  torch::jit::Module loaded = deserializeModule(serializeModule(m), "the stripped model");
  at::Tensor x = at::ones({1000});
  EXPECT_TRUE(loaded.forward({x}).toTensor().equal(x + a + a + c));
}

}  // namespace
}  // namespace tsopt
