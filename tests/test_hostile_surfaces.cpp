// Hostile and careless input on the surfaces beyond the model loader (label hostile): reproducer
// and view folders, rules files, operator libraries and plugins that misbehave while they load,
// inputs files, bounds on trials and rewrites, non-UTF-8 names, full disks. Each bad case ends in
// one clear line and exit code 2 with the case folder exactly as it was (tests/cli_cases.h).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/serialize.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/reproducer.h"
#include "passes/builtin/rewrite_rules.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "tests/cli_cases.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::ErrorCase;
using test::readFile;
using test::runCommand;
using test::runTsopt;
using test::writeFile;

/// A rule relu(x) -> relu(x) whose input %x is of `inputType`, with `where` lines after it.
std::string ruleWith(const std::string& inputType, const std::string& where = "") {
  return "rule r\npattern\n  graph(%x : " + inputType +
         "):\n    %y : Tensor = aten::relu(%x)\n    return (%y)\nreplacement\n  graph(%x : " +
         inputType + "):\n    %y : Tensor = aten::relu(%x)\n    return (%y)\n" + where;
}

/// Rules files that ask too much of the parsers, inputs files that ask too much of the reader,
/// and folders that hold what is not tsopt's.
void addSurfaceFiles(const std::string& dir) {
  std::string deepType = "Tensor";
  for (int i = 0; i < 5000; ++i) deepType = "List[" + deepType;
  deepType += std::string(5000, ']');
  writeFile(dir + "/deep_type.rules", ruleWith(deepType));
  std::string suffixes = "Tensor";
  for (int i = 0; i < 100000; ++i) suffixes += "[]";
  writeFile(dir + "/list_suffixes.rules", ruleWith(suffixes));
  writeFile(dir + "/deep_where.rules",
            ruleWith("Tensor", "where %x == " + std::string(100000, '[') + "1" +
                                   std::string(100000, ']') + "\n"));
  std::string big = "rule big\npattern\n  graph(%x0 : Tensor):\n";
  for (int i = 1; i <= 20000; ++i) {
    big +=
        "    %x" + std::to_string(i) + " : Tensor = aten::relu(%x" + std::to_string(i - 1) + ")\n";
  }
  big += "    return (%x20000)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\n";
  writeFile(dir + "/big_pattern.rules", big);
  writeFile(dir + "/too_long.rules", std::string(3 << 20, '#'));
  writeFile(dir + "/infinite_tolerance.rules",
            "rule relu-is-sigmoid\npattern\n  graph(%x : Tensor):\n    %y : Tensor = "
            "aten::relu(%x)\n    return (%y)\nreplacement\n  graph(%x : Tensor):\n    %y : Tensor "
            "= aten::sigmoid(%x)\n    return (%y)\ntolerance rtol=inf atol=inf\n");

  // Inputs whose lists share one list many times over: 2^40 items in a few hundred bytes.
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(at::ones({1}));
  for (int i = 0; i < 40; ++i) {
    c10::impl::GenericList twice(c10::AnyType::get());
    twice.push_back(list);
    twice.push_back(list);
    list = twice;
  }
  std::vector<char> bytes = torch::pickle_save(c10::ivalue::Tuple::create({list}));
  writeFile(dir + "/shared_lists.pt", std::string(bytes.begin(), bytes.end()));

  fs::create_directory(dir + "/mine");
  writeFile(dir + "/mine/notes.txt", "the user's own");
  // A folder that looks like a reproducer tsopt wrote, whose model.pt is a link to the user's.
  fs::create_directory(dir + "/planted");
  writeFile(dir + "/planted/.tsopt-reproducer", "model.pt\n");
  fs::create_symlink("../model.pt", dir + "/planted/model.pt");
}

class HostileSurface : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HostileSurface, ExitsTwoWithAClearLineAndChangesNothing) {
  test::runErrorCase(GetParam(), addSurfaceFiles);
}

const std::string kLib = "{lib}/tsopt_test_lib_";

const ErrorCase kCases[] = {
    // Reproducer folders: new, or tsopt's own; never where the user's files are.
    {"ReproducerInTheInputsFolder", "run {model} -o {dir}/sub/out.pt --reproducer {dir}",
     "the reproducer folder '{dir}' is the folder of the input model ({model})"},
    {"ReproducerInTheOutputsFolder", "run {model} -o {dir}/sub/out.pt --reproducer {dir}/sub",
     "the reproducer folder '{dir}/sub' is the folder of the output model"},
    {"ReproducerFolderOfTheUsers", "run {model} -o {out} --reproducer {dir}/mine",
     "reproducer folder '{dir}/mine' holds files tsopt did not write ('notes.txt'); give an empty "
     "or new folder, or one tsopt wrote a reproducer into before"},
    {"ReproducerFolderWithAPlantedLink", "run {model} -o {out} --reproducer {dir}/planted",
     "holds files tsopt did not write ('model.pt')"},

    // Rules files: bounded before LibTorch's recursive parsers and matcher see them.
    {"RulesTypeNested5000Deep", "run {model} -o {out} -p rewrite{rules={dir}/deep_type.rules}",
     "{dir}/deep_type.rules:3:1: nested more than 32 deep"},
    {"RulesListSuffixes100000", "rules check {dir}/list_suffixes.rules",
     "list_suffixes.rules:3:1: nested more than 32 deep"},
    {"RulesWhereListNested100000Deep", "rules check {dir}/deep_where.rules",
     "deep_where.rules:10:13: expected a value"},
    {"RulesPatternOf20000Nodes", "rules check {dir}/big_pattern.rules",
     "big_pattern.rules:503:1: a graph of more than 500 lines"},
    {"RulesFileTooLong", "rules check {dir}/too_long.rules",
     "rules file '{dir}/too_long.rules' is 3145728 bytes, more than the 1 MiB a rules file may "
     "be"},
    {"RulesFileIsAFifo", "run {model} -o {out} -p rewrite{rules={dir}/fifo.svg}",
     "rules file '{dir}/fifo.svg': it is a FIFO, not a file"},
    {"RulesFileIsDevZero", "rules check /dev/zero",
     "rules file '/dev/zero': it is a character device, not a file"},
    {"RulesInfiniteTolerance", "rules check {dir}/infinite_tolerance.rules",
     "expected 'tolerance rtol=R atol=A' with finite numbers >= 0, found 'rtol=inf'"},

    // Libraries that end the process, fault or hang while they load: probed in a child first.
    {"OpsLibraryExitsWhileLoading", "verify {model} {dir}/cand.pt --ops " + kLib + "exits.so",
     "operator library '" + kLib + "exits.so' ended the process while loading (exit status 0)"},
    {"PluginExitsWhileLoading", "run {model} -o {out} --plugin " + kLib + "exits.so",
     "plugin '" + kLib + "exits.so' ended the process while loading (exit status 0)"},
    {"PluginFaultsWhileLoading", "run {model} -o {out} --plugin " + kLib + "faults.so",
     "plugin '" + kLib + "faults.so' crashed while loading (Segmentation fault)"},
    {"OpsLibraryFaultsWhileLoading", "show {model} --ops " + kLib + "faults.so",
     "operator library '" + kLib + "faults.so' crashed while loading (Segmentation fault)"},
    {"OpsLibraryNeverReturns", "show {model} --timeout 1 --ops " + kLib + "hangs.so",
     "operator library '" + kLib + "hangs.so' did not finish loading within 1 s"},
    {"PluginNeverReturns", "run {model} -o {out} --timeout 1 --plugin " + kLib + "hangs.so",
     "plugin '" + kLib + "hangs.so' did not finish loading within 1 s"},

    // Work bounded whatever the input asks for.
    {"TrialsTwoBillion", "verify {model} {dir}/cand.pt --trials 2000000000",
     "--trials: Value 2000000000 not in range"},
    {"InputsOfSharedLists", "verify {model} {dir}/cand.pt --inputs {dir}/shared_lists.pt",
     "cannot read inputs file '{dir}/shared_lists.pt': it holds more than 1000000 values "
     "(counting a list each time it is held)"},
};

INSTANTIATE_TEST_SUITE_P(, HostileSurface, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(HostileSurfaces, ALibraryThatPrintsWhileLoadingDoesNotWriteIntoStdout) {
  // `passes --json` is read by scripts: what a constructor prints goes to stderr.
  auto r = runTsopt("passes --json --ops " + test::pluginPath("tsopt_test_lib_prints"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::accept(r.out)) << r.out.substr(0, 200);
  EXPECT_EQ(r.out.find("hello"), std::string::npos);
  EXPECT_NE(r.err.find("hello from a library's constructor"), std::string::npos) << r.err;
}

TEST(HostileSurfaces, AReproducerScriptRunsNoCommandFromTheModel) {
  // A failure's message holds text of the model's (an output's key, an error of its code): in
  // repro.sh it is a comment, every line break escaped, so running the script runs tsopt only.
  const std::string dir = test::tempDir(), pwned = dir + "/pwned";
  PassFailureInfo failure{FailureKind::kCrash, 0, "dce", "dce", "boom\ntouch " + pwned + "\r\n#"};
  ReproducerContext context;
  context.freshInput = [] { return loadModule(test::fixturePath("conv2d_bn")); };
  context.pipeline = "dce\nshould-not-run";
  context.methods = {"forward"};
  context.tool = "true";
  Reproducer r = writeReproducer(failure, context, dir + "/repro");
  const std::string script = readFile(r.script);
  EXPECT_NE(script.find("# Reproduces: boom\\ntouch " + pwned + "\\r\\n#\n"), std::string::npos)
      << script;
  EXPECT_NE(script.find("of the pipeline 'dce\\nshould-not-run'"), std::string::npos) << script;
  EXPECT_EQ(runCommand("sh " + r.script).exitCode, 0);
  EXPECT_FALSE(fs::exists(pwned));
  // Every file it wrote is listed as tsopt's, so the folder can take the next reproducer.
  EXPECT_EQ(readFile(dir + "/repro/.tsopt-reproducer"),
            "model.pt\npipeline.txt\nresult.pt\nrepro.sh\n");
  EXPECT_NO_THROW(checkReproducerDir(dir + "/repro", {}));
}

TEST(HostileSurfaces, EscapedTextIsOneLineOfValidUtf8) {
  EXPECT_EQ(escapeText("a\nb\tc\rd\x01\x7f"), "a\\nb\\tc\\rd\\x01\\x7f");
  EXPECT_EQ(escapeText("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  // Stray continuation bytes, overlong forms, surrogates, past U+10FFFF, truncated sequences.
  EXPECT_EQ(escapeText("\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82"),
            "\\x80\\xc0\\xaf\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80\\xe2\\x82");
  EXPECT_EQ(escapeText("a\nb\xff", /*controls=*/false), "a\nb\\xff");
}

TEST(HostileSurfaces, AReportOfAPathThatIsNotUtf8IsValidJson) {
  const std::string dir = test::tempDir(), model = dir +
                                                   "/mod\xff\xfe"
                                                   "el.pt";
  fs::copy_file(test::fixturePath("conv2d_bn"), model);
  auto r = runTsopt("run '" + model + "' -q -o " + dir + "/out.pt --report " + dir + "/r.json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  nlohmann::json report = nlohmann::json::parse(readFile(dir + "/r.json"));
  EXPECT_EQ(report["input"], dir + "/mod\\xff\\xfeel.pt");
}

TEST(HostileSurfaces, AFullDiskLeavesNoOutputNoReportAndNoStagedFile) {
  // RLIMIT_FSIZE fails writes past a size as a full disk does (SIGXFSZ ignored: EFBIG).
  const std::string dir = test::tempDir();
  fs::copy_file(test::fixturePath("conv2d_bn"), dir + "/model.pt");
  writeFile(dir + "/out.pt", "keep me");
  const auto before = test::snapshot(dir);
  for (const char* limit : {"1", "8", "64"}) {  // KiB: the model, or the report, fails
    SCOPED_TRACE(std::string("ulimit -f ") + limit);
    auto r = runCommand(std::string("trap '' XFSZ; ulimit -f ") + limit + "; exec " +
                        TSOPT_BIN_DIR + "/tsopt run " + dir + "/model.pt -o " + dir +
                        "/out.pt --report " + dir + "/r.json --html " + dir + "/r.html");
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_EQ(r.err.rfind("tsopt: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(test::snapshot(dir), before);
  }
}

TEST(HostileSurfaces, ViewWithoutOutputWritesIntoANewPrivateFolder) {
  // A fixed folder under the temporary folder could hold a link planted by another user.
  const std::string tmp = test::tempDir();
  fs::create_directory(tmp + "/tsopt-view");
  fs::create_symlink(tmp + "/victim.html", tmp + "/tsopt-view/model.html");
  auto r = runCommand("TMPDIR=" + tmp + " " + TSOPT_BIN_DIR + "/tsopt view " +
                      test::fixturePath("conv2d_bn"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string wrote = "tsopt: wrote ";
  ASSERT_EQ(r.out.rfind(wrote, 0), 0u) << r.out;
  const std::string page = r.out.substr(wrote.size(), r.out.find(" (open") - wrote.size());
  EXPECT_EQ(fs::path(page).parent_path().parent_path(), tmp) << r.out;
  EXPECT_EQ(fs::path(page).parent_path().filename().string().rfind("tsopt-view-", 0), 0u);
  EXPECT_EQ(fs::status(fs::path(page).parent_path()).permissions() & fs::perms::all,
            fs::perms::owner_all);
  EXPECT_FALSE(fs::exists(tmp + "/victim.html"));
  EXPECT_NE(readFile(page).find("<html"), std::string::npos);
}

TEST(HostileSurfaces, AnOperatorThatCrashesMidRunEndsInOneLineAndLeavesNothing) {
  // The operator library loads fine; its kernel faults when verification runs the model.
  const std::string dir = test::tempDir(), ops = test::pluginPath("tsopt_test_ops");
  fs::copy_file(std::string(TSOPT_FIXTURE_DIR) + "/faults_in_kernel.pt", dir + "/model.pt");
  const auto before = test::snapshot(dir);
  for (const std::string& args : {"verify " + dir + "/model.pt " + dir + "/model.pt --input 2x3",
                                  "run " + dir + "/model.pt -o " + dir + "/out.pt --report " + dir +
                                      "/r.json --verify "
                                      "--input 2x3"}) {
    auto r = runTsopt(args + " --ops " + ops);
    SCOPED_TRACE(args + "\n" + r.err);
    EXPECT_EQ(r.exitCode, 2);
    EXPECT_EQ(r.err.rfind("tsopt: error: the process crashed (SIGSEGV, a bad memory access) "
                          "while running forward of ",
                          0),
              0u);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
    EXPECT_EQ(test::snapshot(dir), before);
  }
}

TEST(HostileSurfaces, ARuleThatGrowsTheGraphStopsAtItsBudgetWithAWarning) {
  const std::string dir = test::tempDir();
  writeFile(
      dir + "/grow.rules",
      "rule grows relu(x) -> relu(relu(x))\npattern\n  graph(%x : Tensor):\n    %y : Tensor "
      "= aten::relu(%x)\n    return (%y)\nreplacement\n  graph(%x : Tensor):\n    %a : Tensor "
      "= aten::relu(%x)\n    %y : Tensor = aten::relu(%a)\n    return (%y)\n");
  auto r = runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir +
                    "/out.pt -p 'inline,rewrite{rules=" + dir + "/grow.rules}' --verify");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tsopt: warning: pass 'rewrite': rule 'grows' (" + dir +
                       "/grow.rules:1) grew method 'forward' past "),
            std::string::npos)
      << r.err;
}

/// What the rules checker says of a rule from the IR lines of its `pattern` and `replacement`
/// graphs, which take `inputs`: "" if it holds.
std::string checkOf(const std::string& pattern, const std::string& replacement,
                    const std::string& inputs = "%x : Tensor") {
  std::vector<Rule> rules = parseRules("rule r\npattern\n  graph(" + inputs + "):\n" + pattern +
                                           "replacement\n  graph(" + inputs + "):\n" + replacement,
                                       "edge.rules");
  return checkRule(rules.at(0));
}

TEST(HostileSurfaces, TheRulesCheckerRefusesAlgebraThatEdgeValuesBreak) {
  // Right on random inputs, wrong at zeros, infinities, NaN, the dtype's extremes.
  const std::string timesZero = checkOf(
      "    %z : int = prim::Constant[value=0]()\n"
      "    %y : Tensor = aten::mul(%x, %z)\n    return (%y)\n",
      "    %n : NoneType = prim::Constant()\n"
      "    %y : Tensor = aten::zeros_like(%x, %n, %n, %n, %n, %n)\n    return (%y)\n");
  EXPECT_NE(timesZero.find("nan, replacement 0"), std::string::npos) << timesZero;
  EXPECT_NE(checkOf("    %y : Tensor = aten::div(%x, %x)\n    return (%y)\n",
                    "    %n : NoneType = prim::Constant()\n"
                    "    %y : Tensor = aten::ones_like(%x, %n, %n, %n, %n, %n)\n    return (%y)\n")
                .find("edge values"),
            std::string::npos);
  EXPECT_NE(checkOf("    %y : Tensor = aten::abs(%x)\n    return (%y)\n",
                    "    %s : Tensor = aten::mul(%x, %x)\n    %y : Tensor = aten::sqrt(%s)\n"
                    "    return (%y)\n")
                .find("edge values"),
            std::string::npos);
  EXPECT_NE(checkOf("    %one : int = prim::Constant[value=1]()\n"
                    "    %a : Tensor = aten::add(%x, %one, %one)\n"
                    "    %y : Tensor = aten::gt(%a, %x)\n    return (%y)\n",
                    "    %n : NoneType = prim::Constant()\n"
                    "    %t : Tensor = aten::gt(%x, %x)\n"
                    "    %y : Tensor = aten::logical_not(%t)\n    return (%y)\n",
                    "%x : Long(2, 3)")
                .find("edge values"),
            std::string::npos);
  // What is right everywhere still passes: relu(relu(x)) is relu(x), x*1 is x.
  EXPECT_EQ(checkOf("    %a : Tensor = aten::relu(%x)\n    %y : Tensor = aten::relu(%a)\n"
                    "    return (%y)\n",
                    "    %y : Tensor = aten::relu(%x)\n    return (%y)\n"),
            "");
}

}  // namespace
}  // namespace tsopt
