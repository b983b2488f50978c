// tsopt command-line entry point: parses, dispatches to a subcommand, and turns every error
// into one line on stderr and an exit code (0 ok, 1 difference found, 2 error).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "passes/core/archive_check.h"
#include "passes/core/deadline.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/op_library.h"
#include "passes/core/registry.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/present.h"

int main(int argc, char** argv) {
  using namespace tsopt::cli;
  tsopt::endOnTerminationSignals();
  tsopt::endOnCrashSignals();
  CLI::App app{"tsopt: run pipelines of graph passes over TorchScript models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tsopt 0.1.0");
  std::vector<std::pair<CLI::App*, Command>> commands;
  auto add = [&](Command (*adder)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    Command cmd = adder(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(cmd));
  };
  add(addRunCommand);
  add(addPassesCommand);
  add(addShowCommand);
  add(addVerifyCommand);
  add(addDotCommand);
  add(addViewCommand);
  add(addRulesCommand);
  add(addReduceCommand);

  // Operator libraries, on every command: --ops and TSOPT_OPS (a colon-separated list).
  // A time limit on what a model may never finish (loading, a verification run), on every
  // command too.
  std::vector<std::string> ops;
  double timeoutSeconds = 60;
  uint64_t maxInflateMb = tsopt::inflateLimit() >> 20;
  for (auto& [sub, cmd] : commands) {
    sub->add_option("--ops", ops,
                    "load this operator library (e.g. torchvision's _C.so) before the model "
                    "(repeatable; also TSOPT_OPS=A.so:B.so)");
    sub->add_option("--timeout", timeoutSeconds,
                    "seconds that loading a model, or one run of it under verification, may "
                    "take before tsopt gives up (0: no limit)")
        ->default_val(60)
        ->check(CLI::Validator(
            [](std::string& v) {
              try {
                if (std::stod(v) >= 0) return std::string();
              } catch (const std::exception&) {
              }
              return "expected 0 or more seconds, got '" + v + "'";
            },
            "SECONDS"));
    sub->add_option("--max-inflate", maxInflateMb,
                    "megabytes that a model's compressed records may unpack to; more is refused "
                    "as a zip bomb before anything is unpacked")
        ->default_val(maxInflateMb)
        ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  }

  // CLI11 reports a mistyped command as "A subcommand is required"; say what is wrong instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    std::string list;
    for (const auto& [sub, cmd] : commands) {
      names.push_back(sub->get_name());
      list += (list.empty() ? "" : ", ") + sub->get_name();
    }
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::cerr << "tsopt: error: unknown command '" << argv[1] << "'"
                << tsopt::didYouMean(argv[1], names) << " (commands: " << list << ")\n";
      return kError;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string help = "tsopt --help";
    for (const auto& [sub, cmd] : commands) {
      if (sub->parsed()) help = "tsopt " + sub->get_name() + " --help";
    }
    std::cerr << "tsopt: error: " << e.what() << " (see " << help << ")\n";
    return kError;
  }

  try {
    for (const std::string& e : tsopt::PassRegistry::global().staticErrors()) {
      throw tsopt::Error("built-in pass registration failed: " + e);
    }
    tsopt::setTimeout(timeoutSeconds, "--timeout SECONDS, 0 for none");  // libraries load in it
    tsopt::onOperatorLibraryLoaded([](const tsopt::OperatorLibrary& lib) {
      if (lib.reason != "asked for") {
        std::cerr << "tsopt: loaded operator library " << lib.path << " for " << lib.reason << "\n";
      }
    });
    if (const char* env = std::getenv("TSOPT_OPS")) {
      std::stringstream list(env);
      for (std::string path; std::getline(list, path, ':');) {
        if (!path.empty()) tsopt::loadOperatorLibrary(path, "asked for");
      }
    }
    for (const std::string& path : ops) tsopt::loadOperatorLibrary(path, "asked for");
    tsopt::setInflateLimit(maxInflateMb << 20);
    for (auto& [sub, cmd] : commands) {
      if (sub->parsed()) return cmd();
    }
    return kError;
  } catch (const tsopt::Error& e) {
    std::cerr << "tsopt: error: " << tsopt::escapeText(e.what()) << tsopt::cli::flagFor(e.setting())
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "tsopt: error: " << tsopt::escapeText(tsopt::describeException(e)) << "\n";
  } catch (...) {
    std::cerr << "tsopt: error: unknown failure\n";
  }
  return kError;
}
