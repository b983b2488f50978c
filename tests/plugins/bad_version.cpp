// Test plugin built for a plugin API version tsopt does not have.
#include "passes/core/plugin_api.h"

extern "C" __attribute__((visibility("default"))) TsoptPluginInfo tsoptGetPluginInfo() {
  return TsoptPluginInfo{TSOPT_PLUGIN_API_VERSION + 998, "bad-version", "1.0", TSOPT_TORCH_VERSION,
                         nullptr};
}
