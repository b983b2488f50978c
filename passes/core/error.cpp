// Turns exceptions, LibTorch's in particular, into one line a user can read.
#include "passes/core/error.h"

#include <c10/util/Exception.h>

#include <regex>

namespace tsopt {

namespace {

std::string firstLine(const std::string& text) {
  size_t start = text.find_first_not_of(" \n\t");
  if (start == std::string::npos) return "";
  size_t end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string lastLine(const std::string& text) {
  size_t end = text.find_last_not_of(" \n\t");
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end + 1 - start);
}

}  // namespace

std::string describeException(const std::exception& e) {
  // The interpreter puts two tracebacks first and the error itself last.
  std::string what = e.what();
  if (what.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    return lastLine(what);
  }
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) {
    std::string msg = ce->msg();
    // "foo INTERNAL ASSERT FAILED at "../torch/csrc/jit/ir/ir.cpp":577, please report a bug..."
    static const std::regex assertRe(
        R"re((.*?)\s*INTERNAL ASSERT FAILED at "(?:[^"]*/)?([^"/]+)":(\d+).*)re");
    std::smatch m;
    std::string line = firstLine(msg);
    if (std::regex_match(line, m, assertRe)) {
      std::string what = m[1].str().empty() ? "" : ": " + m[1].str();
      return "LibTorch consistency check failed at " + m[2].str() + ":" + m[3].str() + what;
    }
    return line;
  }
  return firstLine(e.what());
}

}  // namespace tsopt
