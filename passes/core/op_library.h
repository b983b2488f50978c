// Operator libraries: shared libraries that register TorchScript operators outside LibTorch
// (torchvision's nms and roi_align, torchaudio's), which must be loaded before a model that calls
// them can be loaded.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace tsopt {

/// A library loaded into this process, and why.
struct OperatorLibrary {
  std::string path;
  std::string reason;  ///< "asked for", or the operator it was found for ("torchvision::nms")
};

/// Loads the operator library at `path` with its symbols global, as Python's
/// torch.ops.load_library does; its registrations run as it loads. Loading a path twice does
/// nothing. Throws tsopt::Error saying why it cannot (no such file, not a shared library,
/// built against another LibTorch).
void loadOperatorLibrary(const std::string& path, const std::string& reason = "asked for");

/// Every library loaded so far, in order.
const std::vector<OperatorLibrary>& loadedOperatorLibraries();

/// Calls `fn` on every library loaded from now on, as it loads (a front end says so).
void onOperatorLibraryLoaded(std::function<void(const OperatorLibrary&)> fn);

/// The installed library known to provide operators of namespace `ns` ("torchvision",
/// "torchaudio"), looked for in the Python packages' folders; "" if there is none.
std::string findOperatorLibrary(const std::string& ns);

/// Calls `fn` on every node of `module`'s methods (of every submodule) and of the functions they
/// call, each graph once; with `methods`, of those methods of the root and of every method and
/// function they call.
void forEachOperatorCall(const torch::jit::Module& module,
                         const std::function<void(const torch::jit::Node*)>& fn,
                         const std::vector<std::string>* methods = nullptr);

/// The operators `module`'s methods call that LibTorch does not register itself, by namespace:
/// {"torchvision": {"torchvision::nms", "torchvision::roi_align"}}.
std::map<std::string, std::set<std::string>> libraryOperators(const torch::jit::Module& module);

}  // namespace tsopt
