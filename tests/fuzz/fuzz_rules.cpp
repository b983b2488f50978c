// Fuzz target: any text given to the rules parser becomes rules or a tsopt::Error naming a line
// and column, within the parser's bounds (LibTorch's IR parser, which it calls, recurses on
// nesting). Built with libFuzzer by scripts/fuzz; replay_main.cpp replays the corpus and the
// regression inputs in every test run.
#include <cstddef>
#include <cstdint>
#include <string>

#include "passes/builtin/rewrite_rules.h"
#include "passes/core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const tsopt::Rule& rule : tsopt::parseRules(text, "fuzz.rules")) {
      if (!rule.pattern || !rule.replacement) __builtin_trap();
    }
  } catch (const tsopt::Error& e) {
    if (std::string(e.what()).rfind("fuzz.rules:", 0) != 0) __builtin_trap();  // no location
  }
  return 0;
}
