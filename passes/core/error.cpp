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

namespace {

/// The length of the valid UTF-8 sequence at `s[i]`, or 0 if none starts there.
size_t utf8Length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::string escapeText(const std::string& text, bool controls) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t n = utf8Length(text, i);
    if (n > 1 || (n == 1 && (!controls || (c >= 0x20 && c != 0x7F)))) {
      out.append(text, i, n);
      i += n;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    }
    ++i;
  }
  return out;
}

}  // namespace tsopt
