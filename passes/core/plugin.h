// Loading plugins: shared libraries that register passes through TsoptPluginInfo.
#pragma once

#include <functional>
#include <string>

#include "passes/core/registry.h"

namespace tsopt {

/// What loadPlugin found.
struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  std::vector<std::string> passes;  ///< names the plugin registered
};

/// `path` as dlopen must be given it to open that file: dlopen searches the library path for a
/// name without a slash ("lib.so" -> "./lib.so").
std::string dlopenPath(const std::string& path);

/// Throws tsopt::Error unless `path` is a readable regular file: dlopen of a FIFO waits for a
/// writer forever.
void checkLibraryFile(const std::string& path, const std::string& what);

/// dlopen()s the shared library at `path` with `flags` (RTLD_LOCAL or RTLD_GLOBAL, always
/// RTLD_NOW) after checking that it is a file; `what` names it in errors ("plugin 'P'"). Returns
/// the handle; throws tsopt::Error with the loader's reason.
void* openSharedLibrary(const std::string& path, const std::string& what, int flags);

/// Loads a library in a child process first, as untrusted code: `load` (run in the child, its
/// stdout and stderr captured) opens it as the real load will and does what that does with it.
/// Throws tsopt::Error (`what` naming the library) when the child is killed by a signal, ends
/// from a constructor (exit), throws from a static initialiser (the message says it `threw`:
/// "failed to register its operators"), or does not finish within timeout(). A tsopt::Error from
/// `load` is left for the real load to report.
void probeLibrary(const std::string& what, const std::string& threw,
                  const std::function<void()>& load);

/// While it lives, what the process writes to stdout goes to stderr: a library's constructors
/// print where they like, and stdout belongs to tsopt's output (`passes --json`).
class StdoutToStderr {
 public:
  StdoutToStderr();
  ~StdoutToStderr();
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;

 private:
  int saved_ = -1;
};

/// Loads the plugin at `path` and registers its passes in `registry`. All or nothing: on any
/// error (missing file, not a library, no entry point, API or LibTorch version mismatch, a pass
/// name already taken) nothing is registered and tsopt::Error says what went wrong.
/// The library stays loaded for the life of the process.
LoadedPlugin loadPlugin(const std::string& path, PassRegistry& registry = PassRegistry::global());

}  // namespace tsopt
