// The LibTorch a model needs: `show --summary` names the oldest release that loads it, and a model
// calling an operator (or an overload) newer than this LibTorch fails to load with one line that
// says which LibTorch it needs. The archives are made by tests/hostile/make_hostile.py: forward
// returns a call that LibTorch 1.13 lacks and 2.x has, so the same file tests both builds.
#include <gtest/gtest.h>

#include "passes/core/torch_compat.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

const bool kOld = compat::libtorchVersion() == compat::oldLine();

std::string crafted(const std::string& name) {
  return std::string(TSOPT_HOSTILE_DIR) + "/" + name + ".pt";
}

/// The `show --summary` line about LibTorch, or the one error line where the model cannot load.
test::CommandResult summary(const std::string& name) {
  return test::runTsopt("show '" + crafted(name) + "' --summary");
}

std::string libtorchLine(const std::string& out) {
  size_t at = out.find("LibTorch: ");
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

TEST(Compat, TheSummaryNamesTheArchiveFormatAndTheOldestLibTorch) {
  test::CommandResult r = summary("relu");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(libtorchLine(r.out), "LibTorch: archive format version 3; loads in LibTorch >= 1.13");
}

/// On 1.13 the crafted model `name` fails to load with `error` after its path; on 2.x it loads
/// and its summary's LibTorch line is `summaryLine`.
void expectNeeds2x(const std::string& name, const std::string& error,
                   const std::string& summaryLine) {
  test::CommandResult r = summary(name);
  if (kOld) {
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_EQ(r.err, "tsopt: error: cannot load model '" + crafted(name) + "': " + error + "\n");
  } else {
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(libtorchLine(r.out), summaryLine);
  }
}

TEST(Compat, AnOperatorNewerThan113IsNamedWithTheLibTorchItNeeds) {
  expectNeeds2x("calls_sdpa",
                "it calls aten::scaled_dot_product_attention, which LibTorch 1.13 lacks: it needs "
                "LibTorch >= 2.0 (aten::scaled_dot_product_attention is in " +
                    std::string(compat::newLine()) + ")",
                "LibTorch: archive format version 3; needs LibTorch >= 2.0: it calls "
                "aten::scaled_dot_product_attention, which LibTorch 1.13 lacks");
}

TEST(Compat, AnOverloadNewerThan113IsNamedWithTheLibTorchItNeeds) {
  expectNeeds2x("calls_squeeze_dims",
                "it calls aten::squeeze in a form, which LibTorch 1.13 lacks: it needs LibTorch "
                ">= 2.0 (aten::squeeze.dims is in " +
                    std::string(compat::newLine()) + ")",
                "LibTorch: archive format version 3; needs LibTorch >= 2.0: it calls "
                "aten::squeeze.dims, which LibTorch 1.13 lacks");
}

TEST(Compat, OtherLoadFailuresAreNotBlamedOnTheLibTorchVersion) {
  EXPECT_EQ(compat::newerLibTorchNeeded("Unknown builtin op: torchvision::nms"), "");
  EXPECT_EQ(compat::newerLibTorchNeeded("Arguments for call are not valid.\n  aten::add(Tensor "
                                        "self, Tensor other) -> Tensor:\n  Expected ..."),
            "");
  EXPECT_EQ(compat::newerLibTorchNeeded("PytorchStreamReader failed reading zip archive"), "");
}

}  // namespace
}  // namespace tsopt
