// The textual pipeline parser: good pipelines round-trip; bad ones point at the column.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "passes/core/error.h"
#include "passes/core/pipeline.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

std::string errorOf(const std::string& text) {
  try {
    parsePipeline(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Pipeline, ParsesPassesOptionsAndGroups) {
  Pipeline p = parsePipeline(
      " inline{max-depth=2} , fixed-point{max-iterations=4}(torch-constant-propagation,dce),"
      "inline{only=[A,\"B c\"] skip=D}");
  ASSERT_EQ(p.elements.size(), 3u);
  EXPECT_EQ(p.elements[0].pass->name(), "inline");
  EXPECT_TRUE(p.elements[1].isGroup());
  EXPECT_EQ(p.elements[1].maxIterations, 4);
  ASSERT_EQ(p.elements[1].group.size(), 2u);
  EXPECT_EQ(p.elements[1].group[1].pass->name(), "dce");
  EXPECT_EQ(p.str(),
            "inline{max-depth=2},fixed-point{max-iterations=4}(torch-constant-propagation,dce),"
            "inline{only=[A,\"B c\"] skip=[D]}");
}

TEST(Pipeline, CanonicalTextParsesBackToItself) {
  for (const char* text : {"inline,dce", "fixed-point(dce)", "inline{skip=[x,y] max-depth=0}",
                           "fixed-point(fixed-point{max-iterations=2}(dce),inline)"}) {
    std::string once = parsePipeline(text).str();
    EXPECT_EQ(parsePipeline(once).str(), once) << text;
  }
}

TEST(Pipeline, OptionsSeparatedByCommasOrSpaces) {
  EXPECT_EQ(parsePipeline("inline{max-depth=1,skip=A}").str(),
            parsePipeline("inline{max-depth=1 skip=A}").str());
}

TEST(Pipeline, GroupsNestAtMost32Deep) {
  auto nested = [](int depth) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += "fixed-point(";
    return text + "dce" + std::string(depth, ')');
  };
  EXPECT_EQ(parsePipeline(nested(32)).str(), nested(32));
  EXPECT_EQ(errorOf(nested(33)),
            "bad pipeline at column 385: fixed-point groups nested more than 32 deep");
  // 20,000 groups overflowed the stack of every walk of the pipeline: now a parse error.
  EXPECT_NE(errorOf(nested(20000)).find("nested more than 32 deep"), std::string::npos);
}

TEST(Pipeline, UnknownPassSuggestsClosest) {
  EXPECT_EQ(errorOf("inline,dcee"),
            "bad pipeline at column 8: unknown pass 'dcee' (did you mean 'dce'?); "
            "'tsopt passes' lists them");
  EXPECT_NE(errorOf("inlin").find("did you mean 'inline'?"), std::string::npos);
}

TEST(Pipeline, UnknownOptionSuggestsClosest) {
  EXPECT_EQ(errorOf("inline{max-dept=2}"),
            "bad pipeline at column 8: unknown option 'max-dept' of pass 'inline' "
            "(did you mean 'max-depth'?)");
  EXPECT_NE(errorOf("dce{foo=1}").find("it takes no options"), std::string::npos);
  EXPECT_NE(errorOf("fixed-point{max-iter=2}(dce)").find("did you mean 'max-iterations'?"),
            std::string::npos);
}

TEST(Pipeline, WrongOptionTypeAndRange) {
  EXPECT_EQ(errorOf("inline{max-depth=two}"),
            "bad pipeline at column 8: option 'max-depth' of pass 'inline' takes an integer, "
            "got 'two'");
  EXPECT_NE(errorOf("inline{max-depth=-5}").find("must be >= -1"), std::string::npos);
  EXPECT_NE(errorOf("inline{max-depth=[1,2]}").find("takes a single int, not a list"),
            std::string::npos);
  EXPECT_NE(errorOf("fixed-point{max-iterations=0}(dce)").find("integer >= 1"), std::string::npos);
}

TEST(Pipeline, SyntaxErrorsPointAtTheColumn) {
  EXPECT_EQ(errorOf(""), "bad pipeline at column 1: the pipeline is empty");
  EXPECT_EQ(errorOf("   "), "bad pipeline at column 4: the pipeline is empty");
  EXPECT_EQ(errorOf("inline,,dce"), "bad pipeline at column 8: empty pass name");
  EXPECT_EQ(errorOf("inline,"), "bad pipeline at column 8: empty pass name");
  EXPECT_EQ(errorOf("inline{max-depth=2"),
            "bad pipeline at column 19: expected '}' to close the options, found end of "
            "pipeline");
  EXPECT_EQ(errorOf("inline}"),
            "bad pipeline at column 7: expected ',' or end of pipeline, found '}'");
  EXPECT_EQ(errorOf("fixed-point(dce"),
            "bad pipeline at column 16: expected ',' or ')', found end of pipeline");
  EXPECT_EQ(errorOf("fixed-point(dce))"),
            "bad pipeline at column 17: expected ',' or end of pipeline, found ')'");
  EXPECT_EQ(errorOf("fixed-point()"), "bad pipeline at column 13: fixed-point group is empty");
  EXPECT_EQ(errorOf("fixed-point,dce"),
            "bad pipeline at column 12: expected '(' after fixed-point, found ','");
  EXPECT_EQ(errorOf("dce(inline)"),
            "bad pipeline at column 4: only fixed-point takes a '(' group; 'dce' does not");
  EXPECT_EQ(errorOf("inline{max-depth=1 max-depth=2}"),
            "bad pipeline at column 20: option 'max-depth' given twice");
  EXPECT_EQ(errorOf("inline{only=\"abc}"), "bad pipeline at column 13: unterminated string");
  EXPECT_EQ(errorOf("inline{only=[a,b}"),
            "bad pipeline at column 17: expected ']' to close the list, found '}'");
}

TEST(Pipeline, APassIsNeverFollowedByOneItForbids) {
  // prepack-conv and mkldnn-blocked forbid freezing after them; in a fixed-point group every
  // pass of the group runs after every other, and passes before a pass are not after it.
  const std::string prepack =
      "pass 'prepack-conv' cannot be followed by 'torch-freeze', which freezes: freezing makes "
      "its prepacked convolutions constants, which LibTorch saves in a form it cannot load; run "
      "'prepack-conv' after it";
  EXPECT_EQ(errorOf("prepack-conv,dce,torch-freeze"), prepack);
  EXPECT_EQ(errorOf("fixed-point(torch-freeze,prepack-conv)"), prepack);
  EXPECT_EQ(errorOf("fixed-point(dce,fixed-point(prepack-conv),torch-freeze)"), prepack);
  EXPECT_EQ(errorOf("mkldnn-blocked,torch-freeze").rfind("pass 'mkldnn-blocked' cannot be", 0), 0u);
  EXPECT_EQ(errorOf("torch-freeze,mkldnn-blocked,prepack-conv"), "(no error)");
  EXPECT_EQ(errorOf("torch-freeze,fixed-point(prepack-conv,dce),dce"), "(no error)");
}

TEST(Pipeline, PresetsAreRegisteredWithTheBuiltinPassesAndParse) {
  std::vector<std::string> names;
  for (const PipelinePreset& p : PassRegistry::global().presets()) {
    names.push_back(p.name);
    if (!p.pipeline.empty()) {
      EXPECT_EQ(parsePipeline(p.pipeline).str(), p.pipeline) << p.name;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"O0", "O1", "O2", "backport"}));
  EXPECT_EQ(&findPreset("2"), &findPreset("O2"));
  PassRegistry empty;
  EXPECT_THROW(findPreset("O1", empty), Error);
}

TEST(Pipeline, FileWithCommentsAndLines) {
  std::string dir = test::tempDir();
  std::string path = dir + "/p.txt";
  std::ofstream(path) << "# cleanup pipeline\ninline{max-depth=3},\n  dce  # last\n";
  EXPECT_EQ(parsePipeline(resolvePipelineArgument("@" + path)).str(), "inline{max-depth=3},dce");
  std::ofstream(path) << "inline,\nbogus\n";
  try {
    parsePipeline(resolvePipelineArgument("@" + path));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at line 2, column 1: unknown pass 'bogus'"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(resolvePipelineArgument("@" + dir + "/missing.txt"), Error);
  EXPECT_THROW(resolvePipelineArgument("@" + dir), Error);
  EXPECT_EQ(resolvePipelineArgument("dce"), "dce");
}

}  // namespace
}  // namespace tsopt
