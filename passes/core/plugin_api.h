// The contract between tsopt and a plugin: one C entry point returning this struct.
// A plugin includes this header, links tsopt::core and defines the entry point, e.g.
//   TSOPT_PLUGIN("my-plugin", "1.0", [](tsopt::PassRegistry& r) { r.add<MyPass>(); })
#pragma once

#include <torch/version.h>

#include <cstdint>

#include "passes/core/registry.h"

#define TSOPT_STR_(x) #x
#define TSOPT_STR(x) TSOPT_STR_(x)
/// "major.minor" of the LibTorch a translation unit is compiled against (its ABI boundary).
#define TSOPT_TORCH_VERSION TSOPT_STR(TORCH_VERSION_MAJOR) "." TSOPT_STR(TORCH_VERSION_MINOR)

/// Bumped whenever Pass, GraphPass, ModulePass, their contexts, PassRegistry or this struct change
/// incompatibly.
#define TSOPT_PLUGIN_API_VERSION 3
/// The symbol tsopt looks up in a plugin.
#define TSOPT_PLUGIN_ENTRY_POINT_NAME "tsoptGetPluginInfo"

extern "C" {
/// What a plugin's entry point returns.
struct TsoptPluginInfo {
  uint32_t apiVersion;     ///< must equal TSOPT_PLUGIN_API_VERSION of the loading tsopt
  const char* pluginName;  ///< shown in errors and listings
  const char* pluginVersion;
  const char* torchVersion;  ///< LibTorch version the plugin was built against
  void (*registerPasses)(tsopt::PassRegistry& registry);
};
}

/// Defines the plugin entry point. `register_fn` is `void(tsopt::PassRegistry&)`.
#define TSOPT_PLUGIN(name, version, register_fn)                                           \
  extern "C" __attribute__((visibility("default"))) TsoptPluginInfo tsoptGetPluginInfo() { \
    return TsoptPluginInfo{TSOPT_PLUGIN_API_VERSION, name, version, TSOPT_TORCH_VERSION,   \
                           register_fn};                                                   \
  }
