// Comparing and recording golden IR files.
#include "ir_dump/golden.h"

#include <torch/csrc/jit/testing/file_check.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "ir_dump/diff.h"
#include "ir_dump/stages.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

namespace fs = std::filesystem;

std::optional<std::string> readText(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// The stems of DIR's files with extension `ext` that look like stages.
std::set<std::string> stemsIn(const fs::path& dir, const std::string& ext) {
  std::set<std::string> stems;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ext) continue;
    std::string stem = e.path().stem().string();
    if (isStageStem(stem)) stems.insert(stem);
  }
  return stems;
}

}  // namespace

GoldenCheck compareGolden(const std::string& dir, const std::vector<Stage>& stages) {
  GoldenCheck r;
  auto fail = [&](const std::string& why, Setting fix = Setting::kNone) {
    if (r.passed) {
      r.failure = why;
      r.fix = fix;
    }
    r.passed = false;
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail("golden folder '" + dir + "' does not exist; record it", Setting::kGoldenUpdate);
    return r;
  }
  std::set<std::string> seen;
  for (const Stage& s : stages) {
    seen.insert(s.stem);
    const fs::path expectedPath = fs::path(dir) / (s.stem + ".ir");
    std::optional<std::string> expected = readText(expectedPath);
    if (!s.changed) {
      if (expected) {
        fail(expectedPath.string() + " is the IR of a stage that changed nothing; remove it",
             Setting::kGoldenUpdate);
      }
    } else if (!expected) {
      fail(expectedPath.string() + " is missing; record it", Setting::kGoldenUpdate);
    } else if (*expected != s.ir) {
      fail(expectedPath.string() + " differs from the IR after " + s.stem + ":\n" +
           unifiedDiff(*expected, s.ir, "expected/" + s.stem + ".ir", "actual/" + s.stem + ".ir"));
    }
    const fs::path checkPath = fs::path(dir) / (s.stem + ".check");
    if (std::optional<std::string> checks = readText(checkPath)) {
      try {
        torch::jit::testing::FileCheck().run(*checks, s.ir);
      } catch (const std::exception& e) {
        fail(checkPath.string() + " failed on the IR after " + s.stem + ": " +
             describeException(e) + "\n" + s.ir);
      }
    }
  }
  for (const char* ext : {".ir", ".check"}) {
    for (const std::string& stem : stemsIn(dir, ext)) {
      if (!seen.count(stem)) {
        fail((fs::path(dir) / (stem + ext)).string() + " names no stage of this run");
      }
    }
  }
  return r;
}

std::vector<std::string> writeGolden(const std::string& dir, const std::vector<Stage>& stages) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) throw Error("cannot create golden folder '" + dir + "'");
  std::set<std::string> current;
  std::vector<std::string> written;
  for (const Stage& s : stages) {
    if (!s.changed) continue;
    current.insert(s.stem);
    fs::path p = fs::path(dir) / (s.stem + ".ir");
    if (readText(p) == s.ir) continue;
    writeFileAtomic(p.string(), s.ir);
    written.push_back(p.string());
  }
  for (const std::string& stem : stemsIn(dir, ".ir")) {
    const fs::path stale = fs::path(dir) / (stem + ".ir");
    if (!current.count(stem) && fs::remove(stale, ec)) written.push_back(stale.string());
  }
  return written;
}

}  // namespace tsopt
