// The tsopt subcommands. Each registers its options on the CLI11 app and returns the callback
// that runs it; main() maps exceptions to exit codes.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace tsopt::cli {

/// Exit codes: success, a check found a difference, bad usage/input or a failed pass.
enum ExitCode { kOk = 0, kDifference = 1, kError = 2 };

/// The preset `tsopt run` uses when neither -p nor -O is given.
inline const char* const kDefaultPreset = "O1";

using Command = std::function<int()>;

Command addRunCommand(CLI::App& app);
Command addPassesCommand(CLI::App& app);
Command addShowCommand(CLI::App& app);
Command addVerifyCommand(CLI::App& app);
Command addDotCommand(CLI::App& app);
Command addViewCommand(CLI::App& app);
Command addRulesCommand(CLI::App& app);
Command addReduceCommand(CLI::App& app);

/// Loads every --plugin given, in order.
void loadPlugins(const std::vector<std::string>& paths);

}  // namespace tsopt::cli
