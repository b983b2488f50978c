// Shared test helpers: fixture models from the manifest, seeded inputs, before/after numerics,
// and running the tsopt binary.
#pragma once

#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "passes/core/pass_manager.h"
#include "verify/compare.h"

namespace tsopt::test {

/// One model of tests/fixtures/make_models.py.
struct Fixture {
  std::string name, kind, file;
  std::vector<std::vector<int64_t>> inputs;
  bool training = false;
  std::string id() const { return name + "_" + kind; }
  std::string path() const;
};

/// How gtest prints a fixture parameter.
inline void PrintTo(const Fixture& f, std::ostream* os) { *os << f.id(); }

/// Every fixture in the manifest.
const std::vector<Fixture>& fixtures();
/// The fixture `name` of `kind` ("traced" or "scripted"); fails the test if absent. A copy: a
/// reference returned from string arguments reads as dangling to GCC 14's -Wdangling-reference.
Fixture fixture(const std::string& name, const std::string& kind);

/// The path of fixture `name` of `kind`.
inline std::string fixturePath(const std::string& name, const std::string& kind = "traced") {
  return fixture(name, kind).path();
}
/// The whole content of a file ("" if it cannot be read).
std::string readFile(const std::string& path);

/// Seeded random inputs matching the fixture's shapes.
std::vector<c10::IValue> makeInputs(const Fixture& f, uint64_t seed);

/// Runs `method` on copies of `inputs`.
c10::IValue runMethod(torch::jit::Module& m, const std::vector<c10::IValue>& inputs,
                      const std::string& method = "forward");

/// Runs `pipeline` on a fresh load of `f`; returns the transformed module and the run result.
std::pair<torch::jit::Module, RunResult> runPipeline(const Fixture& f, const std::string& pipeline,
                                                     const std::vector<std::string>& methods = {
                                                         "forward"});

/// Expects `after` to compute what a fresh load of `f` computes, on three seeded inputs.
/// The tolerance is relative to each output's magnitude.
/// For passes that must not change a single value (inline, dce): the outputs on three seeded
/// inputs are equal element for element (NaN where the fixture's are NaN), not merely close.
void expectIdenticalOutputs(const Fixture& f, torch::jit::Module& after,
                            const std::string& method = "forward");

/// For passes that fold arithmetic (BatchNorm into a convolution or linear): `after`'s outputs
/// are as close to the exact result as the fixture's own float32 outputs are, up to what the
/// fold's own rounding adds. The exact result is the fixture run in float64; the bound on each
/// output is 4 times the fixture's float32 error plus 8 units of float32 rounding of the output's
/// magnitude: a fold does no more float32 operations per output than the layers it replaces,
/// and each of its new weights is one rounding away from the exact product.
void expectFoldedNumerics(const Fixture& f, torch::jit::Module& after,
                          const std::string& method = "forward");

void expectSameNumerics(const Fixture& f, torch::jit::Module& after,
                        const std::string& method = "forward", double tol = 1e-4);

/// The IR text of `method`.
std::string irOf(const torch::jit::Module& m, const std::string& method = "forward");

/// Result of running a command.
struct CommandResult {
  int exitCode = -1;
  std::string out, err;
};
/// Runs the tsopt binary with `args` (a shell-quoted string).
CommandResult runTsopt(const std::string& args);
/// Runs a shell command, with TMPDIR a folder removed when it ends.
CommandResult runCommand(const std::string& command);
/// A fresh empty directory for a test's files, removed when the test process exits.
std::string tempDir();
/// Path to a plugin library built with the tests.
std::string pluginPath(const std::string& name);

}  // namespace tsopt::test
