// The tsopt binary end to end: run, passes, show, reports, plugins, exit codes, no partial files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::runTsopt;

TEST(Cli, RunSavesAModelThatComputesTheSameAndWritesAReport) {
  const test::Fixture& f = test::fixture("nested", "scripted");
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + f.path() + " -p 'inline,dce' -o " + dir +
                    "/out.pt --method forward "
                    "--method encode --report " +
                    dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + dir + "/out.pt"), std::string::npos) << r.out;

  torch::jit::Module out = loadModule(dir + "/out.pt");
  EXPECT_EQ(test::irOf(out).find("prim::CallMethod"), std::string::npos);
  test::expectSameNumerics(f, out);
  test::expectSameNumerics(f, out, "encode");

  std::ifstream in(dir + "/r.json");
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["input"], f.path());
  EXPECT_EQ(j["output"], dir + "/out.pt");
  EXPECT_EQ(j["pipeline"], "inline,dce");
  EXPECT_EQ(j["method"], "forward");
  EXPECT_EQ(j["methods"], (std::vector<std::string>{"forward", "encode"}));
  EXPECT_GT(j["total_ms"].get<double>(), 0);
  ASSERT_EQ(j["passes"].size(), 2u);
  EXPECT_EQ(j["passes"][0]["name"], "inline");
  EXPECT_EQ(j["passes"][0]["changed"], true);
  EXPECT_GT(j["passes"][0]["nodes_after"].get<int>(), j["passes"][0]["nodes_before"].get<int>());
  EXPECT_GT(j["passes"][0]["stats"]["inlined"].get<int>(), 0);
  EXPECT_EQ(j["passes"][1]["nodes_before"], j["passes"][0]["nodes_after"]);
  EXPECT_TRUE(j["passes"][1].contains("ms"));
}

TEST(Cli, OperatorCountsCompareTheInlinedInputWithTheResult) {
  // The counts before are of the input with its calls inlined, as the result is: a fold shows
  // as batch_norm 1 -> 0, not as the calls inlining expanded.
  const std::string dir = test::tempDir(), model = test::fixturePath("conv2d_bn");
  auto r = runTsopt("run " + model + " -p inline,fold-conv-bn,dce,strip -o " + dir +
                    "/out.pt --report " + dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(test::readFile(dir + "/r.json"));
  EXPECT_EQ(j["operators"]["aten::batch_norm"], nlohmann::json({{"before", 1}, {"after", 0}}));
  EXPECT_FALSE(j["operators"].contains("prim::CallMethod"));  // the input counted inlined too
  int64_t before = 0, after = 0;
  for (const auto& [kind, counts] : j["operators"].items()) {
    before += counts["before"].get<int64_t>();
    after += counts["after"].get<int64_t>();
  }
  EXPECT_EQ(j["nodes_before"], before);
  EXPECT_EQ(j["nodes_after"], after);
  // Like with like: the input inlined, counted as the result is.
  std::map<std::string, int64_t> inlined;
  forEachNode(inlinedCopy(loadModule(model), "forward")->block(),
              [&](torch::jit::Node* n) { ++inlined[n->kind().toQualString()]; });
  for (const auto& [kind, n] : inlined) EXPECT_EQ(j["operators"][kind]["before"], n) << kind;
  size_t kindsBefore = 0;
  for (const auto& [kind, counts] : j["operators"].items()) kindsBefore += counts["before"] > 0;
  EXPECT_EQ(kindsBefore, inlined.size());
  EXPECT_NE(r.out.find("tsopt: inline,fold-conv-bn,dce,strip: " + std::to_string(before) + " -> " +
                       std::to_string(after) + " nodes, "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\ntsopt: operators: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("aten::batch_norm 1 -> 0"), std::string::npos) << r.out;
}

TEST(Cli, DefaultPipelineAndTimingAndStats) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + f.path() + " -o " + dir + "/o.pt --time-passes --stats");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("pass timing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("inline: inlined="), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dce:"), std::string::npos) << r.err;
}

TEST(Cli, ReportHasThePhasesAndTheSizesAndTheDefaultOutputIsNoLarger) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + f.path() + " -o " + dir + "/o.pt --verify --report " + dir +
                    "/r.json --lint=full");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream in(dir + "/r.json");
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["input_bytes"], std::filesystem::file_size(f.path()));
  EXPECT_EQ(j["output_bytes"], std::filesystem::file_size(dir + "/o.pt"));
  EXPECT_LT(j["output_bytes"], j["input_bytes"]) << "the folded weights replace the originals";
  const nlohmann::json& ph = j["phases"];
  double parts = 0;
  for (const char* k : {"load_ms", "passes_ms", "checks_ms", "instrumentation_ms", "overhead_ms",
                        "verify_ms", "save_ms", "reports_ms"}) {
    ASSERT_TRUE(ph.contains(k)) << k;
    EXPECT_GE(ph[k].get<double>(), 0) << k;
    parts += ph[k].get<double>();
  }
  EXPECT_GT(ph["load_ms"].get<double>(), 0);
  EXPECT_GT(ph["verify_ms"].get<double>(), 0);
  EXPECT_GT(ph["checks_ms"].get<double>(), 0) << "--lint=full checks after every pass";
  EXPECT_LE(parts, ph["total_ms"].get<double>() + 1e-6);
  double passes = 0, checks = 0;
  for (const nlohmann::json& p : j["passes"]) {
    passes += p["ms"].get<double>();
    checks += p["check_ms"].get<double>();
  }
  EXPECT_NEAR(ph["passes_ms"].get<double>(), passes, 1e-9);
  EXPECT_NEAR(ph["checks_ms"].get<double>(), checks, 1e-9);
  EXPECT_NE(r.out.find(" MB -> "), std::string::npos) << r.out;
}

TEST(Cli, PipelineFromAFile) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  std::string dir = test::tempDir();
  std::ofstream(dir + "/p.txt") << "# comment\ninline{max-depth=1},\ndce\n";
  auto r = runTsopt("run " + f.path() + " -p @" + dir + "/p.txt -o " + dir + "/o.pt --report " +
                    dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::ifstream in(dir + "/r.json");
  EXPECT_EQ(nlohmann::json::parse(in)["pipeline"], "inline{max-depth=1},dce");
}

TEST(Cli, KeepGoingSkipsTheFailingPassAndReportsIt) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + f.path() + " -p inline,test-throw,fold-conv-bn,dce -o " + dir +
                    "/o.pt --keep-going --report " + dir + "/r.json -q --plugin " +
                    test::pluginPath("tsopt_test_plugin_throwing_pass"));
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err,
            "tsopt: warning: pass 'test-throw' failed on method 'forward': deliberate failure; "
            "skipped (keep-going): the model is as before it\n");
  std::ifstream in(dir + "/r.json");
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["passes"][1]["failed"], true);
  EXPECT_EQ(j["passes"][1]["error"],
            "pass 'test-throw' failed on method 'forward': deliberate failure");
  EXPECT_EQ(j["passes"][2]["failed"], false);
  EXPECT_EQ(j["passes"][2]["stats"]["folded"], 1);  // the passes after it still ran
  torch::jit::Module out = loadModule(dir + "/o.pt");
  test::expectSameNumerics(f, out);
}

TEST(Cli, PassesListsEveryPassWithOptions) {
  auto r = runTsopt("passes");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("backport ", 0), 0u) << "passes are sorted, one per line, name first";
  EXPECT_NE(r.out.find("\ndce "), std::string::npos);
  EXPECT_NE(r.out.find("\ninline "), std::string::npos);
  EXPECT_NE(r.out.find("    max-depth=<int>"), std::string::npos);

  auto j = runTsopt("passes --json --plugin " + test::pluginPath("tsopt_example_plugin"));
  ASSERT_EQ(j.exitCode, 0) << j.err;
  nlohmann::json all = nlohmann::json::parse(j.out);
  const nlohmann::json& list = all["passes"];
  ASSERT_EQ(all["presets"].size(), 4u);
  EXPECT_EQ(all["presets"][0]["name"], "O0");
  EXPECT_EQ(all["presets"][0]["pipeline"], "");
  EXPECT_EQ(all["presets"][1]["pipeline"], "inline,fold-conv-bn,fold-linear-bn,dce,strip");
  EXPECT_NE(r.out.find("\n-O2  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n-O backport  "), std::string::npos) << r.out;
  bool sawPlugin = false, sawInline = false;
  for (const auto& p : list) {
    if (p["name"] == "example-remove-dropout") sawPlugin = p["origin"] != "builtin";
    if (p["name"] == "inline") {
      sawInline = true;
      EXPECT_EQ(p["options"].size(), 3u);
      EXPECT_EQ(p["options"][2]["name"], "max-depth");
      EXPECT_EQ(p["options"][2]["type"], "int");
      EXPECT_EQ(p["options"][2]["default"], "-1");
    }
  }
  EXPECT_TRUE(sawPlugin);
  EXPECT_TRUE(sawInline);
}

TEST(Cli, RunWithAPluginPass) {
  const test::Fixture& f = test::fixture("dropout", "traced");
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + f.path() + " -p inline,example-remove-dropout,dce -o " + dir +
                    "/o.pt --plugin " + test::pluginPath("tsopt_example_plugin"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  torch::jit::Module out = loadModule(dir + "/o.pt");
  EXPECT_EQ(test::irOf(out).find("dropout"), std::string::npos);
  test::expectSameNumerics(f, out);
}

TEST(Cli, ShowPrintsIrCodeAndInlined) {
  const std::string path = test::fixture("nested", "scripted").path();
  auto ir = runTsopt("show " + path);
  ASSERT_EQ(ir.exitCode, 0) << ir.err;
  EXPECT_EQ(ir.out.rfind("graph(%self", 0), 0u) << ir.out;
  EXPECT_NE(ir.out.find("prim::CallMethod"), std::string::npos);

  auto inl = runTsopt("show " + path + " --inline");
  EXPECT_EQ(inl.out.find("prim::CallMethod"), std::string::npos);
  EXPECT_NE(inl.out.find("aten::conv2d"), std::string::npos);

  auto code = runTsopt("show " + path + " --code --method encode");
  ASSERT_EQ(code.exitCode, 0) << code.err;
  EXPECT_NE(code.out.find("def encode(self"), std::string::npos) << code.out;

  auto bad = runTsopt("show " + path + " --method nope");
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err,
            "tsopt: error: the model has no method 'nope' (it has: forward, encode, helper)\n");
}

}  // namespace
}  // namespace tsopt
