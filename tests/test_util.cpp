// Shared test helpers.
#include "tests/test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "passes/core/graph_utils.h"
#include "passes/core/instrumentations.h"
#include "passes/core/module_io.h"
#include "passes/core/torch_compat.h"
#include "tests/test_paths.h"

namespace tsopt::test {

namespace fs = std::filesystem;

// The suite checks what graphs compute, not LibTorch's CPU fuser (built with LLVM in 2.x, it
// compiles kernels for seconds to minutes the second time a method runs).
const bool kNoFusion = (compat::disableTensorExprFuser(), true);

std::string Fixture::path() const { return std::string(TSOPT_FIXTURE_DIR) + "/" + file; }

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture> all = [] {
    std::ifstream in(std::string(TSOPT_FIXTURE_DIR) + "/manifest.json");
    if (!in) throw std::runtime_error("fixture manifest missing: build the tsopt_fixtures target");
    nlohmann::json j = nlohmann::json::parse(in);
    std::vector<Fixture> out;
    for (const auto& e : j) {
      out.push_back({e["name"], e["kind"], e["file"],
                     e["inputs"].get<std::vector<std::vector<int64_t>>>(), e["training"]});
    }
    return out;
  }();
  return all;
}

Fixture fixture(const std::string& name, const std::string& kind) {
  for (const Fixture& f : fixtures()) {
    if (f.name == name && f.kind == kind) return f;
  }
  throw std::runtime_error("no fixture " + name + " " + kind);
}

std::vector<c10::IValue> makeInputs(const Fixture& f, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<c10::IValue> out;
  for (const auto& shape : f.inputs) out.push_back(torch::randn(shape));
  return out;
}

c10::IValue runMethod(torch::jit::Module& m, const std::vector<c10::IValue>& inputs,
                      const std::string& method) {
  std::vector<c10::IValue> copies;
  for (const auto& v : inputs) copies.push_back(v.isTensor() ? v.toTensor().clone() : v);
  torch::NoGradGuard noGrad;
  return m.get_method(method)(copies);
}

std::pair<torch::jit::Module, RunResult> runPipeline(const Fixture& f, const std::string& pipeline,
                                                     const std::vector<std::string>& methods) {
  torch::jit::Module m = loadModule(f.path());
  PassManager pm(parsePipeline(pipeline));
  pm.addInstrumentation(std::make_shared<NodeCounts>());
  RunResult r = pm.run(m, methods);
  return {m, r};
}

namespace {

/// Largest magnitude over every floating tensor in `v`, for tolerances relative to outputs.
double magnitude(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return t.is_floating_point() && t.numel() ? t.abs().max().item<double>() : 0.0;
  }
  double m = 0;
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) m = std::max(m, magnitude(e));
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) m = std::max(m, magnitude(e));
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) m = std::max(m, magnitude(e.value()));
  }
  return m;
}

}  // namespace

namespace {

/// Runs `method` of the fixture and of `after` on three seeded inputs; `tolerance(expected)`
/// gives the tolerance each comparison uses.
void compareOnSeeds(const Fixture& f, torch::jit::Module& after, const std::string& method,
                    const std::function<Tolerance(const c10::IValue&)>& tolerance) {
  torch::jit::Module before = loadModule(f.path());
  for (uint64_t seed : {1, 2, 3}) {
    auto inputs = makeInputs(f, seed);
    c10::IValue expected = runMethod(before, inputs, method);
    c10::IValue actual = runMethod(after, inputs, method);
    Comparison c = compareOutputs(expected, actual, tolerance(expected));
    EXPECT_TRUE(c.equal) << f.id() << " seed " << seed << ": " << c.mismatch;
  }
}

}  // namespace

void expectIdenticalOutputs(const Fixture& f, torch::jit::Module& after,
                            const std::string& method) {
  compareOnSeeds(f, after, method, [](const c10::IValue&) { return Tolerance{0.0, 0.0}; });
}

namespace {

c10::IValue toDouble(const c10::IValue& v) {
  if (v.isTensor() && v.toTensor().is_floating_point()) return v.toTensor().to(at::kDouble);
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& e : v.toTupleRef().elements()) items.push_back(toDouble(e));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return v;
}

/// The largest |a - b| over the floating tensors of two outputs of the same structure, compared
/// in float64 (exact for float32 values) by the verifier's comparison.
double maxAbsDiff(const c10::IValue& a, const c10::IValue& b) {
  const double any = std::numeric_limits<double>::infinity();
  return compareOutputs(toDouble(b), toDouble(a), Tolerance{0.0, any}).maxAbsDiff;
}

/// The model at `path` computing in float64: parameters, buffers and the tensor constants of its
/// methods' graphs (a frozen model's weights) converted.
torch::jit::Module loadInDouble(const std::string& path) {
  torch::jit::Module m = loadModule(path);
  m.to(at::kDouble);
  for (const torch::jit::Method& method : m.get_methods()) {
    forEachNode(method.graph()->block(), [](torch::jit::Node* n) {
      if (n->kind() != c10::prim::Constant || !n->output()->type()->cast<c10::TensorType>()) {
        return;
      }
      at::Tensor t = n->t(c10::attr::value);
      if (!t.is_floating_point()) return;
      t = t.to(at::kDouble);
      n->t_(c10::attr::value, t);
      n->output()->inferTypeFrom(t);
    });
  }
  return m;
}

}  // namespace

void expectFoldedNumerics(const Fixture& f, torch::jit::Module& after, const std::string& method) {
  constexpr double kUnitRoundoff = 0x1p-24;  // float32
  torch::jit::Module before = loadModule(f.path());
  torch::jit::Module exact = loadInDouble(f.path());
  for (uint64_t seed : {1, 2, 3}) {
    auto inputs = makeInputs(f, seed);
    std::vector<c10::IValue> inputs64;
    for (const c10::IValue& v : inputs) inputs64.push_back(toDouble(v));
    c10::IValue reference = runMethod(exact, inputs64, method);
    c10::IValue unfolded = runMethod(before, inputs, method);
    c10::IValue folded = runMethod(after, inputs, method);
    const double bound =
        4 * maxAbsDiff(unfolded, reference) + 8 * kUnitRoundoff * magnitude(reference);
    const double error = maxAbsDiff(folded, reference);
    EXPECT_LE(error, bound) << f.id() << " seed " << seed << ": the folded model is " << error
                            << " from the exact result, the unfolded one "
                            << maxAbsDiff(unfolded, reference);
  }
}

void expectSameNumerics(const Fixture& f, torch::jit::Module& after, const std::string& method,
                        double tol) {
  compareOnSeeds(f, after, method, [tol](const c10::IValue& expected) {
    return Tolerance{0.0, tol * std::max(1.0, magnitude(expected))};
  });
}

std::string irOf(const torch::jit::Module& m, const std::string& method) {
  return m.get_method(method).graph()->toString(false);
}

CommandResult runTsopt(const std::string& args) {
  return runCommand(std::string(TSOPT_BIN_DIR) + "/tsopt " + args);
}

CommandResult runCommand(const std::string& command) {
  std::string dir = tempDir();
  std::string outPath = dir + "/stdout", errPath = dir + "/stderr";
  // Temporary files of the command (reproducers, say) go into `dir` and are removed with it.
  std::string cmd =
      "export TMPDIR=" + dir + "; " + command + " >" + outPath + " 2>" + errPath + " </dev/null";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = readFile(outPath);
  r.err = readFile(errPath);
  fs::remove_all(dir);
  return r;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

namespace {

/// The directories tempDir() made, removed when the test process exits.
struct TempDirs {
  std::vector<std::string> paths;
  ~TempDirs() {
    std::error_code ignored;
    for (const std::string& p : paths) fs::remove_all(p, ignored);
  }
};

}  // namespace

std::string tempDir() {
  static TempDirs made;
  std::string tmpl = (fs::temp_directory_path() / "tsopt-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  made.paths.push_back(tmpl);
  return tmpl;
}

std::string pluginPath(const std::string& name) {
  return std::string(TSOPT_PLUGIN_DIR) + "/" + name + ".so";
}

}  // namespace tsopt::test
