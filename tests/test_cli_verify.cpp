// `tsopt verify` and `tsopt run --verify/--verify-strict/--verify-each/--bisect` end to end:
// exit codes, reports, one-line errors, and what is (not) written.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::readFile;
using test::runTsopt;

std::string fixtureFile(const std::string& file) {
  std::string p = test::fixturePath("conv2d_bn");
  return p.substr(0, p.rfind('/') + 1) + file;
}

nlohmann::json readJson(const std::string& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

const std::string kWrongPipeline = "inline,fold-conv-bn,unsafe-drop-relu,dce";

std::string wrongRun(const std::string& dir, const std::string& extra) {
  return "run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/o.pt -p " + kWrongPipeline +
         " --plugin " + test::pluginPath("tsopt_test_plugin_unsafe_drop_relu") + " --report " +
         dir + "/r.json --input-shape 2x3x12x12 " + extra;
}

TEST(CliVerify, EqualModelsExitZeroAndPrintEachOutput) {
  auto r = runTsopt("verify " + test::fixturePath("outputs") + " " +
                    test::fixturePath("outputs", "scripted"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("inputs of forward: 2x3x32x32 (inferred from the weight of the first "
                       "aten::_convolution); 3 trials"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("out[2]['max']"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tsopt: verify: outputs equal over 3 trials"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

TEST(CliVerify, DifferentModelsExitOneAndTheReportSaysWhere) {
  std::string dir = test::tempDir();
  auto run = runTsopt(wrongRun(dir, "-q"));  // without --verify nothing is checked
  ASSERT_EQ(run.exitCode, 0) << run.err;
  auto r = runTsopt("verify " + test::fixturePath("conv2d_bn") + " " + dir +
                    "/o.pt --input-shape 2x3x12x12 " +
                    "--trials 2 --seed 7 --dist normal --scale 0.5 --report " + dir + "/v.json");
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.out.find("DIFFERS"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.rfind("tsopt: verify: outputs differ: out: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  nlohmann::json j = readJson(dir + "/v.json");
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["trials"], 2);
  EXPECT_EQ(j["seed"], 7);
  EXPECT_EQ(j["distribution"], "normal");
  EXPECT_EQ(j["scale"], 0.5);
  EXPECT_EQ(j["reference"], test::fixturePath("conv2d_bn"));
  ASSERT_EQ(j["outputs"].size(), 1u);
  EXPECT_EQ(j["outputs"][0]["passed"], false);
  EXPECT_EQ(j["outputs"][0]["max_abs_at"]["index"].size(), 4u);
  EXPECT_GT(j["outputs"][0]["bad_elements"].get<int>(), 0);
  EXPECT_GT(j["max_abs_diff"].get<double>(), 0.01);
}

TEST(CliVerify, ModelsThatDrawRandomNumbersAtInferenceDrawTheSameOnesInBothRuns) {
  // Dropout stays on in eval mode (Tacotron2's prenet does this): each run of a trial starts from
  // the same random-number state, so a model equals itself, and the folded copy tsopt makes of it
  // equals it too, bit for bit.
  const std::string model = fixtureFile("random_at_inference.pt");
  auto self = runTsopt("verify " + model + " " + model + " --input-shape 4x6 --rtol 0 --atol 0");
  EXPECT_EQ(self.exitCode, 0) << self.out << self.err;
  std::string dir = test::tempDir();
  auto run = runTsopt("run " + model + " -o " + dir +
                      "/o.pt --verify --input-shape 4x6 "
                      "--rtol 0 --atol 0");
  EXPECT_EQ(run.exitCode, 0) << run.out << run.err;
  // The same weights dropping with another probability draw other masks: a real difference.
  auto other = runTsopt("verify " + model + " " + fixtureFile("random_differently.pt") +
                        " --input-shape 4x6");
  EXPECT_EQ(other.exitCode, 1) << other.out << other.err;
}

TEST(CliVerify, OutputsTheReferenceDisagreesWithItselfOnAreNotCompared) {
  // out[1] adds how often the operator has been called: no seed makes it repeat. out[0] is
  // compared (and equal); out[1] is named and left out, in the table, the summary and the report.
  const std::string ops = " --ops " + test::pluginPath("tsopt_test_ops");
  const std::string model = fixtureFile("partly_nondeterministic.pt");
  const std::string report = test::tempDir() + "/r.json";
  auto r = runTsopt("verify " + model + " " + model + " --input-shape 2x3" + ops + " --report " +
                    report);
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("  out[1]           Tensor[float32, 2x3]          not compared: the "
                       "reference is not deterministic here\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("; not compared, as the reference model is not deterministic there: out[1]"),
            std::string::npos)
      << r.out;
  nlohmann::json j = nlohmann::json::parse(test::readFile(report));
  EXPECT_EQ(j["nondeterministic"]["forward"], nlohmann::json::array({"out[1]"}));
  ASSERT_EQ(j["outputs"].size(), 2u);
  EXPECT_EQ(j["outputs"][0]["compared"], true);
  EXPECT_EQ(j["outputs"][1]["compared"], false);
  // out[0] is still compared: a candidate that changes it differs.
  auto wrong = runTsopt("verify " + model + " " + fixtureFile("nondeterministic.pt") +
                        " --input-shape 2x3" + ops);
  EXPECT_EQ(wrong.exitCode, 1) << wrong.out << wrong.err;
  // Nothing deterministic at all: nothing to compare, which is bad input.
  auto none = runTsopt("verify " + fixtureFile("nondeterministic.pt") + " " + model +
                       " --input-shape 2x3" + ops);
  EXPECT_EQ(none.exitCode, 2);
  EXPECT_NE(none.err.find("tsopt: error: the reference model is not deterministic: two runs of "
                          "forward on the same inputs and random-number state differ in every "
                          "output (out: 6 of 6 elements outside rtol"),
            std::string::npos)
      << none.err;
}

TEST(CliVerify, InputsSavedBesideTheModelAreUsedFirst) {
  // images_and_lengths takes (List[Tensor], Tensor, Tensor): nothing to infer from its layers,
  // but MODEL.inputs.pt beside it holds a one-element list and two tensors.
  const std::string model = fixtureFile("images_and_lengths.pt");
  auto r = runTsopt("verify " + model + " " + model);
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("inputs of forward: [3x8x8:float32] (from " +
                       fixtureFile("images_and_lengths.inputs.pt") + ", saved beside the model);"),
            std::string::npos)
      << r.out;
  // Described instead: lengths of at most the frames' time axis, drawn anew in every trial.
  auto given = runTsopt("verify " + model + " " + model +
                        " --input [3x8x8,3x4x4] --input 2x6x4 --input @1.0:int64:1..@1.1");
  EXPECT_EQ(given.exitCode, 0) << given.out << given.err;
  EXPECT_NE(given.out.find("inputs of forward: [3x8x8,3x4x4] (given); 2x6x4 (given); "
                           "@1.0:int64:1..@1.1 (given); 3 trials"),
            std::string::npos)
      << given.out;
  // A length beyond the frames is what the model rejects: the spec's bound is the fix.
  auto beyond = runTsopt("verify " + model + " " + model +
                         " --input [3x8x8] --input 2x6x4 --input 2:int64:=7");
  EXPECT_EQ(beyond.exitCode, 2);
  EXPECT_NE(beyond.err.find("forward of the reference model rejects the inputs ([3x8x8], 2x6x4, "
                            "2:int64:=7)"),
            std::string::npos)
      << beyond.err;
}

TEST(CliVerify, AModelReturningAnObjectEqualsItself) {
  // forward returns an instance of a scripted class: compared field by field (out.a, out.n).
  const std::string model = fixtureFile("returns_object.pt");
  auto r = runTsopt("verify " + model + " " + model + " --input 2x3");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("out.a "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("out.n "), std::string::npos) << r.out;
}

TEST(CliVerify, AForwardThatNeverReturnsEndsAtTheTimeout) {
  const std::string model = fixtureFile("never_returns.pt");
  const std::string dir = test::tempDir();
  auto start = std::chrono::steady_clock::now();
  auto r = runTsopt("run " + model + " -o " + dir + "/o.pt --verify --input 2 --timeout 1");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exitCode, 2) << r.out << r.err;
  EXPECT_EQ(
      r.err,
      "tsopt: error: running forward of a model under verification did not finish within 1 s; "
      "allow more time, or set no limit (--timeout SECONDS, 0 for none)\n");
  EXPECT_LT(seconds, 30) << "it must not wait for the default 60 s";
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "nothing written, nothing staged left";
}

TEST(CliVerify, TolerancesDecide) {
  std::string dir = test::tempDir();
  ASSERT_EQ(runTsopt(wrongRun(dir, "-q")).exitCode, 0);
  std::string args =
      "verify " + test::fixturePath("conv2d_bn") + " " + dir + "/o.pt --input-shape 2x3x12x12";
  EXPECT_EQ(runTsopt(args).exitCode, 1);
  // The dropped ReLU is off by up to 320 in the trial at input scale 256.
  EXPECT_EQ(runTsopt(args + " --atol 1000").exitCode, 0);
  EXPECT_EQ(runTsopt(args + " --atol float64=1000").exitCode, 1);  // the outputs are float32
  // Given tolerances replace the float64 rule, unless it is asked for.
  EXPECT_EQ(runTsopt(args + " --atol 1000 --rule float64").exitCode, 1);
  auto r = runTsopt(args + " --rule fuzzy");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--rule"), std::string::npos) << r.err;
}

TEST(CliVerify, InputsFromAFile) {
  auto r = runTsopt("verify " + test::fixturePath("control_flow", "scripted") + " " +
                    test::fixturePath("control_flow", "scripted") + " --inputs " +
                    fixtureFile("control_flow.inputs.pt"));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("2x3x8x8:float32 (from "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 trial"), std::string::npos) << r.out;
}

TEST(CliRunVerify, PassingRunAddsTheVerdictToTheReport) {
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/o.pt --verify --report " + dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("tsopt: verify: outputs equal over 3 trials"), std::string::npos) << r.out;
  nlohmann::json j = readJson(dir + "/r.json");
  ASSERT_TRUE(j.contains("verify"));
  const nlohmann::json& v = j["verify"];
  for (const char* key :
       {"passed", "trials", "max_abs_diff", "max_rel_diff", "rtol", "atol", "outputs"}) {
    EXPECT_TRUE(v.contains(key)) << key;
  }
  EXPECT_EQ(v["passed"], true);
  EXPECT_EQ(v["first_failing_pass"], nullptr);
  EXPECT_EQ(j["output_written"], true);
}

TEST(CliRunVerify, MismatchExitsOneAndStillWritesTheModel) {
  std::string dir = test::tempDir();
  auto r = runTsopt(wrongRun(dir, "--verify"));
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/o.pt"));
  EXPECT_EQ(r.err.rfind("tsopt: verify: outputs differ: out: ", 0), 0u) << r.err;
  nlohmann::json j = readJson(dir + "/r.json");
  EXPECT_EQ(j["verify"]["passed"], false);
  EXPECT_EQ(j["output_written"], true);
  EXPECT_FALSE(j["verify"].contains("bisect"));
}

TEST(CliRunVerify, StrictLeavesTheOutputAsItWas) {
  std::string dir = test::tempDir();
  std::ofstream(dir + "/o.pt") << "the user's file";
  auto r = runTsopt(wrongRun(dir, "--verify-strict"));
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_EQ(readFile(dir + "/o.pt"), "the user's file");
  EXPECT_NE(r.err.find("--verify-strict: " + dir + "/o.pt not written"), std::string::npos);
  EXPECT_EQ(readJson(dir + "/r.json")["output_written"], false);
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST(CliRunVerify, BisectNamesTheWrongPluginPass) {
  std::string dir = test::tempDir();
  auto r = runTsopt(wrongRun(dir, "--verify --bisect"));
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("tsopt: verify: the outputs first differ after pass 3 of 4 "
                       "'unsafe-drop-relu', found by bisection in "),
            std::string::npos)
      << r.err;
  nlohmann::json v = readJson(dir + "/r.json")["verify"];
  EXPECT_EQ(v["first_failing_pass"]["name"], "unsafe-drop-relu");
  EXPECT_EQ(v["first_failing_pass"]["index"], 2);
  EXPECT_EQ(v["bisect"]["baseline_differs"], false);
  EXPECT_GE(v["bisect"]["steps"].size(), 2u);
  // Where it parts: the relu was the last node, so the output, now computed by the convolution.
  EXPECT_NE(r.err.find("tsopt: verify: the first value that differs after it (of 1 compared): "
                       "the output, computed by %input"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(v["divergence"]["value"], "the output");
  EXPECT_NE(v["divergence"]["node"].get<std::string>().find("aten::_convolution"),
            std::string::npos);
}

TEST(CliRunVerify, VerifyEachChecksEveryPass) {
  std::string dir = test::tempDir();
  auto r = runTsopt(wrongRun(dir, "--verify-each"));
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("first differ after pass 3 of 4 'unsafe-drop-relu'\n"), std::string::npos)
      << r.err;
  nlohmann::json j = readJson(dir + "/r.json");
  ASSERT_EQ(j["passes"].size(), 4u);
  EXPECT_EQ(j["passes"][0]["verify"]["passed"], true);
  EXPECT_EQ(j["passes"][1]["verify"]["passed"], true);
  EXPECT_EQ(j["passes"][2]["verify"]["passed"], false);
  EXPECT_EQ(j["verify"]["first_failing_pass"]["spec"], "unsafe-drop-relu");
}

TEST(CliRunVerify, BadVerifyInputWritesNothing) {
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/o.pt --verify --input-shape 7");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err.rfind("tsopt: error: forward of the reference model rejects the inputs (7): ", 0),
            0u)
      << r.err;
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(CliRunVerify, TheVerdictIsTheSameOnEveryCpuCodePath) {
  // LibTorch's kernels and oneDNN's are chosen by instruction set, and round differently: the
  // float64 rule must not care. Two paths below the machine's own, and the machine's own.
  for (std::string path : {"ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41",
                           "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2", ""}) {
    // Not long_chain: its outputs do not depend on its inputs (the verdict warns so).
    for (std::string fixture : {"conv2d_bn", "nested"}) {
      std::string dir = test::tempDir();
      auto r =
          test::runCommand(path + " " + TSOPT_BIN_DIR + "/tsopt run " + test::fixturePath(fixture) +
                           " -O2 -o " + dir + "/o.pt --verify --report " + dir + "/r.json");
      EXPECT_EQ(r.exitCode, 0) << path << " " << fixture << ": " << r.err;
      nlohmann::json v = readJson(dir + "/r.json")["verify"];
      EXPECT_EQ(v["outputs"][0]["rule"], "float64") << path;
      EXPECT_LT(v["error_ratio"].get<double>(), 1) << path;
      EXPECT_EQ(v["warnings"].size(), 0u) << path << " " << fixture << ": " << v["warnings"];
    }
  }
}

TEST(CliRun, ATrainingModeModelIsNotFoldedAndSaysSoOnce) {
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + test::fixturePath("bn_training") + " -o " + dir + "/o.pt --report " +
                    dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string warning = "tsopt: warning: the model is in training mode";
  ASSERT_NE(r.err.find(warning), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning, r.err.find(warning) + 1), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fold-conv-bn skipped"), std::string::npos) << r.err;
  nlohmann::json j = readJson(dir + "/r.json");
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_NE(j["warnings"][0].get<std::string>().find("model.eval()"), std::string::npos);
  // An eval-mode model folds without the warning.
  r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/e.pt");
  EXPECT_EQ(r.err.find("training mode"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tsopt
