// `tsopt passes`: lists every registered pass with its description and options, and the presets.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/report.h"
#include "passes/core/pipeline.h"
#include "passes/core/registry.h"
#include "tools/tsopt/commands.h"

namespace tsopt::cli {

namespace {

struct PassesArgs {
  bool json = false;
  std::vector<std::string> plugins;
};

int passesCommand(const PassesArgs& a) {
  loadPlugins(a.plugins);
  const PassRegistry& registry = PassRegistry::global();
  if (a.json) {
    std::cout << reportText(passesJson(registry), 2) << "\n";
    return kOk;
  }
  size_t width = 0;
  for (const PassInfo* info : registry.all()) width = std::max(width, info->name.size());
  for (const PassInfo* info : registry.all()) {
    std::cout << std::left << std::setw(static_cast<int>(width) + 2) << info->name
              << info->description;
    if (info->origin != "builtin") std::cout << " [plugin " << info->origin << "]";
    std::cout << "\n";
    std::unique_ptr<Pass> pass = info->factory();
    for (const OptionBase* o : pass->options()) {
      std::string c = o->constraint();
      std::cout << "    " << o->name() << "=<" << optionKindName(o->kind()) << ">  " << o->help()
                << " (default " << o->defaultString() << (c.empty() ? "" : "; " + c) << ")\n";
    }
  }
  std::cout << "\nfixed-point{max-iterations=<int>}(PIPELINE)  repeat PIPELINE until no pass "
               "in it changes the graph (default 10 iterations)\n";
  std::cout << "\npresets (tsopt run -ON, -O NAME):\n";
  for (const PipelinePreset& p : PassRegistry::global().presets()) {
    // O0, O1, O2 as -O0 ...; a named preset as -O NAME.
    const bool level = p.name.size() == 2 && p.name[0] == 'O';
    std::cout << (level ? "-" : "-O ") << p.name << "  " << p.description << "\n    "
              << (p.pipeline.empty() ? "(no passes)" : p.pipeline) << "\n";
  }
  return kOk;
}

}  // namespace

Command addPassesCommand(CLI::App& app) {
  auto args = std::make_shared<PassesArgs>();
  CLI::App* cmd = app.add_subcommand("passes", "List the available passes and their options");
  cmd->add_flag("--json", args->json, "print as JSON");
  cmd->add_option("--plugin", args->plugins, "load passes from this shared library (repeatable)");
  return [args] { return passesCommand(*args); };
}

}  // namespace tsopt::cli
