// The pass registry: built-ins registered from the static library, duplicates rejected.
#include <gtest/gtest.h>

#include "passes/core/error.h"
#include "passes/core/registry.h"

namespace tsopt {
namespace {

template <const char* Name>
class NamedPass : public GraphPass {
 public:
  std::string name() const override { return Name; }
  std::string description() const override { return "test pass"; }
  bool run(const std::shared_ptr<torch::jit::Graph>&, PassContext&) override { return false; }
};
constexpr char kAlpha[] = "alpha-pass";
constexpr char kBadName[] = "Bad_Name";
constexpr char kReserved[] = "fixed-point";

TEST(Registry, BuiltinsRegisterFromTheStaticLibrary) {
  const PassRegistry& r = PassRegistry::global();
  EXPECT_TRUE(r.staticErrors().empty());
  for (const char* name : {"inline", "dce", "torch-inline", "torch-dce", "torch-cse"}) {
    const PassInfo* info = r.find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->origin, "builtin");
    EXPECT_FALSE(info->description.empty());
    EXPECT_EQ(r.create(name)->name(), name);
  }
}

TEST(Registry, DuplicateNameIsAnError) {
  PassRegistry r;
  r.add<NamedPass<kAlpha>>("first");
  try {
    r.add<NamedPass<kAlpha>>("second");
    FAIL() << "duplicate accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "pass 'alpha-pass' from second is already registered by first");
  }
  EXPECT_EQ(r.find("alpha-pass")->origin, "first");
}

TEST(Registry, NamesMustBeKebabCaseAndNotReserved) {
  PassRegistry r;
  EXPECT_THROW(r.add<NamedPass<kBadName>>(), Error);
  EXPECT_THROW(r.add<NamedPass<kReserved>>(), Error);
  EXPECT_TRUE(r.all().empty());
}

TEST(Registry, CreatingAnUnknownPassSuggests) {
  try {
    PassRegistry::global().create("inlne");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'inline'?"), std::string::npos);
  }
}

TEST(Registry, Suggestions) {
  std::vector<std::string> names = {"inline", "dce", "fold-conv-bn", "fold-linear-bn"};
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(closestMatch("dec", names), "dce");
  EXPECT_EQ(closestMatch("fold-conv-nb", names), "fold-conv-bn");
  EXPECT_EQ(closestMatch("completely-different", names), "");
}

}  // namespace
}  // namespace tsopt
