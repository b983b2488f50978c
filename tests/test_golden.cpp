// The golden-IR suite: every folder under golden/ with a `case` file is one test, found at run
// time (adding a case is adding files). Each runs its pipeline on a fixture and compares the
// canonical IR after every pass with the folder's NN-<pass>.ir files and .check directives.
// TSOPT_UPDATE_GOLDEN=1 records the files instead. `ctest -R golden` selects exactly these cases.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir_dump/golden.h"
#include "ir_dump/stages.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/torch_compat.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;

/// A golden case: golden/<id>/case says which fixture runs which pipeline.
struct GoldenCase {
  std::string id, dir;  ///< id: the folder below golden/, e.g. "conv2d_bn.traced/default"
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.id; }

/// Reads `case`: "model NAME.KIND", "pipeline TEXT" and optional "method NAME" lines.
struct CaseSpec {
  std::string model, kind, pipeline;
  std::vector<std::string> methods;
};

CaseSpec readCase(const std::string& dir) {
  CaseSpec spec;
  std::ifstream in(dir + "/case");
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, value;
    words >> key >> value;
    if (key == "model") {
      size_t dot = value.rfind('.');
      spec.model = value.substr(0, dot);
      spec.kind = dot == std::string::npos ? "" : value.substr(dot + 1);
    } else if (key == "pipeline") {
      spec.pipeline = value;
    } else if (key == "method") {
      spec.methods.push_back(value);
    } else if (!key.empty() && key[0] != '#') {
      throw Error(dir + "/case: unknown key '" + key + "' (model, pipeline, method)");
    }
  }
  if (spec.model.empty() || spec.kind.empty() || spec.pipeline.empty()) {
    throw Error(dir + "/case needs 'model NAME.KIND' and 'pipeline TEXT'");
  }
  if (spec.methods.empty()) spec.methods = {"forward"};
  return spec;
}

/// The canonical IR of every stage of the case's run.
std::vector<Stage> runCase(const std::string& dir) {
  CaseSpec spec = readCase(dir);
  torch::jit::Module m = loadModule(test::fixturePath(spec.model, spec.kind));
  auto stages = std::make_shared<StageIr>(false);
  auto recorder = std::make_shared<StageRecorder>(*stages, true, false);
  PassManager pm(parsePipeline(spec.pipeline));
  pm.addInstrumentation(stages);
  pm.addInstrumentation(recorder);
  pm.run(m, spec.methods);
  return recorder->stages();
}

std::vector<GoldenCase> discover() {
  std::vector<GoldenCase> cases;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(TSOPT_GOLDEN_DIR, ec)) {
    if (e.path().filename() != "case") continue;
    std::string dir = e.path().parent_path().string();
    cases.push_back({fs::relative(dir, TSOPT_GOLDEN_DIR).string(), dir});
  }
  std::sort(cases.begin(), cases.end(),
            [](const GoldenCase& a, const GoldenCase& b) { return a.id < b.id; });
  return cases;
}

bool updating() {
  const char* v = std::getenv("TSOPT_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

class GoldenIr : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenIr, MatchesExpectedFiles) {
  const GoldenCase& c = GetParam();
  std::vector<Stage> stages = runCase(c.dir);
  if (updating()) {
    // Recording never passes silently: a run that changed the golden tree fails, so that an
    // update left on in CI cannot hide a difference.
    std::vector<std::string> changed = writeGolden(c.dir, stages);
    for (const std::string& f : changed) std::cout << "recorded " << f << "\n";
    EXPECT_TRUE(changed.empty()) << "TSOPT_UPDATE_GOLDEN=1 recorded " << changed.size()
                                 << " files anew; review them (git diff golden/) and run again "
                                    "without it";
  }
  GoldenCheck check = compareGolden(c.dir, stages);
  EXPECT_TRUE(check.passed) << check.failure
                            << "\nIf the change is intended: TSOPT_UPDATE_GOLDEN=1 ctest -R golden";
}

std::string testName(const ::testing::TestParamInfo<GoldenCase>& info) {
  std::string name = info.param.id;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(golden, GoldenIr, ::testing::ValuesIn(discover()), testName);

// The suite can fail, says where, and update mode repairs it. (Not named "golden", so that
// `ctest -R golden` selects only the cases.)
TEST(GoldenSuite, AnAlteredExpectedFileFailsWithADiffAndUpdateRestoresIt) {
  std::string dir = test::tempDir() + "/case";
  fs::copy(std::string(TSOPT_GOLDEN_DIR) + "/conv_called_twice.traced/default", dir);
  ASSERT_TRUE(compareGolden(dir, runCase(dir)).passed);

  std::string file = dir + "/02-fold-conv-bn.ir";
  std::string good = test::readFile(file);
  std::string bad = good;
  bad.replace(bad.find("aten::_convolution"), 18, "aten::convolution_");
  std::ofstream(file) << bad;
  GoldenCheck check = compareGolden(dir, runCase(dir));
  EXPECT_FALSE(check.passed);
  EXPECT_EQ(
      check.failure.rfind(file + " differs from the IR after 02-fold-conv-bn:\n" +
                              "--- expected/02-fold-conv-bn.ir\n+++ actual/02-fold-conv-bn.ir\n@@",
                          0),
      0u)
      << check.failure;
  EXPECT_NE(check.failure.find("\n-  %"), std::string::npos);
  EXPECT_NE(check.failure.find("aten::convolution_"), std::string::npos);

  // Recording on 1.13 repairs the file; on another line, whose IR the folder's files do not
  // hold, it records this line's IR beside them.
  std::vector<std::string> written = writeGolden(dir, runCase(dir));
  const std::string own = dir + "/libtorch-" + compat::libtorchVersion() + "/02-fold-conv-bn.ir";
  const bool baseLine = compat::libtorchVersion() == compat::oldLine();
  EXPECT_EQ(written, (std::vector<std::string>{baseLine ? file : own}));
  EXPECT_EQ(test::readFile(baseLine ? file : own), good);
  EXPECT_TRUE(compareGolden(dir, runCase(dir)).passed);
}

TEST(GoldenSuite, ALineOwnFileIsComparedOnThatLineAndRemovedWhenItHoldsNothingNew) {
  std::string dir = test::tempDir() + "/case";
  fs::copy(std::string(TSOPT_GOLDEN_DIR) + "/conv_called_twice.traced/default", dir);
  const std::string own = dir + "/libtorch-" + compat::libtorchVersion();
  fs::create_directories(own);
  std::ofstream(own + "/02-fold-conv-bn.ir") << "graph():\n  return ()\n";
  GoldenCheck check = compareGolden(dir, runCase(dir));
  EXPECT_EQ(check.failure.rfind(own + "/02-fold-conv-bn.ir differs from the IR after ", 0), 0u)
      << check.failure;
  fs::remove(own + "/02-fold-conv-bn.ir");
  std::ofstream(own + "/07-gone.ir") << "";
  EXPECT_EQ(compareGolden(dir, runCase(dir)).failure,
            own + "/07-gone.ir names no stage of this run");
  std::ofstream(own + "/02-fold-conv-bn.ir") << "graph():\n  return ()\n";
  std::vector<std::string> written = writeGolden(dir, runCase(dir));
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, (std::vector<std::string>{own + "/02-fold-conv-bn.ir", own + "/07-gone.ir"}));
  EXPECT_FALSE(fs::exists(own));
  EXPECT_TRUE(compareGolden(dir, runCase(dir)).passed);
}

TEST(GoldenSuite, CheckFilesAndStrayFilesFail) {
  std::string dir = test::tempDir() + "/case";
  fs::copy(std::string(TSOPT_GOLDEN_DIR) + "/conv_called_twice.traced/default", dir);
  std::vector<Stage> stages = runCase(dir);
  std::ofstream(dir + "/03-dce.check") << "# CHECK-NOT: aten::_convolution\n";
  GoldenCheck check = compareGolden(dir, stages);
  EXPECT_FALSE(check.passed);
  EXPECT_EQ(check.failure.rfind(dir + "/03-dce.check failed on the IR after 03-dce: ", 0), 0u)
      << check.failure;
  std::ofstream(dir + "/03-dce.check") << "# CHECK-COUNT-2: aten::_convolution\n";
  EXPECT_TRUE(compareGolden(dir, stages).passed);
  std::ofstream(dir + "/09-gone.ir") << "";
  check = compareGolden(dir, stages);
  EXPECT_EQ(check.failure, dir + "/09-gone.ir names no stage of this run");
  writeGolden(dir, stages);  // removes the stray .ir, keeps the .check
  EXPECT_FALSE(fs::exists(dir + "/09-gone.ir"));
  EXPECT_TRUE(fs::exists(dir + "/03-dce.check"));
  EXPECT_TRUE(compareGolden(dir, stages).passed);
}

}  // namespace
}  // namespace tsopt
