// Plugin loading: a real plugin pass works; every kind of bad plugin is a clear error that
// registers nothing.
#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <fstream>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/plugin.h"
#include "tests/test_util.h"

namespace tsopt {
namespace {

using test::pluginPath;

std::string loadError(const std::string& path, PassRegistry& r) {
  try {
    loadPlugin(path, r);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Plugins, ExamplePluginRegistersAWorkingPass) {
  PassRegistry r;
  LoadedPlugin p = loadPlugin(pluginPath("tsopt_example_plugin"), r);
  EXPECT_EQ(p.name, "example");
  EXPECT_EQ(p.passes, std::vector<std::string>{"example-remove-dropout"});
  ASSERT_NE(r.find("example-remove-dropout"), nullptr);
  EXPECT_EQ(r.find("example-remove-dropout")->origin, pluginPath("tsopt_example_plugin"));

  // Runs on both kinds of model; scripted needs inlining first to see the dropout call.
  for (const char* kind : {"traced", "scripted"}) {
    const test::Fixture& f = test::fixture("dropout", kind);
    torch::jit::Module m = loadModule(f.path());
    PassRegistry& global = PassRegistry::global();
    if (!global.find("example-remove-dropout")) loadPlugin(pluginPath("tsopt_example_plugin"));
    PassManager pm(parsePipeline("inline,example-remove-dropout,dce"));
    RunResult res = pm.run(m, {"forward"});
    EXPECT_TRUE(res.passes[1].changed) << kind;
    // Scripted nn.Dropout branches on `inplace`: dropout and dropout_, one in each branch.
    EXPECT_EQ(res.passes[1].stats.at("removed"), std::string(kind) == "traced" ? 1 : 2) << kind;
    torch::jit::testing::FileCheck()
        .check("aten::linear")
        ->check_not("aten::dropout")
        ->run(*m.get_method("forward").graph());
    test::expectSameNumerics(f, m);
  }
}

TEST(Plugins, MissingFile) {
  PassRegistry r;
  EXPECT_EQ(loadError("/nonexistent/plugin.so", r),
            "plugin '/nonexistent/plugin.so': no such file");
}

TEST(Plugins, NotASharedLibrary) {
  PassRegistry r;
  std::string path = test::tempDir() + "/fake.so";
  std::ofstream(path) << "this is not an ELF file\n";
  std::string err = loadError(path, r);
  EXPECT_NE(err.find("is not a loadable shared library"), std::string::npos) << err;
  EXPECT_NE(loadError(test::tempDir(), r).find("is not a shared library"), std::string::npos);
  EXPECT_TRUE(r.all().empty());
}

TEST(Plugins, MissingEntryPoint) {
  PassRegistry r;
  std::string err = loadError(pluginPath("tsopt_test_plugin_no_entry_point"), r);
  EXPECT_NE(err.find("has no entry point 'tsoptGetPluginInfo'"), std::string::npos) << err;
}

TEST(Plugins, WrongApiVersion) {
  PassRegistry r;
  std::string err = loadError(pluginPath("tsopt_test_plugin_bad_version"), r);
  EXPECT_NE(err.find("was built for plugin API version 1001, this tsopt has version 3"),
            std::string::npos)
      << err;
}

TEST(Plugins, NameAlreadyTakenRegistersNothing) {
  PassRegistry r;
  r.add([] { return PassRegistry::global().create("dce"); }, "builtin");
  std::string err = loadError(pluginPath("tsopt_test_plugin_duplicate_name"), r);
  EXPECT_NE(err.find("registers pass 'dce', which is already registered by builtin"),
            std::string::npos)
      << err;
  EXPECT_EQ(r.find("fresh-test-pass"), nullptr) << "a rejected plugin must register nothing";
}

}  // namespace
}  // namespace tsopt
