// The bad-input tables' harness; see cli_cases.h.
#include "tests/cli_cases.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/test_paths.h"
#include "tests/test_util.h"

namespace tsopt::test {

namespace fs = std::filesystem;

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// A fresh folder holding a good model and every kind of bad file the cases name.
std::string makeCaseDir() {
  std::string dir = tempDir();
  const std::string good = fixturePath("conv2d_bn");
  const std::string bytes = readFile(good);
  writeFile(dir + "/model.pt", bytes);
  writeFile(dir + "/existing.pt", "keep me");
  writeFile(dir + "/empty.pt", "");
  writeFile(dir + "/junk.pt", "definitely not a zip");
  writeFile(dir + "/truncated.pt", bytes.substr(0, bytes.size() / 2));
  std::string corrupt = bytes;
  corrupt[corrupt.find("PK\x03\x04") + 100] ^= 0x5a;  // inside the first (stored) record
  writeFile(dir + "/corrupt.pt", corrupt);
  std::string random(4096, '\0');
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<char>((i * 7919 + 13) % 251);
  writeFile(dir + "/random.pt", random);
  const std::string fixtures = good.substr(0, good.rfind('/') + 1);
  fs::copy_file(fixtures + "plain.zip", dir + "/plain.zip");
  fs::copy_file(fixtures + "state_dict.pt", dir + "/state_dict.pt");
  fs::copy_file(fixtures + "uses_test_op.pt", dir + "/uses_test_op.pt");
  writeFile(dir + "/fake.so", "this is not an ELF file\n");
  fs::copy_file(dir + "/model.pt", dir + "/cand.pt");
  if (mkfifo((dir + "/fifo.svg").c_str(), 0600) != 0) ADD_FAILURE() << "mkfifo failed";
  writeFile(dir + "/bad-pipeline.txt", "# two passes\ninline,\n,dce\n");
  fs::create_directory(dir + "/sub");
  fs::copy_file(fixturePath("bn_training"), dir + "/training.pt");
  fs::copy_file(fixturePath("long_chain"), dir + "/chain.pt");
  // A model with two inputs, for too few and too many shapes.
  torch::jit::Module two("TwoInputs");
  two.define("def forward(self, x, y):\n  return x + y\n");
  two.save(dir + "/two_inputs.pt");
  return dir;
}

/// Every file under `dir` with its content.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string path = e.path().string();
    if (e.is_symlink()) {
      files[path] = "<link to " + fs::read_symlink(e.path()).string() + ">";
    } else if (e.is_regular_file()) {
      files[path] = readFile(path);
    } else {
      files[path] = "<not a file>";
    }
  }
  return files;
}

void expectCleanFailure(const ErrorCase& c, const std::string& dir, const std::string& out) {
  std::string args = c.args, message = c.message;
  for (std::string* s : {&args, &message}) {
    replaceAll(*s, "{out}", out);
    replaceAll(*s, "{model}", dir + "/model.pt");
    replaceAll(*s, "{dir}", dir);
    replaceAll(*s, "{lib}", TSOPT_PLUGIN_DIR);
  }
  const auto before = snapshot(dir);
  // "{tsopt}" stands where the binary goes when the case sets the environment before it.
  const bool withEnvironment = args.find("{tsopt}") != std::string::npos;
  replaceAll(args, "{tsopt}", std::string(TSOPT_BIN_DIR) + "/tsopt");
  CommandResult r = withEnvironment ? runCommand(args) : runTsopt(args);
  SCOPED_TRACE("tsopt " + args + "\nstderr: " + r.err);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  const auto lines = std::count(r.err.begin(), r.err.end(), '\n');
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 3);
  EXPECT_EQ(r.err.rfind("tsopt: error: ", 0), 0u);
  EXPECT_NE(r.err.substr(0, r.err.find('\n')).find(message), std::string::npos)
      << "expected: " << message;
  for (const char* noise : {"INTERNAL ASSERT", "Exception raised from", "terminate called",
                            "Traceback", "frame #", "Aborted"}) {
    EXPECT_EQ(r.err.find(noise), std::string::npos) << noise;
  }
  EXPECT_EQ(snapshot(dir), before) << "the folder must be left exactly as it was";
}

void runErrorCase(const ErrorCase& c, void (*prepare)(const std::string& dir)) {
  std::string dir = makeCaseDir();
  if (prepare) prepare(dir);
  if (c.args.find("{out}") == std::string::npos) {
    expectCleanFailure(c, dir, "");
    return;
  }
  expectCleanFailure(c, dir, dir + "/new.pt");
  expectCleanFailure(c, dir, dir + "/existing.pt");
}

}  // namespace tsopt::test
