// The harness of the bad-input tables (test_cli_errors.cpp, test_hostile.cpp): each case runs
// tsopt in a fresh folder of good and bad inputs and expects exit code 2, one to three lines on
// stderr that start with "tsopt: error:" and say what is wrong, nothing on stdout, and the
// folder exactly as it was (no output, no report, no temporary file; an existing output and the
// input model untouched).
#pragma once

#include <map>
#include <ostream>
#include <string>

namespace tsopt::test {

struct ErrorCase {
  std::string name;
  /// Arguments, with {dir} (a folder of good and bad inputs, see makeCaseDir), {model} (a good
  /// model in it), {lib} (the test plugins' folder) and {out}: each case with {out} runs twice,
  /// once writing a new file and once over an existing one.
  std::string args;
  /// Expected in stderr's first line, after the same substitutions.
  std::string message;
};

void PrintTo(const ErrorCase& c, std::ostream* os);

void replaceAll(std::string& s, const std::string& from, const std::string& to);
void writeFile(const std::string& path, const std::string& bytes);

/// A fresh folder holding a good model and every kind of bad file the cases name.
std::string makeCaseDir();

/// Every file under `dir` with its content.
std::map<std::string, std::string> snapshot(const std::string& dir);

/// Runs the case in `dir` with {out} standing for `out` and checks all of the above.
void expectCleanFailure(const ErrorCase& c, const std::string& dir, const std::string& out);

/// Runs the case in a new folder from makeCaseDir(), plus `prepare(dir)`: once, or, when it
/// has {out}, once to a new file and once over an existing one.
void runErrorCase(const ErrorCase& c, void (*prepare)(const std::string& dir) = nullptr);

}  // namespace tsopt::test
