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

/// True if both paths name the same existing file.
bool sameFile(const std::string& a, const std::string& b);

}  // namespace tsopt
