// Loading and saving TorchScript modules with errors a user can act on. Saving is atomic:
// the model is written to a temporary file next to the target and renamed into place.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <string>

namespace tsopt {

/// Loads a TorchScript archive; throws tsopt::Error saying why it cannot.
torch::jit::Module loadModule(const std::string& path);

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

/// True if both paths name the same existing file.
bool sameFile(const std::string& a, const std::string& b);

}  // namespace tsopt
