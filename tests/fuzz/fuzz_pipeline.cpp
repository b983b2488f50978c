// Fuzz target: any text given to the pipeline parser becomes a pipeline or a tsopt::Error, and
// a pipeline's canonical text parses back to itself. Built with libFuzzer by scripts/fuzz;
// replay_main.cpp replays the corpus and the regression inputs in every test run.
#include <cstddef>
#include <cstdint>
#include <string>

#include "passes/core/error.h"
#include "passes/core/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string canonical;
  try {
    canonical = tsopt::parsePipeline(text).str();
  } catch (const tsopt::Error&) {
    return 0;  // rejected with a message: fine
  }
  if (tsopt::parsePipeline(canonical).str() != canonical) __builtin_trap();
  return 0;
}
