// Golden IR files: the canonical IR after each pass of a run, recorded in a folder as
// NN-<pass>.ir (as the dumps name them), compared on later runs, with optional FileCheck
// directives in NN-<pass>.check. Used by tsopt's golden tests and by `tsopt run --golden-dir`.
#pragma once

#include <string>
#include <vector>

#include "passes/core/error.h"

namespace tsopt {

/// One stage of a run: "00-input" or "NN-<pass>", its canonical IR, and whether the pass changed
/// the model (the input counts as changed). Only changed stages are stored as golden files.
struct Stage {
  std::string stem, ir;
  bool changed = true;
};

/// What comparing a run with a golden folder found.
struct GoldenCheck {
  bool passed = true;
  std::string failure;  ///< the first mismatch, with a unified diff where the IR differs
  /// What gets past it: Setting::kGoldenUpdate when files are missing (recording makes them).
  Setting fix = Setting::kNone;
};

/// IR that differs between LibTorch lines (scripting differs) is recorded per line: a stage's
/// expected IR is DIR/libtorch-X.Y/<stem>.ir on LibTorch X.Y where that exists, else
/// DIR/<stem>.ir, which holds the oldest line's (1.13's) IR.
///
/// Compares every changed stage with its expected IR and runs DIR/<stem>.check (`# CHECK:` lines,
/// run by LibTorch's FileCheck) on any stage where present. A changed stage with no .ir file, an
/// .ir file of an unchanged stage (a copy of the one before), or a file naming no stage is a
/// mismatch too.
GoldenCheck compareGolden(const std::string& dir, const std::vector<Stage>& stages);

/// Records every changed stage as DIR/<stem>.ir (creating DIR), and removes other .ir files of
/// stages; .check files are kept. On a LibTorch line other than 1.13, a stage whose IR differs
/// from DIR/<stem>.ir goes to DIR/libtorch-X.Y/ instead (and one that no longer differs is
/// removed from there). Returns the files written or removed.
std::vector<std::string> writeGolden(const std::string& dir, const std::vector<Stage>& stages);

}  // namespace tsopt
