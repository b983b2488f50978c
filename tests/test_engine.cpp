// The run engine as a library: optimize() owns the run, returns its outcome, writes the reports
// from it, and speaks in the library's terms (errors carry the setting, not a flag).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/report.h"
#include "engine/run.h"
#include "ir_dump/ir_text.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/instrumentations.h"
#include "passes/core/module_copy.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;

RunOptions optionsFor(const std::string& dir) {
  RunOptions o;
  o.input = test::fixturePath("conv2d_bn");
  o.output = dir + "/out.pt";
  o.pipeline = "inline,fold-conv-bn,fold-linear-bn,dce,strip";
  return o;
}

TEST(Engine, OptimizeReturnsWhatTheRunDidAndTheReportSaysTheSame) {
  std::string dir = test::tempDir();
  RunOptions o = optionsFor(dir);
  o.report = dir + "/r.json";
  o.verify = VerifyMode::kEach;
  o.verifyOptions.inputShapes = {parseInputSpec("2x3x12x12")};
  RunOutcome out = optimize(o);

  ASSERT_EQ(out.run.passes.size(), 5u);
  EXPECT_TRUE(out.written);
  EXPECT_TRUE(out.passed());
  EXPECT_EQ(out.outputBytes, fs::file_size(o.output));
  EXPECT_EQ(out.inputBytes, fs::file_size(o.input));
  // Counted once per pass: each pass starts where the one before ended.
  for (size_t i = 1; i < out.run.passes.size(); ++i) {
    EXPECT_EQ(out.run.passes[i].nodesBefore, out.run.passes[i - 1].nodesAfter);
    EXPECT_EQ(out.run.passes[i].index, i);
  }
  ASSERT_TRUE(out.verdict);
  EXPECT_EQ(out.verdict->eachPass.size(), 5u);

  std::ifstream in(o.report);
  nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report, runReport(out));
  ASSERT_EQ(report["passes"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const nlohmann::json& p = report["passes"][i];
    EXPECT_EQ(p["index"], i);
    EXPECT_EQ(p["name"], out.run.passes[i].name);
    EXPECT_EQ(p["changed"], out.run.passes[i].changed);
    EXPECT_EQ(p["verify"]["passed"], true);
  }
  EXPECT_EQ(report["verify"]["first_failing_pass"], nullptr);
  EXPECT_EQ(report["output_written"], true);
}

TEST(Engine, NothingIsCountedOrTracedThatTheOptionsDoNotAskFor) {
  std::string dir = test::tempDir();
  RunOptions o = optionsFor(dir);
  o.countNodes = false;
  RunOutcome out = optimize(o);
  for (const PassRecord& r : out.run.passes) EXPECT_EQ(r.nodesBefore, -1) << r.name;
  EXPECT_EQ(out.nodesBefore(), -1);
  EXPECT_FALSE(out.verdict);
  EXPECT_FALSE(out.golden);
  EXPECT_FALSE(out.verifier);
  // Only the output was written.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<std::string>{"out.pt"});
}

TEST(Engine, ErrorsNameTheSettingNotAFlag) {
  std::string dir = test::tempDir();
  RunOptions o = optionsFor(dir);
  o.output = o.input;
  try {
    optimize(o);
    FAIL() << "overwrote its input";
  } catch (const Error& e) {
    EXPECT_EQ(e.setting(), Setting::kOverwriteInput);
    EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << e.what();
  }
  o = optionsFor(dir);
  o.print.afterAll = true;  // and nowhere to print to
  EXPECT_THROW(optimize(o), Error);
  EXPECT_FALSE(fs::exists(o.output));
}

TEST(Engine, GoldenFilesAreRecordedOnlyForStagesThatChangedTheModel) {
  std::string dir = test::tempDir();
  RunOptions o = optionsFor(dir);
  o.goldenDir = dir + "/g";
  o.updateGolden = true;
  RunOutcome recorded = optimize(o);
  ASSERT_TRUE(recorded.goldenRecord);
  // fold-linear-bn finds no linear: its stage is the one before, and is not stored.
  EXPECT_EQ(recorded.goldenRecord->stages, 5u);
  EXPECT_FALSE(fs::exists(o.goldenDir + "/03-fold-linear-bn.ir"));
  EXPECT_FALSE(recorded.run.passes[2].changed);

  o.updateGolden = false;
  RunOutcome compared = optimize(o);
  ASSERT_TRUE(compared.golden);
  EXPECT_TRUE(compared.golden->passed) << compared.golden->failure;
  // A copy of the unchanged stage is a mismatch, fixed by recording.
  fs::copy_file(o.goldenDir + "/02-fold-conv-bn.ir", o.goldenDir + "/03-fold-linear-bn.ir");
  RunOutcome copied = optimize(o);
  EXPECT_FALSE(copied.passed());
  EXPECT_EQ(copied.golden->failure,
            o.goldenDir +
                "/03-fold-linear-bn.ir is the IR of a stage that changed nothing; "
                "remove it");
  EXPECT_EQ(copied.golden->fix, Setting::kGoldenUpdate);
}

TEST(Engine, ALiveModuleIsLeftAsItWasAndTheResultStaysInMemory) {
  std::string dir = test::tempDir();
  torch::jit::Module live = loadModule(test::fixturePath("conv2d_bn"));
  const std::string before = serializeModule(live);
  RunOptions o = optionsFor(dir);
  o.input = "<module>";
  o.inputModule = live;
  o.output = "";
  o.verify = VerifyMode::kResult;
  o.bisect = true;
  o.verifyOptions.inputShapes = {parseInputSpec("2x3x12x12")};
  RunOutcome out = optimize(o);

  EXPECT_EQ(serializeModule(live), before);  // IR, code and tensors, byte for byte
  EXPECT_FALSE(out.written);
  EXPECT_TRUE(fs::is_empty(dir));
  // A live module's size is its tensors', and so is the result's, to compare like with like.
  EXPECT_EQ(out.inputBytes, tensorBytes(live));
  EXPECT_EQ(out.outputBytes, tensorBytes(out.module));
  EXPECT_LT(out.outputBytes, out.inputBytes);  // the BatchNorms' tensors are gone
  ASSERT_TRUE(out.verdict);
  EXPECT_TRUE(out.verdict->result.passed);
  EXPECT_EQ(countNodes(methodGraph(out.module, "forward")->block()), out.nodesAfter());
  EXPECT_NE(canonicalModuleIr(out.module, {"forward"}), canonicalModuleIr(live, {"forward"}));
}

TEST(ModuleIo, SavingPrintsEachNameOnceAndLeavesTheNamesAsTheyWere) {
  // Inlined, the scripted chain repeats names (`result`, `size_prods0`, and the `_N` its printed
  // code gave to values without a name) 40 times over.
  const test::Fixture& f = test::fixture("long_chain", "scripted");
  auto [m, r] = test::runPipeline(f, "inline");
  auto graph = m.get_method("forward").graph();
  const std::string ir = graph->toString(false);
  const std::string path = test::tempDir() + "/m.pt";
  saveModuleAtomic(m, path);
  EXPECT_EQ(graph->toString(false), ir);
  serializeModule(m);
  EXPECT_EQ(graph->toString(false), ir);

  // Loaded back, every value is named as printed: its own name, that name with `_K` for its K-th
  // repeat, or `_N` (no name). A printer that probes for free names makes others
  // (`size_prods62` from `size_prods0` and `size_prods6`).
  std::map<std::string, size_t> bases;  // name -> how many values have it
  forEachValue(graph->block(), [&](torch::jit::Value* v) {
    if (v->hasDebugName()) ++bases[v->debugNameBase()];
  });
  torch::jit::Module loaded = loadModule(path);
  size_t named = 0;
  forEachValue(loaded.get_method("forward").graph()->block(), [&](torch::jit::Value* v) {
    if (!v->hasDebugName()) return;
    ++named;
    const std::string name = v->debugNameBase();
    const size_t cut = name.find_last_of('_');
    if (bases.count(name) || cut == 0) return;  // its own name, or `_N`
    ASSERT_NE(cut, std::string::npos) << name;
    auto base = bases.find(name.substr(0, cut));
    ASSERT_NE(base, bases.end()) << name;
    EXPECT_LE(std::stoull(name.substr(cut + 1)), base->second) << name;
  });
  EXPECT_GT(named, 100u);
  test::expectSameNumerics(f, loaded, "forward", 0.0);
}

}  // namespace
}  // namespace tsopt
