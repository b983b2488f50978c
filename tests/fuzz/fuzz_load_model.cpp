// Fuzz target: any bytes given to the model loader become a module or a tsopt::Error (never a
// crash or another exception). Built with libFuzzer by scripts/fuzz; replay_main.cpp replays
// the regression inputs in every test run.
#include <cstddef>
#include <cstdint>
#include <string>

#include "passes/core/error.h"
#include "passes/core/module_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tsopt::deserializeModule(std::string(reinterpret_cast<const char*>(data), size), "input");
  } catch (const tsopt::Error&) {
  }
  return 0;
}
