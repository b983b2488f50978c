// `tsopt reduce`: passes that fail on purpose (test plugins) inside a fixture of 40 conv-bn-relu
// layers; the reduced model is a small fraction of it, holds what the failure needs, and fails
// the same way in the one `tsopt run` that reduce prints.
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <filesystem>
#include <regex>

#include "passes/core/instrumentations.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::runCommand;
using test::runTsopt;
using torch::jit::testing::FileCheck;

struct ReduceCase {
  const char* name;
  std::string plugin, pipeline, until;
  std::string kept;     ///< what the reduced graph must still hold (FileCheck), "" for nothing
  int exitCode;         ///< of the printed command
  std::string failure;  ///< in its stderr
};

void PrintTo(const ReduceCase& c, std::ostream* os) { *os << c.name; }

class Reduce : public ::testing::TestWithParam<ReduceCase> {};

TEST_P(Reduce, KeepsTheFailureInASmallFractionOfTheModel) {
  const ReduceCase& c = GetParam();
  std::string dir = test::tempDir(), small = dir + "/small.pt";
  std::string model = test::fixturePath("long_chain");
  auto r = runTsopt("reduce " + model + " -p " + c.pipeline + " --until " + c.until + " --plugin " +
                    test::pluginPath(c.plugin) + " -o " + small);
  ASSERT_EQ(r.exitCode, 0) << r.err;

  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m, std::regex("tsopt: reduce: ([0-9]+) -> ([0-9]+) nodes in the model before pass")))
      << r.out;
  const int64_t start = std::stoll(m[1]), after = std::stoll(m[2]);
  torch::jit::Module reduced = loadModule(small);
  EXPECT_EQ(NodeCounts::count(reduced, {"forward"}), after);
  EXPECT_GT(start, 300);
  EXPECT_LE(after * 20, start) << "the reduced model must be a small fraction of the original";
  if (!c.kept.empty()) {
    FileCheck().check_count(c.kept, 1, /*exactly=*/true)->run(*methodGraph(reduced, "forward"));
  }
  EXPECT_NE(r.err.find("tsopt: reduce: pass "), std::string::npos) << "progress is shown";

  // The printed command fails on the reduced model, the way the pipeline failed on the input.
  std::string command = r.out.substr(r.out.find("with: tsopt ") + 11);
  command = std::string(TSOPT_BIN_DIR) + "/tsopt" + command.substr(0, command.find('\n'));
  auto again = runCommand("cd " + dir + " && " + command);
  EXPECT_EQ(again.exitCode, c.exitCode) << again.err;
  EXPECT_NE(again.err.find(c.failure), std::string::npos) << again.err;
}

INSTANTIATE_TEST_SUITE_P(
    FailingPlugins, Reduce,
    ::testing::Values(
        ReduceCase{"Crash", "tsopt_test_plugin_throwing_pass", "inline,fold-conv-bn,test-throw",
                   "crash", "", 2,
                   "pass 'test-throw' failed on method 'forward': deliberate failure"},
        ReduceCase{"CrashNeedingABatchNorm", "tsopt_test_plugin_throwing_pass",
                   "inline,test-throw-on-batch-norm", "crash", "aten::batch_norm(", 2,
                   "found a batch norm"},
        ReduceCase{"Invalid", "tsopt_test_plugin_throwing_pass", "inline,dce,test-break-graph",
                   "invalid", "", 2, "pass 'test-break-graph' left an invalid graph"},
        ReduceCase{"Differs", "tsopt_test_plugin_unsafe_drop_relu",
                   "inline,fold-conv-bn,unsafe-drop-relu,dce", "differs", "aten::relu(", 1,
                   "tsopt: verify: outputs differ"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Reduce, TakesApartTheControlFlowOfAScriptedTorchvisionModel) {
  // FCN-ResNet50, scripted: a thousand nodes once inlined, with prim::If and prim::Loop.
  std::string dir = test::tempDir(), small = dir + "/small.pt";
  auto r = runTsopt("reduce " TSOPT_ZOO_DIR
                    "/fcn.scripted.pt -q -p inline,test-throw-on-batch-norm "
                    "--until crash --plugin " +
                    test::pluginPath("tsopt_test_plugin_throwing_pass") + " -o " + small);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("([0-9]+) -> ([0-9]+) nodes"))) << r.out;
  EXPECT_GT(std::stoll(m[1]), 900);
  EXPECT_LE(std::stoll(m[2]) * 20, std::stoll(m[1]));
  std::shared_ptr<torch::jit::Graph> g = methodGraph(loadModule(small), "forward");
  FileCheck().check_count("aten::batch_norm(", 1, true)->run(*g);
  FileCheck().check_not("prim::If")->check_not("prim::Loop")->run(*g);
}

TEST(Reduce, RefusesAPipelineThatDoesNotFailTheWayAskedAndWritesNothing) {
  std::string dir = test::tempDir(), small = dir + "/small.pt";
  std::string model = test::fixturePath("conv2d_bn");
  std::string throwing = " --plugin " + test::pluginPath("tsopt_test_plugin_throwing_pass");
  auto r = runTsopt("reduce " + model + " -p inline,dce --until crash -o " + small);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "tsopt: error: the pipeline does not fail on '" + model + "' (--until crash)\n");
  r = runTsopt("reduce " + model + " -p inline,test-throw --until differs -o " + small + throwing);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err,
            "tsopt: error: the pipeline fails with 'crash' in pass 2 'test-throw', not with "
            "'differs': pass 'test-throw' failed on method 'forward': deliberate failure\n");
  r = runTsopt("reduce " + model + " -p inline --until wrong -o " + small);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_FALSE(fs::exists(small));
  EXPECT_TRUE(fs::is_empty(dir));
}

}  // namespace
}  // namespace tsopt
