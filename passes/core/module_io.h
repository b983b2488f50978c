// Loading and saving TorchScript modules with errors a user can act on. Saving is atomic:
// the model is written to a temporary file next to the target and renamed into place.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>

namespace tsopt {

/// Loads a TorchScript archive; throws tsopt::Error saying why it cannot.
torch::jit::Module loadModule(const std::string& path);

/// Why `path` cannot be opened as a file to read, without opening it: "" for a readable regular
/// file (symbolic links followed); otherwise "no such file", "it is a directory", "it is a FIFO,
/// not a file", "its symbolic links form a loop", "the name is too long", ...
std::string unreadableFile(const std::string& path);

/// Checks that `path` can be written (its folder exists and is writable, it is not a folder)
/// before any work is done; throws tsopt::Error otherwise.
void checkWritable(const std::string& path);

/// Saves `module` to `path` through a temporary file and a rename: `path` is either left as it
/// was or replaced whole. Throws tsopt::Error.
void saveModuleAtomic(const torch::jit::Module& module, const std::string& path);

/// The TorchScript archive of `module`, in memory.
std::string serializeModule(const torch::jit::Module& module);

/// Loads a module from an archive made by serializeModule (a fresh copy, sharing nothing with
/// the module it came from); `what` names it in errors.
torch::jit::Module deserializeModule(const std::string& bytes, const std::string& what);

/// Writes `bytes` to `path` through a temporary file next to it and a rename. Throws tsopt::Error.
void writeFileAtomic(const std::string& path, const std::string& bytes);

/// A file written under a temporary name next to its destination, with the permissions a new
/// file gets: commit() renames it into place; destroyed uncommitted, it is removed.
class StagedFile {
 public:
  /// Creates the temporary file for `path`; throws tsopt::Error if its folder cannot take it.
  explicit StagedFile(const std::string& path);
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  /// Where to write the content.
  const std::string& temporaryPath() const { return tmp_; }
  /// Renames the temporary file to the destination. Throws tsopt::Error.
  void commit();

 private:
  std::string path_, tmp_;
  bool committed_ = false;
};

/// `bytes` written to a staged file for `path`, not yet committed: for outputs that must appear
/// together or not at all. Throws tsopt::Error (a full disk, say) and leaves nothing behind.
std::unique_ptr<StagedFile> stageFile(const std::string& path, const std::string& bytes);

/// Saves `module` straight into a staged file for `path` (no copy of the archive in memory):
/// load it from temporaryPath() to check it, then commit(). Throws tsopt::Error.
std::unique_ptr<StagedFile> stageModule(const torch::jit::Module& module, const std::string& path);

/// Checks, without creating anything, that folder `dir` (`what`: "golden folder") can be made or
/// written: its nearest existing ancestor is a folder tsopt can write in. Throws tsopt::Error.
void checkFolderWritable(const std::string& dir, const std::string& what);

/// For a program that owns its process (the CLI): SIGINT, SIGTERM and SIGHUP remove the staged
/// files and end the process, replacing what libraries installed (Debian 13's LibTorch loads
/// UCX, whose SIGHUP handler only prints); a signal that is ignored (nohup) stays ignored.
void endOnTerminationSignals();

/// Removes every staged file that exists now (async-signal-safe: for signal handlers and for a
/// process about to _exit).
void removeStagedFiles();

/// True if both paths name the same existing file.
bool sameFile(const std::string& a, const std::string& b);

/// A path and what it is to the user ("the input model", "--report").
struct NamedPath {
  std::string what;
  std::string path;
};

/// Refuses, before anything is written, an output that is the same file as an input (by any
/// path) or as another output, or that exists but is not a regular file (a device, a FIFO):
/// writing it would destroy what the user had. Empty paths are skipped. Throws tsopt::Error.
void checkOutputPaths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs);

}  // namespace tsopt
