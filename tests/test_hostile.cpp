// Hostile and careless input (label hostile): archives whose zip is sound but whose contents lie
// (made at build time by tests/hostile/make_hostile.py), special files where files belong,
// paths that name nothing or too much, and signals mid-run. Each must end in one clear line and
// exit code 2 (or death by the signal), with nothing of the user's changed and nothing left.
#include <caffe2/serialize/versions.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "passes/core/module_io.h"
#include "passes/core/torch_compat.h"
#include "tests/cli_cases.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

extern char** environ;

namespace tsopt {
namespace {

namespace fs = std::filesystem;
using test::ErrorCase;

/// The crafted archives beside the case folder's good model, and links that lead nowhere.
void addHostileFiles(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(TSOPT_HOSTILE_DIR)) {
    fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  }
  fs::create_symlink("nowhere.pt", dir + "/dangling.pt");
  fs::create_symlink("loop.pt", dir + "/loop.pt");
  fs::create_symlink("model.pt", dir + "/link-to-model.pt");
}

class Hostile : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(Hostile, ExitsTwoWithAClearLineAndChangesNothing) {
  test::runErrorCase(GetParam(), addHostileFiles);
}

const std::string kDamaged = "; the file is damaged";
const std::string kLinear = "'linear/data.pkl' ";
const std::string kPastLinear =
    " that reaches past the end of its storage 'linear/data/0' (12 "
    "elements)" +
    kDamaged;
const std::string kLong(300, 'a');

const ErrorCase kCases[] = {
    // Tensors and storages that lie: LibTorch 1.13 reads past the heap block or crashes on these.
    {"TensorOffsetPastStorage", "run {dir}/tensor_offset.pt -o {out}",
     "cannot load model '{dir}/tensor_offset.pt': " + kLinear +
         "makes a tensor (sizes [4, 3], strides [3, 1], offset 2147483647)" + kPastLinear},
    {"TensorOffsetNegative", "verify {dir}/tensor_offset_negative.pt {model}",
     kLinear +
         "makes a tensor (sizes [4, 3], strides [3, 1], offset -4) with a malformed or "
         "negative offset, size or stride" +
         kDamaged},
    {"TensorSizePastStorage", "run {dir}/tensor_size.pt -O0 -o {out}",
     kLinear + "makes a tensor (sizes [1099511627776, 3], strides [3, 1], offset 0)" + kPastLinear},
    {"TensorStridePastStorage", "dot {dir}/tensor_stride.pt -o {dir}/g.dot",
     kLinear + "makes a tensor (sizes [4, 3], strides [1073741824, 1], offset 0)" + kPastLinear},
    {"TensorStrideNegative", "show {dir}/tensor_stride_negative.pt",
     "strides [-3, 1], offset 0) with a malformed or negative offset, size or stride"},
    {"TensorExtentOverflows", "run {dir}/tensor_overflow.pt -o {out}",
     "(sizes [4611686018427387904, 3], strides [4611686018427387904, 1], offset 0)" + kPastLinear},
    {"StorageRecordShort", "run {dir}/storage_short.pt -o {out} --verify",
     kLinear +
         "reads storage 'linear/data/0' as 12 elements of 4 bytes, but its record holds 8 "
         "bytes" +
         kDamaged},
    {"StorageRecordMissing", "show {dir}/storage_missing.pt --summary",
     kLinear + "reads a storage from record 'linear/data/0', which the archive lacks" + kDamaged},
    {"StorageSizeOverflows", "run {dir}/storage_huge.pt -o {out}",
     "reads storage 'linear/data/0' as 1152921504606846976 elements of 4 bytes, but its record "
     "holds 48 bytes"},
    {"StorageTypeUnknown", "run {dir}/storage_unknown_type.pt -o {out}",
     kLinear + "reads a storage of unknown type 'torch EvilyStorage'" + kDamaged},
    {"ConstantPastStorage", "run {dir}/constant_offset.pt -o {out}",
     "'constant/constants.pkl' makes a tensor (sizes [3], strides [1], offset 1000) that reaches "
     "past the end of its storage 'constant/constants/0' (3 elements)" +
         kDamaged},
    {"InputsFileDamaged", "verify {model} {model} --inputs {dir}/tensor_offset.pt",
     "cannot read inputs file '{dir}/tensor_offset.pt': " + kLinear + "makes a tensor"},

    // Pickles that are not what LibTorch's unpickler expects.
    {"PickleTruncated", "run {dir}/pickle_truncated.pt -o {out}",
     kLinear + "ends without a STOP (at byte 156)" + kDamaged},
    {"PickleUnknownOpcode", "run {dir}/pickle_unknown_opcode.pt -o {out}",
     kLinear + "uses opcode 0xff, which tsopt does not read (at byte 2)" + kDamaged},
    {"PickleUnbalanced", "verify {dir}/pickle_unbalanced.pt {model}",
     kLinear + "has no MARK to pop to (at byte 2)" + kDamaged},
    {"SourceRangePickleLies", "show {dir}/debug_pickle_memo.pt",
     "'linear/code/__torch__/torch/nn/modules/linear.py.debug_pkl' stores memo entry 2147483647, "
     "beyond the 1 objects made so far (at byte 3)" +
         kDamaged},
    {"PickleNestedAMillionDeep", "show {dir}/pickle_deep.pt",
     kLinear + "nests objects more than 1000 deep" + kDamaged},

    // Code that LibTorch's recursive compiler cannot take.
    {"CodeNestedParentheses", "run {dir}/code_deep_parentheses.pt -o {out}",
     "cannot load model '{dir}/code_deep_parentheses.pt': "
     "'relu/code/__torch__/torch/nn/modules/activation.py' nests code 20004 deep, more than "
     "LibTorch's compiler can take (500)"},
    {"CodeLongOperatorChain", "show {dir}/code_long_chain.pt", "nests code 20004 deep"},
    {"CodeDeepBlocks", "verify {dir}/code_deep_blocks.pt {model}", "nests code 604 deep"},

    // Archives no LibTorch this tsopt builds against can read: the line names both versions.
    {"ArchiveFormatNewerThanThisLibTorch", "run {dir}/format_too_new.pt -o {out}",
     "cannot load model '{dir}/format_too_new.pt': it is archive format version 99, and LibTorch " +
         compat::libtorchVersion() + " reads up to version " +
         std::to_string(caffe2::serialize::kMaxSupportedFileFormatVersion) +
         ": it needs a newer LibTorch"},
    {"OperatorNoLibTorchHas", "show {dir}/calls_unknown_aten.pt --summary",
     "cannot load model '{dir}/calls_unknown_aten.pt': it calls aten::tsopt_no_such_op, which "
     "LibTorch " +
         compat::libtorchVersion() + " lacks: it needs a newer LibTorch than " +
         compat::libtorchVersion()},

    // A 1 MB archive that unpacks to 1 GiB, refused before anything is inflated.
    {"ZipBomb", "run {dir}/bomb.pt -o {out}",
     "cannot load model '{dir}/bomb.pt': its compressed records unpack to more than 512 MiB (a "
     "zip bomb?); raise the limit (--max-inflate MB)"},
    {"UnpackLimitLowered", "verify {dir}/bomb_small.pt {dir}/bomb_small.pt --max-inflate 4",
     "its compressed records unpack to more than 4 MiB"},
    {"UnpackLimitZero", "show {model} --max-inflate 0", "--max-inflate: Value 0 not in range"},

    // Special files where a file belongs: nothing may wait for a writer or read forever.
    {"ModelIsADevice", "show /dev/zero",
     "cannot load model '/dev/zero': it is a character device, not a file"},
    {"InputsFileIsAFifo", "verify {model} {model} --inputs {dir}/fifo.svg",
     "cannot read inputs file '{dir}/fifo.svg': it is a FIFO, not a file"},
    {"InputsFileIsADevice", "verify {model} {model} --inputs /dev/urandom",
     "it is a character device, not a file"},
    {"OpsLibraryIsAFifo", "show {model} --ops {dir}/fifo.svg",
     "operator library '{dir}/fifo.svg' is not a shared library (it is a FIFO, not a file)"},
    {"PluginIsAFifo", "run {model} -o {out} --plugin {dir}/fifo.svg",
     "plugin '{dir}/fifo.svg' is not a shared library (it is a FIFO, not a file)"},
    {"PipelineFileIsAFifo", "run {model} -o {out} -p @{dir}/fifo.svg", "not a regular file"},
    {"ReportIsStandardOutput", "run {model} -o {out} --report /proc/self/fd/1",
     "the JSON report '/proc/self/fd/1' is a process's file descriptor, not a regular file: tsopt "
     "writes only files"},
    {"OutputIsStandardOutput", "run {model} -o /dev/stdout",
     "the output model '/dev/stdout' is a process's file descriptor, not a regular file"},
    {"GoldenDirIsAFifo", "run {model} -o {out} --golden-dir {dir}/fifo.svg --update-golden",
     "'{dir}/fifo.svg' is not a folder"},

    // Paths.
    {"ModelLinkDangles", "run {dir}/dangling.pt -o {out}",
     "cannot load model '{dir}/dangling.pt': no such file"},
    {"ModelLinksLoop", "show {dir}/loop.pt", "its symbolic links form a loop"},
    {"ModelUnderAFile", "show {model}/x.pt", "no such file (a folder on its path is a file)"},
    {"ModelNameTooLong", "show {dir}/" + kLong + ".pt", "the name is too long"},
    {"OutputNameTooLong", "run {model} -o {dir}/" + kLong + ".pt", "(File name too long)"},
    {"OutputIsALinkToTheInput", "run {model} -o {dir}/link-to-model.pt",
     "is the input model; allow overwriting it (--in-place)"},
    {"ReportIsALinkToTheInput", "run {model} -o {out} --report {dir}/link-to-model.pt",
     "is the input model ({model}): tsopt does not overwrite what it reads"},
};

INSTANTIATE_TEST_SUITE_P(, Hostile, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

TEST(HostilePaths, AnOutputThatIsASymbolicLinkIsWrittenWhereItLeads) {
  // Replacing the link with a file would change what the user has; the file it names is the
  // output the user meant.
  const std::string dir = test::tempDir();
  fs::create_directory(dir + "/models");
  test::writeFile(dir + "/models/real.pt", "old");
  fs::create_symlink("models/real.pt", dir + "/out.pt");
  auto r = test::runTsopt("run " + test::fixturePath("conv2d_bn") + " -o " + dir + "/out.pt -q");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir + "/out.pt"));
  EXPECT_EQ(fs::read_symlink(dir + "/out.pt"), "models/real.pt");
  loadModule(dir + "/models/real.pt");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir + "/models"), fs::directory_iterator()), 1);
}

/// Starts tsopt with `args` (no shell), its output discarded; returns its pid.
pid_t spawnTsopt(const std::vector<std::string>& args) {
  std::vector<std::string> all = {std::string(TSOPT_BIN_DIR) + "/tsopt"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  // The signals at their defaults, as in a terminal: a suite started in the background of a
  // script inherits SIGINT and SIGQUIT ignored, which tsopt rightly leaves ignored.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ), 0);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

TEST(HostileSignal, CtrlCOrAKillMidRunLeavesNothingBehind) {
  // A model whose forward never returns, verified with no time limit: tsopt is stopped by the
  // signal, as a user would stop it, after it has loaded, optimised and started verifying.
  const std::string model = std::string(TSOPT_FIXTURE_DIR) + "/never_returns.pt";
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(strsignal(sig));
    const std::string dir = test::tempDir();
    fs::copy_file(model, dir + "/model.pt");
    pid_t pid = spawnTsopt({"run", dir + "/model.pt", "-o", dir + "/out.pt", "--report",
                            dir + "/r.json", "--html", dir + "/r.html", "--dump-dir",
                            dir + "/dumps", "--verify", "--input", "2", "--timeout", "0"});
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    ASSERT_EQ(kill(pid, sig), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
    // The dumps of the passes that ran stay (they show how far the run got); no output, no
    // report and no staged temporary file does.
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename());
    std::sort(left.begin(), left.end());
    EXPECT_EQ(left, (std::vector<std::string>{"dumps", "model.pt"}));
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      const std::string name = e.path().filename();
      EXPECT_EQ(name.find(".tmp-"), std::string::npos) << "a staged file is left: " << name;
    }
    EXPECT_TRUE(fs::exists(dir + "/dumps/.tsopt-dump"));
    EXPECT_EQ(test::readFile(dir + "/model.pt"), test::readFile(model));
  }
}

}  // namespace
}  // namespace tsopt
