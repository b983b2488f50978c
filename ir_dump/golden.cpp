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
#include "passes/core/torch_compat.h"

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

/// DIR/libtorch-X.Y: the IR files of stages whose IR differs on this LibTorch line (scripting
/// differs between lines: 2.x types a missing bias `Tensor?` where 1.13 has `NoneType`).
fs::path lineFolder(const std::string& dir) {
  return fs::path(dir) / ("libtorch-" + compat::libtorchVersion());
}

/// The file a stage is compared with: this line's where it has one, else the folder's.
fs::path expectedFile(const std::string& dir, const std::string& stem) {
  fs::path line = lineFolder(dir) / (stem + ".ir");
  std::error_code ec;
  return fs::is_regular_file(line, ec) ? line : fs::path(dir) / (stem + ".ir");
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
    const fs::path expectedPath = expectedFile(dir, s.stem);
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
  for (const fs::path& folder : {fs::path(dir), lineFolder(dir)}) {
    for (const char* ext : {".ir", ".check"}) {
      for (const std::string& stem : stemsIn(folder, ext)) {
        if (!seen.count(stem)) {
          fail((folder / (stem + ext)).string() + " names no stage of this run");
        }
      }
    }
  }
  return r;
}

std::vector<std::string> writeGolden(const std::string& dir, const std::vector<Stage>& stages) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) throw Error("cannot create golden folder '" + dir + "'");
  // The folder's own files are the oldest line's (1.13's); another line records a stage in its
  // own folder only where its IR differs from them.
  const bool baseLine = compat::libtorchVersion() == compat::oldLine();
  const fs::path line = lineFolder(dir);
  std::set<std::string> current;
  std::vector<std::string> written;
  auto write = [&](const fs::path& p, const std::string& ir) {
    if (readText(p) == ir) return;
    fs::create_directories(p.parent_path(), ec);
    writeFileAtomic(p.string(), ir);
    written.push_back(p.string());
  };
  auto remove = [&](const fs::path& p) {
    if (fs::remove(p, ec)) written.push_back(p.string());
  };
  for (const Stage& s : stages) {
    if (!s.changed) continue;
    current.insert(s.stem);
    const fs::path base = fs::path(dir) / (s.stem + ".ir"), own = line / (s.stem + ".ir");
    std::optional<std::string> recorded = readText(base);
    if (baseLine || !recorded) {
      write(base, s.ir);
      remove(own);
    } else if (*recorded == s.ir) {
      remove(own);
    } else {
      write(own, s.ir);
    }
  }
  // Files of stages this run does not have, which comparing fails on.
  for (const fs::path& folder : {line, fs::path(dir)}) {
    for (const std::string& stem : stemsIn(folder, ".ir")) {
      if (!current.count(stem)) remove(folder / (stem + ".ir"));
    }
  }
  if (fs::is_empty(line, ec)) fs::remove(line, ec);
  return written;
}

}  // namespace tsopt
