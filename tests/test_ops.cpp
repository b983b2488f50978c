// Operator libraries: a model that calls torchvision's operators loads with torchvision's library
// found and loaded for it; --ops and TSOPT_OPS load a library for any command; show --summary
// says what a model needs; the report lists what was loaded and why.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "passes/core/module_io.h"
#include "passes/core/op_library.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

std::string fixtureFile(const std::string& name) {
  return std::string(TSOPT_FIXTURE_DIR) + "/" + name;
}

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(OperatorLibraries, TorchvisionsLibraryIsFoundAndLoadedForAModelThatCallsIt) {
  const std::string lib = findOperatorLibrary("torchvision");
  ASSERT_NE(lib, "") << "python3-torchvision's library is installed by scripts/install-deps";
  EXPECT_EQ(findOperatorLibrary("no_such_namespace"), "");
  std::string dir = test::tempDir();
  auto r = test::runTsopt("run " + fixtureFile("uses_nms.pt") + " -o " + dir + "/o.pt --report " +
                          dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "tsopt: loaded operator library " + lib + " for torchvision::nms\n");
  EXPECT_EQ(readJson(dir + "/r.json")["operator_libraries"],
            nlohmann::json::parse(R"([{"path": ")" + lib + R"(", "reason": "torchvision::nms"}])"));

  // The optimised model computes what the original does (it calls nms too).
  auto v = test::runTsopt("verify " + fixtureFile("uses_nms.pt") + " " + dir +
                          "/o.pt --input-shape 6x5");
  EXPECT_EQ(v.exitCode, 0) << v.err;

  // As saved by PyTorch, nms is called inside torchvision.ops.nms, a function forward calls;
  // optimised, it is in forward itself. Both say what they need.
  for (const std::string& path : {fixtureFile("uses_nms.pt"), dir + "/o.pt"}) {
    auto s = test::runTsopt("show --summary " + path);
    ASSERT_EQ(s.exitCode, 0) << s.err;
    EXPECT_NE(s.out.find("operator library needed: torchvision (torchvision::nms); load it with "
                         "--ops " +
                         lib + "\n"),
              std::string::npos)
        << path << ":\n"
        << s.out;
  }
}

TEST(OperatorLibraries, OpsAndTheEnvironmentLoadALibraryForEveryCommand) {
  const std::string lib = test::pluginPath("tsopt_test_ops");
  const std::string model = fixtureFile("uses_test_op.pt");
  std::string dir = test::tempDir();
  auto r = test::runTsopt("run " + model + " -o " + dir + "/o.pt --ops " + lib + " --report " +
                          dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "") << "a library asked for is loaded without a word";
  EXPECT_EQ(readJson(dir + "/r.json")["operator_libraries"],
            nlohmann::json::parse(R"([{"path": ")" + lib + R"(", "reason": "asked for"}])"));

  auto s = test::runCommand("TSOPT_OPS=" + lib + " " + TSOPT_BIN_DIR + "/tsopt show --summary " +
                            dir + "/o.pt");
  ASSERT_EQ(s.exitCode, 0) << s.err;
  EXPECT_NE(s.out.find("operator library needed: tsopt_test (tsopt_test::double_it); load it "
                       "with --ops LIB.so\n"),
            std::string::npos)
      << s.out;
  auto v =
      test::runTsopt("verify " + model + " " + dir + "/o.pt --ops " + lib + " --input-shape 2x3");
  EXPECT_EQ(v.exitCode, 0) << v.err;

  // In this process too: the saved model computes 2x + 1 once the library is loaded.
  loadOperatorLibrary(lib);
  torch::jit::Module m = loadModule(dir + "/o.pt");
  at::Tensor x = at::randn({2, 3});
  EXPECT_TRUE(m.forward({x}).toTensor().equal(x * 2 + 1));
}

TEST(OperatorLibraries, ShowSummarySaysWhatAModelHolds) {
  const test::Fixture& f = test::fixture("conv2d_bn", "traced");
  auto s = test::runTsopt("show --summary " + f.path());
  ASSERT_EQ(s.exitCode, 0) << s.err;
  // One Seq holding a Sequential of Conv2d, BatchNorm2d and ReLU; conv 8x3x3x3 + bias, BatchNorm
  // weight, bias, mean, var of 8 and num_batches_tracked.
  EXPECT_NE(s.out.find("\nsubmodules: 4\ntensors: 7 (0.0 MB) in parameters, buffers and "
                       "attributes\nLibTorch: archive format version 3; loads in LibTorch >= "
                       "1.13\noperator libraries: none needed (LibTorch's operators only)\n"),
            std::string::npos)
      << s.out;
  EXPECT_EQ(s.out.rfind("model: " + f.path() + " (", 0), 0u) << s.out;
  EXPECT_NE(s.out.find("methods: forward ("), std::string::npos) << s.out;
}

}  // namespace
}  // namespace tsopt
