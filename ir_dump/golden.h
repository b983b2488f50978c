// Golden IR files: the canonical IR after each pass of a run, recorded in a folder as
// NN-<pass>.ir (as the dumps name them), compared on later runs, with optional FileCheck
// directives in NN-<pass>.check. Used by tsopt's golden tests and by `tsopt run --golden-dir`.
#pragma once

#include <string>
#include <vector>

namespace tsopt {

/// One stage of a run: "00-input" or "NN-<pass>", and its canonical IR.
struct Stage {
  std::string stem, ir;
};

/// What comparing a run with a golden folder found.
struct GoldenCheck {
  bool passed = true;
  std::string failure;  ///< the first mismatch, with a unified diff where the IR differs
};

/// Compares every stage with DIR/<stem>.ir and runs DIR/<stem>.check (`# CHECK:` lines, run by
/// LibTorch's FileCheck) on it where present. An expected file with no stage, or a stage with
/// no expected file, is a mismatch too.
GoldenCheck compareGolden(const std::string& dir, const std::vector<Stage>& stages);

/// Records every stage as DIR/<stem>.ir (creating DIR), and removes .ir files of stages that no
/// longer exist; .check files are kept. Returns the files written.
std::vector<std::string> writeGolden(const std::string& dir, const std::vector<Stage>& stages);

}  // namespace tsopt
