// Reproducers: a failing pass (throws, breaks the graph, is blamed for a difference) leaves the
// model as it was just before it and a repro.sh that fails the same way in one `tsopt run`.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "passes/core/module_io.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::readFile;
using test::runCommand;
using test::runTsopt;

/// The first line of `text`.
std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

/// The part of an error line before the reproducer's note, with value numbers left out (a saved
/// and loaded graph numbers its values anew).
std::string beforeNote(const std::string& line) {
  return std::regex_replace(line.substr(0, line.find("; reproducer")), std::regex("%[0-9]+"), "%N");
}

struct FailingCase {
  const char* name;
  std::string plugin, pipeline, prefix, message;
};

void PrintTo(const FailingCase& c, std::ostream* os) { *os << c.name; }

class ReproducerOf : public ::testing::TestWithParam<FailingCase> {};

TEST_P(ReproducerOf, IsTheModelBeforeThePassAndACommandThatFailsTheSameWay) {
  const FailingCase& c = GetParam();
  std::string dir = test::tempDir(), repro = dir + "/repro";
  std::string model = test::fixturePath("conv2d_bn");
  std::string plugin = test::pluginPath(c.plugin);
  auto r = runTsopt("run " + model + " -o " + dir + "/out.pt -p " + c.pipeline + " --plugin " +
                    plugin + " --reproducer " + repro);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err.rfind("tsopt: error: " + c.message, 0), 0u) << r.err;
  EXPECT_EQ(r.err.substr(r.err.find("; reproducer")), "; reproducer: " + repro + "/repro.sh\n");
  EXPECT_FALSE(fs::exists(dir + "/out.pt"));

  std::string pass = c.pipeline.substr(c.pipeline.rfind(',') + 1);
  EXPECT_EQ(readFile(repro + "/pipeline.txt"), pass + "\n");
  // The model is the input run through the passes before the failing one.
  ASSERT_EQ(runTsopt("run " + model + " -q -o " + dir + "/prefix.pt -p " + c.prefix).exitCode, 0);
  EXPECT_EQ(test::irOf(loadModule(repro + "/model.pt")),
            test::irOf(loadModule(dir + "/prefix.pt")));

  auto again = runCommand(repro + "/repro.sh");
  EXPECT_EQ(again.exitCode, 2);
  EXPECT_EQ(beforeNote(firstLine(again.err)), beforeNote(firstLine(r.err))) << again.err;
  EXPECT_NE(readFile(repro + "/repro.sh").find(" --plugin " + plugin), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Failures, ReproducerOf,
    ::testing::Values(
        FailingCase{"Throws", "tsopt_test_plugin_throwing_pass", "inline,dce,test-throw",
                    "inline,dce",
                    "pass 'test-throw' failed on method 'forward': deliberate failure"},
        FailingCase{"BreaksTheGraph", "tsopt_test_plugin_throwing_pass",
                    "inline,fold-conv-bn,test-break-graph", "inline,fold-conv-bn",
                    "pass 'test-break-graph' left an invalid graph in method 'forward': node "
                    "prim::TupleConstruct"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Reproducer, OfAPassBlamedForADifferenceVerifiesWithTheRunsSettings) {
  std::string dir = test::tempDir(), repro = dir + "/repro";
  std::string plugin = test::pluginPath("tsopt_test_plugin_unsafe_drop_relu");
  auto r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/out.pt -p inline,fold-conv-bn,unsafe-drop-relu,dce --plugin " + plugin +
                    " --bisect --seed 3 --trials 2 --rtol 1e-3 --reproducer " + repro +
                    " --report " + dir + "/report.json");
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("tsopt: verify: reproducer: " + repro + "/repro.sh\n"), std::string::npos)
      << r.err;
  nlohmann::json report = nlohmann::json::parse(readFile(dir + "/report.json"));
  EXPECT_EQ(report["verify"]["reproducer"],
            (nlohmann::json{{"script", repro + "/repro.sh"}, {"reproduces", true}}));
  EXPECT_EQ(readFile(repro + "/pipeline.txt"), "unsafe-drop-relu\n");
  std::string script = readFile(repro + "/repro.sh");
  EXPECT_NE(script.find(" --verify-strict --rtol 1e-3 --trials 2 --seed 3\n"), std::string::npos)
      << script;

  auto again = runCommand(repro + "/repro.sh");
  EXPECT_EQ(again.exitCode, 1) << again.err;
  EXPECT_EQ(again.err.rfind("tsopt: verify: outputs differ: ", 0), 0u) << again.err;
  EXPECT_FALSE(fs::exists(repro + "/result.pt"));
}

TEST(Reproducer, GoesToANewTemporaryFolderByDefaultAndNowhereWhenNotWanted) {
  std::string dir = test::tempDir();
  std::string args = " run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                     "/out.pt -p inline,test-throw --plugin " +
                     test::pluginPath("tsopt_test_plugin_throwing_pass");
  std::string tsopt = "export TMPDIR=" + dir + "; " + TSOPT_BIN_DIR + "/tsopt";
  auto r = runCommand(tsopt + args);
  EXPECT_EQ(r.exitCode, 2);
  const std::string note = "; reproducer: " + dir + "/tsopt-repro-";
  ASSERT_NE(r.err.find(note), std::string::npos) << r.err;
  std::string script = r.err.substr(r.err.find(note) + 14);
  script.pop_back();  // the newline
  EXPECT_TRUE(fs::exists(script)) << script;
  EXPECT_EQ(fs::path(script).filename(), "repro.sh");

  fs::remove_all(fs::path(script).parent_path());
  r = runCommand(tsopt + args + " --no-reproducer");
  EXPECT_EQ(r.err,
            "tsopt: error: pass 'test-throw' failed on method 'forward': deliberate failure\n");
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(Reproducer, AFolderThatCannotTakeOneIsRefusedBeforeTheRun) {
  // Checked with the other outputs, before anything loads: a failure found an hour later must
  // not be the moment the folder turns out unwritable.
  std::string dir = test::tempDir();
  std::string model = test::fixturePath("conv2d_bn");
  for (const char* pipeline : {"inline,test-throw", "inline"}) {
    auto r = runTsopt("run " + model + " -o " + dir + "/out.pt -p " + std::string(pipeline) +
                      " --plugin " + test::pluginPath("tsopt_test_plugin_throwing_pass") +
                      " --reproducer /proc/tsopt-repro");
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_EQ(r.err,
              "tsopt: error: cannot write the reproducer folder '/proc/tsopt-repro': folder "
              "'/proc' is not writable\n");
    EXPECT_TRUE(fs::is_empty(dir));
  }
}

}  // namespace
}  // namespace tsopt
