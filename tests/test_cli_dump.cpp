// Dumps, --print-ir-*, `tsopt dot` and the HTML report end to end (the report in headless
// Chromium).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::readFile;
using test::runTsopt;

/// The dump files in `dir` (not .tsopt-dump, the list of them).
std::set<std::string> filesIn(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  names.erase(".tsopt-dump");
  return names;
}

TEST(CliDump, WritesTheInputAndEveryChangingPass) {
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/o.pt -p inline,dce,dce " + "--dump-dir " + dir + "/d");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // The second dce changes nothing, so it is not dumped.
  EXPECT_EQ(filesIn(dir + "/d"),
            (std::set<std::string>{"00-input.ir", "00-input.py", "00-input.dot", "01-inline.ir",
                                   "01-inline.py", "01-inline.diff", "01-inline.dot", "02-dce.ir",
                                   "02-dce.py", "02-dce.diff", "02-dce.dot"}));
  EXPECT_EQ(readFile(dir + "/d/02-dce.diff").rfind("--- a/01-inline.ir\n+++ b/02-dce.ir\n@@", 0),
            0u);
  EXPECT_NE(readFile(dir + "/d/01-inline.py").find("def forward"), std::string::npos);
  EXPECT_EQ(readFile(dir + "/d/00-input.ir").rfind("graph(%0 : ", 0), 0u);
  // Nodes inlining added are highlighted.
  EXPECT_NE(readFile(dir + "/d/01-inline.dot").find("color=\"#d62728\""), std::string::npos);
  EXPECT_EQ(readFile(dir + "/d/00-input.dot").find("color=\"#d62728\""), std::string::npos);
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // no progress line in a pipe
}

TEST(CliDump, KindsAndDumpAll) {
  std::string dir = test::tempDir();
  auto r =
      runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/o.pt -p inline,dce,dce " +
               "--dump-dir " + dir + "/d --dump ir,diff --dump-all");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(filesIn(dir + "/d"),
            (std::set<std::string>{"00-input.ir", "01-inline.ir", "01-inline.diff", "02-dce.ir",
                                   "02-dce.diff", "03-dce.ir", "03-dce.diff"}));
  EXPECT_EQ(readFile(dir + "/d/03-dce.diff"), "");
  EXPECT_EQ(readFile(dir + "/d/03-dce.ir"), readFile(dir + "/d/02-dce.ir"));
  auto bad = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                      "/o2.pt --dump-dir " + dir + "/d --dump ir,svg");
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err,
            "tsopt: error: unknown dump kind 'svg' (known: ir, code, diff, dot) (--dump)\n");
}

TEST(CliDump, TheSameModelDumpsIdenticalFiles) {
  std::string dir = test::tempDir();
  for (const char* d : {"/a", "/b"}) {
    auto r = runTsopt("run " + test::fixturePath("control_flow", "scripted") + " -o " + dir + d +
                      ".pt --dump-dir " + dir + d);
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  std::set<std::string> files = filesIn(dir + "/a");
  ASSERT_EQ(files, filesIn(dir + "/b"));
  ASSERT_GT(files.size(), 10u);
  for (const std::string& f : files) {
    EXPECT_EQ(readFile(dir + "/a/" + f), readFile(dir + "/b/" + f)) << f;
    EXPECT_EQ(readFile(dir + "/a/" + f).find(".py:"), std::string::npos) << f;  // no locations
  }
}

TEST(CliDump, OnlyFilesTsoptWroteAreEverReplaced) {
  std::string dir = test::tempDir();
  fs::create_directories(dir + "/d");
  // A user's files named like dumps: 01-intro.py is a stage's code by its name alone.
  std::ofstream(dir + "/d/01-intro.py") << "mine";
  const std::string run = "run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/o.pt ";
  auto r = runTsopt(run + "--dump-dir " + dir + "/d");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.err, "tsopt: error: dump folder '" + dir +
                       "/d' holds files tsopt did not write ('01-intro.py'); give an empty or new "
                       "folder, or one tsopt dumped into before\n");
  EXPECT_FALSE(fs::exists(dir + "/o.pt"));
  EXPECT_EQ(readFile(dir + "/d/01-intro.py"), "mine");
  // A dump into a new folder lists what it wrote; the next dump replaces exactly that.
  ASSERT_EQ(runTsopt(run + "--dump-dir " + dir + "/e --dump ir").exitCode, 0);
  // fold-linear-bn finds nothing; strip changes the model (an unused submodule) but not its IR.
  EXPECT_EQ(filesIn(dir + "/e"),
            (std::set<std::string>{"00-input.ir", "01-inline.ir", "02-fold-conv-bn.ir", "04-dce.ir",
                                   "05-strip.ir"}));
  EXPECT_EQ(readFile(dir + "/e/.tsopt-dump"),
            "00-input.ir\n01-inline.ir\n02-fold-conv-bn.ir\n04-dce.ir\n05-strip.ir\n");
  ASSERT_EQ(runTsopt(run + "-p dce --dump-dir " + dir + "/e --dump ir").exitCode, 0);
  EXPECT_EQ(filesIn(dir + "/e"), (std::set<std::string>{"00-input.ir"}));  // dce changed nothing
  // A file added since is the user's: refused, and the dump is left as it was.
  std::ofstream(dir + "/e/notes.txt") << "mine";
  EXPECT_EQ(runTsopt(run + "--dump-dir " + dir + "/e").exitCode, 2);
  EXPECT_EQ(filesIn(dir + "/e"), (std::set<std::string>{"00-input.ir", "notes.txt"}));
}

TEST(CliDump, ABadModelCreatesNoDumpFolder) {
  std::string dir = test::tempDir();
  std::ofstream(dir + "/bad.pt") << "not a model";
  auto r = runTsopt("run " + dir + "/bad.pt -o " + dir + "/o.pt --dump-dir " + dir + "/new");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_FALSE(fs::exists(dir + "/new"));
}

TEST(CliDump, PrintIrBeforeAfterAndOnChange) {
  std::string run = "run " + test::fixturePath("conv2d_bn") + " -o " + test::tempDir() +
                    "/o.pt -p inline,dce,dce -q ";
  auto count = [](const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  };
  auto before = runTsopt(run + "--print-ir-before=dce");
  ASSERT_EQ(before.exitCode, 0) << before.err;
  EXPECT_EQ(count(before.err, "// -----// IR Dump Before dce //----- //\ngraph(%0"), 2u);
  EXPECT_EQ(count(before.err, "IR Dump"), 2u);
  auto all = runTsopt(run + "--print-ir-after-all");
  EXPECT_EQ(count(all.err, "IR Dump After"), 3u);
  auto change = runTsopt(run + "--print-ir-after-change");
  EXPECT_EQ(count(change.err, "IR Dump After"), 2u);  // the second dce changes nothing
  auto after = runTsopt(run + "--print-ir-after inline");
  EXPECT_EQ(count(after.err, "// -----// IR Dump After inline //----- //"), 1u);
  EXPECT_EQ(count(after.err, "IR Dump"), 1u);
  EXPECT_EQ(after.out, "");
}

TEST(CliDot, WritesDotSvgAndPng) {
  std::string dir = test::tempDir();
  for (const char* ext : {".dot", ".svg", ".png"}) {
    auto r = runTsopt("dot " + test::fixturePath("control_flow", "scripted") + " --inline -o " +
                      dir + "/g" + ext);
    ASSERT_EQ(r.exitCode, 0) << ext << r.err;
  }
  EXPECT_EQ(readFile(dir + "/g.dot").rfind("digraph G {", 0), 0u);
  EXPECT_NE(readFile(dir + "/g.dot").find("subgraph cluster_"), std::string::npos);
  EXPECT_NE(readFile(dir + "/g.svg").find("<svg"), std::string::npos);
  EXPECT_EQ(readFile(dir + "/g.png").substr(0, 4), "\x89PNG");
  auto cut = runTsopt("dot " + test::fixturePath("conv2d_bn") + " --inline --max-nodes 1 -o " +
                      dir + "/c.dot");
  ASSERT_EQ(cut.exitCode, 0) << cut.err;
  EXPECT_NE(readFile(dir + "/c.dot").find("more nodes not drawn"), std::string::npos);
  auto bad = runTsopt("dot " + test::fixturePath("conv2d_bn") + " -o " + dir + "/g.pdf");
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err, "tsopt: error: cannot tell the format of '" + dir +
                         "/g.pdf': end it in .dot, .svg or .png\n");
  EXPECT_FALSE(fs::exists(dir + "/g.pdf"));
}

TEST(CliHtml, ReportIsSelfContainedAndRendersInChromium) {
  std::string dir = test::tempDir();
  auto r = runTsopt("run " + test::fixturePath("control_flow", "scripted") + " -o " + dir +
                    "/o.pt --html " + dir + "/r.html --verify");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string page = readFile(dir + "/r.html");
  for (const char* part :
       {"<h2>Passes</h2>", "<h2>Verification</h2>", "Outputs equal", "<code>fold-conv-bn</code>",
        "class=\"diff\"", "class=\"tsopt-viewer\""}) {
    EXPECT_NE(page.find(part), std::string::npos) << part;
  }
  // Nothing is fetched: no external scripts, styles, images or links.
  for (const char* external : {"src=\"http", "href=\"http", "<link", "url(http", "@import"}) {
    EXPECT_EQ(page.find(external), std::string::npos) << external;
  }
  auto dom = test::runCommand(
      "timeout 120 chromium --headless --no-sandbox --disable-gpu "
      "--dump-dom file://" +
      dir + "/r.html");
  ASSERT_EQ(dom.exitCode, 0) << dom.err;
  // The viewer ran: the whole run's before and after, side by side.
  EXPECT_NE(dom.out.find("data-ready=\"yes\""), std::string::npos) << dom.out.substr(0, 2000);
  EXPECT_NE(dom.out.find("data-panes=\"2\""), std::string::npos);
  EXPECT_NE(dom.out.find("class=\"tv-node"), std::string::npos);
}

TEST(CliView, WritesThePageOrOneInTheTemporaryFolder) {
  std::string dir = test::tempDir();
  auto r = runTsopt("view " + test::fixturePath("nested") + " -o " + dir + "/v.html");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "tsopt: wrote " + dir + "/v.html (open it in a browser)\n");
  std::string page = readFile(dir + "/v.html");
  for (const char* part :
       {"<!DOCTYPE html>", "class=\"tsopt-viewer\"", "\"key\":\"m1/a\"", "dagre"}) {
    EXPECT_NE(page.find(part), std::string::npos) << part;
  }
  for (const char* external : {"src=\"http", "href=\"http", "<link", "url(http", "@import"}) {
    EXPECT_EQ(page.find(external), std::string::npos) << external;
  }
  // Without -o: a new tsopt-view-XXXXXX/ in the temporary folder, never beside the user's files.
  auto tmp = test::runCommand("(cd " + dir + " && " + std::string(TSOPT_BIN_DIR) + "/tsopt view " +
                              test::fixturePath("nested") +
                              " && cmp -s $TMPDIR/tsopt-view-*/nested.traced.html v.html && "
                              "ls | tr '\\n' ' ')");
  ASSERT_EQ(tmp.exitCode, 0) << tmp.err;
  EXPECT_NE(tmp.out.find("/nested.traced.html (open it in a browser)\n"), std::string::npos)
      << tmp.out;
  EXPECT_NE(tmp.out.find("/tsopt-view-"), std::string::npos) << tmp.out;
  EXPECT_EQ(tmp.out.substr(tmp.out.find('\n') + 1), "v.html ");
  auto noTmp = test::runCommand("TMPDIR=" + dir + "/gone " + std::string(TSOPT_BIN_DIR) +
                                "/tsopt view " + test::fixturePath("nested"));
  EXPECT_EQ(noTmp.exitCode, 2);
  EXPECT_NE(noTmp.err.find("give one with -o PAGE.html"), std::string::npos) << noTmp.err;
}

}  // namespace
}  // namespace tsopt

namespace tsopt {
namespace {

TEST(CliGoldenDir, RecordsComparesAndShowsTheFirstMismatchAsADiff) {
  std::string dir = test::tempDir();
  std::string run = "run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/o.pt -q --golden-dir " + dir + "/g";
  auto missing = test::runTsopt(run);
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_EQ(missing.err, "tsopt: golden: golden folder '" + dir +
                             "/g' does not exist; record it (--update-golden)\n");
  auto record = test::runTsopt(run + " --update-golden");
  ASSERT_EQ(record.exitCode, 0) << record.err;
  // The default pipeline (-O1) has 5 passes, of which fold-linear-bn finds no linear here and
  // changes nothing: 5 stages with the input.
  EXPECT_EQ(record.err, "tsopt: golden: 5 of 5 files in " + dir + "/g recorded anew\n");
  EXPECT_FALSE(fs::exists(dir + "/g/03-fold-linear-bn.ir"));
  EXPECT_EQ(test::runTsopt(run).exitCode, 0);

  std::string file = dir + "/g/02-fold-conv-bn.ir";
  std::string ir = test::readFile(file);
  std::ofstream(file) << ir.substr(0, ir.find("aten::_convolution")) << "aten::conv9d"
                      << ir.substr(ir.find("aten::_convolution") + 18);
  fs::remove(dir + "/o.pt");
  auto differs = test::runTsopt(run);
  EXPECT_EQ(differs.exitCode, 1);
  EXPECT_EQ(differs.err.rfind("tsopt: golden: " + file + " differs from the IR after " +
                                  "02-fold-conv-bn:\n--- expected/02-fold-conv-bn.ir\n" +
                                  "+++ actual/02-fold-conv-bn.ir\n@@ ",
                              0),
            0u)
      << differs.err;
  EXPECT_NE(differs.err.find("\n-  %"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/o.pt"));  // the model is still written

  auto bad = test::runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                            "/o2.pt --update-golden");
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err, "tsopt: error: --update-golden needs --golden-dir\n");
  EXPECT_FALSE(fs::exists(dir + "/o2.pt"));
}

}  // namespace
}  // namespace tsopt
