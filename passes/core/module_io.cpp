// Model loading and atomic saving.
#include "passes/core/module_io.h"

#include <caffe2/serialize/read_adapter_interface.h>
#include <sys/stat.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>

#include "passes/core/archive_check.h"
#include "passes/core/deadline.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/op_library.h"
#include "passes/core/torch_compat.h"

namespace tsopt {

namespace fs = std::filesystem;

namespace {

ArchiveReader fileReader(std::ifstream& file, uint64_t size) {
  return {[size] { return size; },
          [&file](uint64_t offset, char* out, uint64_t n) {
            file.seekg(static_cast<std::streamoff>(offset));
            file.read(out, static_cast<std::streamsize>(n));
            return static_cast<uint64_t>(file.gcount()) == n;
          }};
}

/// Runs `load`; when it fails on an operator whose library is known and installed, loads that
/// library and tries again. `what` names the model in errors.
torch::jit::Module loadWithOperatorLibraries(const std::function<torch::jit::Module()>& load,
                                             const std::string& what) {
  std::set<std::string> tried;
  for (;;) {
    try {
      return load();
    } catch (const std::exception& e) {
      if (std::string need = compat::newerLibTorchNeeded(e.what()); !need.empty()) {
        throw Error(what + ": " + need);
      }
      std::string op = compat::unknownOperator(describeException(e));
      if (op.empty()) throw;
      std::string ns = op.substr(0, op.find("::"));
      std::string library = findOperatorLibrary(ns);
      if (library.empty() || !tried.insert(library).second) {
        throw Error(what + ": it calls operator " + op +
                        ", which no loaded operator library registers; load the library that "
                        "provides it",
                    Setting::kOperatorLibrary);
      }
      loadOperatorLibrary(library, op);
    }
  }
}

}  // namespace

namespace {

/// "a character device", "a FIFO", ... for a file that exists and is not regular; "" otherwise.
std::string specialKind(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st) || fs::is_regular_file(st) || fs::is_directory(st)) return "";
  if (fs::is_character_file(st)) return "a character device";
  if (fs::is_block_file(st)) return "a block device";
  if (fs::is_fifo(st)) return "a FIFO";
  if (fs::is_socket(st)) return "a socket";
  return "not a regular file";
}

}  // namespace

std::string unreadableFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    switch (errno) {
      case ENOENT:
        return "no such file";
      case ENOTDIR:
        return "no such file (a folder on its path is a file)";
      case ELOOP:
        return "its symbolic links form a loop";
      case ENAMETOOLONG:
        return "the name is too long";
      default:
        return std::strerror(errno);
    }
  }
  if (S_ISDIR(st.st_mode)) return "it is a directory";
  // Opening a FIFO would wait for a writer that may never come; a device may never end.
  if (std::string kind = specialKind(path); !kind.empty()) return "it is " + kind + ", not a file";
  if (access(path.c_str(), R_OK) != 0) return "permission denied";
  return "";
}

torch::jit::Module loadModule(const std::string& path) {
  std::error_code ec;
  const std::string what = "cannot load model '" + path + "'";
  if (std::string why = unreadableFile(path); !why.empty()) throw Error(what + ": " + why);
  if (fs::file_size(path, ec) == 0) throw Error(what + ": the file is empty");
  std::ifstream file(path, std::ios::binary);
  checkArchive(fileReader(file, fs::file_size(path, ec)), what);
  try {
    Deadline deadline("loading '" + path + "' (its __setstate__ methods run)");
    return loadWithOperatorLibraries([&] { return torch::jit::load(path); }, what);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string why = describeException(e);
    if (why.find("failed finding central directory") != std::string::npos ||
        why.find("failed reading zip archive") != std::string::npos) {
      why = "not a TorchScript archive (not a readable zip file)";
    } else if (why.find("inline_container") != std::string::npos) {
      why = "not a TorchScript archive (a zip file, but not one torch.jit.save wrote)";
    } else if (why.find("constants.pkl") != std::string::npos ||
               why.find("code/") != std::string::npos) {
      why = "not a TorchScript module (a torch.save archive? save with torch.jit.save)";
    }
    throw Error(what + ": " + why);
  }
}

namespace {

/// The folder `path` is to be written in; throws if `path` is a folder or has no folder.
fs::path outputFolder(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) throw Error("cannot write '" + path + "': it is a directory");
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir, ec)) {
    throw Error("cannot write '" + path + "': " +
                (fs::exists(dir, ec) ? "'" + dir.string() + "' is not a folder"
                                     : "folder '" + dir.string() + "' does not exist"));
  }
  return dir;
}

/// Temporary files that exist now, for the signal handler to remove: fixed storage, since a
/// handler may not allocate. A slot is free when its first byte is 0.
constexpr size_t kMaxTemporaries = 16;
constexpr size_t kMaxTemporaryPath = 4096;
char gTemporaries[kMaxTemporaries][kMaxTemporaryPath];

void removeTemporariesAndDie(int sig) {
  removeStagedFiles();
  signal(sig, SIG_DFL);
  raise(sig);
}

/// Installs removeTemporariesAndDie for SIGINT, SIGTERM and SIGHUP where the disposition is the
/// default, or any handler when `replaceHandlers` (never where the signal is ignored, as under
/// nohup).
void installSignalCleanup(bool replaceHandlers) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    if (old.sa_handler != SIG_DFL && !replaceHandlers) continue;
    struct sigaction action {};
    action.sa_handler = removeTemporariesAndDie;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);
  }
}

/// On the first temporary file: the signals remove the temporary files before the process ends
/// as the signal says. A handler someone else installed (Python's, for one) is left alone.
void installSignalCleanup() {
  static std::once_flag once;
  std::call_once(once, [] { installSignalCleanup(false); });
}

}  // namespace

void endOnTerminationSignals() { installSignalCleanup(true); }

namespace {

std::mutex gTemporariesMutex;

void trackTemporary(const std::string& path) {
  installSignalCleanup();
  if (path.size() >= kMaxTemporaryPath) return;
  std::lock_guard<std::mutex> lock(gTemporariesMutex);
  for (auto& slot : gTemporaries) {
    if (slot[0]) continue;
    std::memcpy(slot + 1, path.c_str() + 1, path.size());  // the first byte last: then it counts
    slot[0] = path[0];
    return;
  }
}

void untrackTemporary(const std::string& path) {
  std::lock_guard<std::mutex> lock(gTemporariesMutex);
  for (auto& slot : gTemporaries) {
    if (slot[0] && path == slot) slot[0] = 0;
  }
}

/// Whether `path`, or a link on the way from it to a file, is a process's descriptor
/// (/proc/self/fd/1, /dev/stdout): a magic link to whatever the descriptor is open on, which a
/// save (a new file renamed into place) must not replace.
bool isDescriptorLink(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  for (int hop = 0; hop < 40 && !ec; ++hop) {
    const fs::path folder = fs::weakly_canonical(p.parent_path(), ec);
    if (folder.filename() == "fd" && folder.string().rfind("/proc/", 0) == 0) return true;
    if (!fs::is_symlink(p, ec)) return false;
    const fs::path target = fs::read_symlink(p, ec);
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  return false;
}

/// Where a save to `path` goes: the file a symbolic link leads to (replacing the link itself
/// would change what the user has), else `path`.
std::string saveTarget(const std::string& path) {
  std::error_code ec;
  if (!fs::is_symlink(path, ec)) return path;
  fs::path target = fs::weakly_canonical(path, ec);
  return ec ? path : target.string();
}

/// Creates a private temporary file in `dir` named after `path`; returns its descriptor.
int createTemporary(const std::string& path, const fs::path& dir, std::string& tmpPath) {
  tmpPath = (dir / ("." + fs::path(path).filename().string() + ".tmp-XXXXXX")).string();
  int fd = mkstemp(tmpPath.data());
  if (fd < 0) {
    throw Error("cannot write '" + path + "': folder '" + dir.string() + "' is not writable (" +
                std::strerror(errno) + ")");
  }
  return fd;
}

}  // namespace

void checkFolderWritable(const std::string& dir, const std::string& what) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  const std::string named = "cannot write " + what + " '" + dir + "'";
  if (!fs::is_directory(p, ec)) throw Error(named + ": '" + p.string() + "' is not a folder");
  std::string probe;
  try {
    close(createTemporary((p / "probe").string(), p, probe));
  } catch (const Error&) {
    throw Error(named + ": folder '" + p.string() + "' is not writable");
  }
  std::remove(probe.c_str());
}

void removeStagedFiles() {
  for (auto& slot : gTemporaries) {
    if (slot[0]) unlink(slot);
  }
}

void checkWritable(const std::string& path) {
  // access() says yes to root everywhere, and knows nothing of /proc or full disks: try it.
  std::string probe;
  close(createTemporary(path, outputFolder(saveTarget(path)), probe));
  std::remove(probe.c_str());
}

/// Refuses what LibTorch 1.13 cannot save, or saves but cannot load back: an MKLDNN
/// convolution context held as a constant (freezing a module that holds one as an attribute
/// makes one; it is saved without its fusion), an MKLDNN tensor in an attribute of a module that
/// does not say how to save itself (freezing drops a holder's __getstate__). The pipeline parser
/// refuses the built-in passes' orders that lead here (Pass::constraintsOnLater); this catches
/// any other way.
void checkLoadable(const torch::jit::Module& module) {
  for (const torch::jit::Method& method : module.get_methods()) {
    forEachNode(method.graph()->block(), [&](torch::jit::Node* n) {
      if (n->kind() != c10::prim::Constant) return;
      auto type = n->output()->type()->cast<c10::ClassType>();
      if (type && type->name() &&
          type->name()->qualifiedName() == "__torch__.torch.classes.mkldnn.ConvOpContext") {
        throw Error("method '" + method.name() +
                    "' holds a prepacked convolution as a constant, which LibTorch saves in a "
                    "form it cannot load (was it frozen after its convolutions were prepacked?)");
      }
    });
  }
  for (const torch::jit::NameModule& sub : module.named_modules()) {
    if (sub.value.type()->findMethod("__getstate__")) continue;
    for (const torch::jit::NameValue& attr : sub.value.named_attributes(/*recurse=*/false)) {
      if (!attr.value.isTensor() || !attr.value.toTensor().is_mkldnn()) continue;
      std::string where = sub.name.empty() ? attr.name : sub.name + "." + attr.name;
      throw Error("attribute '" + where +
                  "' is an MKLDNN tensor in a module without __getstate__, which cannot be "
                  "saved (was it frozen after its weights were converted?)");
    }
  }
}

namespace {

/// The identifier LibTorch's printer makes of a value's name ("x.1" -> "x", "0x" -> "_0x").
std::string printedBase(const torch::jit::Value* v) {
  std::string id = v->debugNameBase();
  for (char& c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0]))) id = "_" + id;
  return id;
}

/// While it lives, the named values of a module's methods have distinct printed names; their
/// own names come back when it dies. LibTorch's printer makes names unique by probing `name` +
/// a counter kept per probed name, not per base, so N values printed as `input` beside values
/// already called `input0`, `input1`, ... (code printed before, then inlined) take O(N) probes
/// each, and saving an inlined scripted model takes time quadratic in its size. Distinct names
/// take one probe each. The names are put back because the module may be the user's own
/// (`tsopt.save`, a live module copied).
class DistinctPrintedNames {
 public:
  explicit DistinctPrintedNames(const torch::jit::Module& module) {
    forEachMethodGraph(module, [&](torch::jit::Graph& graph) { rename(graph); });
  }
  ~DistinctPrintedNames() {
    for (auto it = renamed_.rbegin(); it != renamed_.rend(); ++it) {
      it->first->setDebugName(it->second);
    }
  }
  DistinctPrintedNames(const DistinctPrintedNames&) = delete;
  DistinctPrintedNames& operator=(const DistinctPrintedNames&) = delete;

 private:
  void rename(torch::jit::Graph& graph) {
    std::vector<torch::jit::Value*> repeated;
    std::unordered_set<std::string> taken;
    auto visit = [&](torch::jit::Value* v) {
      if (!v->hasDebugName()) return;
      // `_N` is what the printer calls a value without a name: a model printed and loaded again
      // has them as names, which the printer's own `_N` then collide with. Unnamed, such a value
      // prints as it did the first time (inlined into its use where it can be).
      const std::string base = v->debugNameBase();
      if (base.size() > 1 && base[0] == '_' &&
          std::all_of(base.begin() + 1, base.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        setName(v, "");
      } else if (!taken.insert(printedBase(v)).second) {
        repeated.push_back(v);
      }
    };
    forEachValue(graph.block(), visit);
    // A new name is a printed base (no '.') not taken as a base, so it is no value's name.
    std::unordered_map<std::string, size_t> next;
    for (torch::jit::Value* v : repeated) {
      const std::string base = printedBase(v);
      std::string name;
      do {
        name = base + "_" + std::to_string(++next[base]);
      } while (!taken.insert(name).second);
      setName(v, name);
    }
  }

  void setName(torch::jit::Value* v, const std::string& name) {
    renamed_.emplace_back(v, v->debugName());
    v->setDebugName(name);
  }

  std::vector<std::pair<torch::jit::Value*, std::string>> renamed_;
};

}  // namespace

std::string serializeModule(const torch::jit::Module& module) {
  checkLoadable(module);
  DistinctPrintedNames names(module);
  std::string bytes;
  bytes.reserve(attributeTensors(module).bytes + (1 << 20));  // the tensors, and room for code
  try {
    // Straight into the string: an ostringstream would copy the archive as it grows, and again.
    torch::jit::ExportModule(module, [&](const void* data, size_t n) {
      bytes.append(static_cast<const char*>(data), n);
      return n;
    });
  } catch (const std::exception& e) {
    throw Error("cannot serialize the model: " + describeException(e));
  }
  return bytes;
}

namespace {

/// Reads an archive in memory where it is (an istringstream would copy it first).
class StringReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit StringReadAdapter(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::string& bytes_;
};

}  // namespace

torch::jit::Module deserializeModule(const std::string& bytes, const std::string& what) {
  checkArchive(memoryReader(bytes), "cannot load " + what);
  try {
    return loadWithOperatorLibraries(
        [&] { return torch::jit::load(std::make_shared<StringReadAdapter>(bytes)); },
        "cannot load " + what);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("cannot load " + what + ": " + describeException(e));
  }
}

void saveModuleAtomic(const torch::jit::Module& module, const std::string& path) {
  stageModule(module, path)->commit();
}

std::unique_ptr<StagedFile> stageFile(const std::string& path, const std::string& bytes) {
  auto file = std::make_unique<StagedFile>(path);
  std::ofstream out(file->temporaryPath(), std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  return file;
}

void writeFileAtomic(const std::string& path, const std::string& bytes) {
  stageFile(path, bytes)->commit();
}

StagedFile::StagedFile(const std::string& path) : path_(saveTarget(path)) {
  int fd = createTemporary(path, outputFolder(path_), tmp_);
  trackTemporary(tmp_);
  mode_t mask = umask(0);  // mkstemp makes the file private; give it the usual permissions
  umask(mask);
  bool ok = fchmod(fd, 0666 & ~mask) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    std::remove(tmp_.c_str());
    untrackTemporary(tmp_);
    throw Error("cannot write '" + path + "': " + std::strerror(errno));
  }
}

StagedFile::~StagedFile() {
  if (!committed_) std::remove(tmp_.c_str());
  untrackTemporary(tmp_);
}

void StagedFile::commit() {
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) throw Error("cannot write '" + path_ + "': " + ec.message());
  committed_ = true;
  untrackTemporary(tmp_);
}

std::unique_ptr<StagedFile> stageModule(const torch::jit::Module& module, const std::string& path) {
  auto file = std::make_unique<StagedFile>(path);
  try {
    checkLoadable(module);
    DistinctPrintedNames names(module);
    module.save(file->temporaryPath());
  } catch (const Error& e) {
    throw Error("cannot save model to '" + path + "': " + e.what());
  } catch (const std::exception& e) {
    throw Error("cannot save model to '" + path + "': " + describeException(e));
  }
  return file;
}

bool sameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

namespace {

/// The same name, whether or not the file exists yet ("out.pt" and "./out.pt").
bool sameName(const std::string& a, const std::string& b) {
  std::error_code ea, eb;
  fs::path pa = fs::weakly_canonical(a, ea), pb = fs::weakly_canonical(b, eb);
  return !ea && !eb && pa == pb;
}

}  // namespace

void checkOutputPaths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& out = outputs[i];
    if (out.path.empty()) continue;
    const std::string named = out.what + " '" + out.path + "'";
    std::string kind = specialKind(out.path);
    if (isDescriptorLink(out.path)) kind = "a process's file descriptor";
    if (!kind.empty()) {
      throw Error(named + " is " + kind + ", not a regular file: tsopt writes only files");
    }
    for (const NamedPath& in : inputs) {
      if (!in.path.empty() && sameFile(in.path, out.path)) {
        throw Error(named + " is " + in.what + " (" + in.path +
                    "): tsopt does not overwrite what it reads");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      const NamedPath& other = outputs[j];
      if (!other.path.empty() &&
          (sameName(other.path, out.path) || sameFile(other.path, out.path))) {
        throw Error(named + " is also " + other.what + " (" + other.path + ")");
      }
    }
  }
}

}  // namespace tsopt
