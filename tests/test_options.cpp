// Typed pass options: parsing, ranges, printing.
#include <gtest/gtest.h>

#include "passes/core/error.h"
#include "passes/core/pass.h"

namespace tsopt {
namespace {

class OptionsPass : public GraphPass {
 public:
  std::string name() const override { return "options-pass"; }
  std::string description() const override { return "test"; }
  bool run(const std::shared_ptr<torch::jit::Graph>&, PassContext&) override { return false; }

  BoolOption flag{*this, "flag", "a bool", false};
  IntOption depth{*this, "depth", "an int", 3, int64_t{0}, int64_t{10}};
  DoubleOption eps{*this, "eps", "a double", 1e-5, 0.0};
  StringOption mode{*this, "mode", "a string", "fast"};
  ListOption names{*this, "names", "a list", {}};
};

OptionValue scalar(const std::string& s) { return OptionValue{false, s, {}}; }
OptionValue list(std::vector<std::string> v) { return OptionValue{true, "", std::move(v)}; }

TEST(Options, ParsesEachType) {
  OptionsPass p;
  p.flag.set(scalar("true"));
  p.depth.set(scalar("7"));
  p.eps.set(scalar("2.5e-3"));
  p.mode.set(scalar("exact"));
  p.names.set(list({"A", "B"}));
  EXPECT_TRUE(p.flag.value());
  EXPECT_EQ(p.depth.value(), 7);
  EXPECT_DOUBLE_EQ(p.eps.value(), 2.5e-3);
  EXPECT_EQ(p.mode.value(), "exact");
  EXPECT_EQ(p.names.value(), (std::vector<std::string>{"A", "B"}));
}

TEST(Options, ScalarBecomesOneElementList) {
  OptionsPass p;
  p.names.set(scalar("Only"));
  EXPECT_EQ(p.names.value(), std::vector<std::string>{"Only"});
}

TEST(Options, RejectsWrongTypes) {
  OptionsPass p;
  EXPECT_THROW(p.flag.set(scalar("maybe")), Error);
  EXPECT_THROW(p.depth.set(scalar("2.5")), Error);
  EXPECT_THROW(p.depth.set(scalar("")), Error);
  EXPECT_THROW(p.eps.set(scalar("abc")), Error);
  EXPECT_THROW(p.depth.set(list({"1"})), Error);
}

TEST(Options, EnforcesRangesAndNamesPassAndOption) {
  OptionsPass p;
  try {
    p.depth.set(scalar("11"));
    FAIL() << "no error for an out-of-range value";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "option 'depth' of pass 'options-pass' must be in [0, 10], got 11");
  }
  EXPECT_THROW(p.eps.set(scalar("-1")), Error);
  EXPECT_EQ(p.depth.value(), 3) << "a rejected value must not stick";
}

TEST(Options, PrintsOnlyNonDefaultOptions) {
  OptionsPass p;
  EXPECT_EQ(p.str(), "options-pass");
  p.depth.set(scalar("5"));
  p.names.set(list({"a b", "c"}));
  EXPECT_EQ(p.str(), "options-pass{depth=5 names=[\"a b\",c]}");
}

}  // namespace
}  // namespace tsopt
