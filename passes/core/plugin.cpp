// dlopen-based plugin loader with API and LibTorch version checks.
#include "passes/core/plugin.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "passes/core/child_process.h"
#include "passes/core/deadline.h"
#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/plugin_api.h"

namespace tsopt {

namespace {

std::string lastDlError(const std::string& path) {
  const char* e = dlerror();
  std::string s = e ? e : "unknown error";
  // dlerror repeats the path first: "/x/y.so: invalid ELF header" -> "invalid ELF header".
  if (s.rfind(path + ": ", 0) == 0) s = s.substr(path.size() + 2);
  return s;
}

/// "c10::detail::f()" for "_ZN3c106detail1fEv"; the name itself if it is not a C++ one.
std::string demangled(const std::string& symbol) {
  int status = 0;
  char* d = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : symbol;
  std::free(d);
  return out;
}

struct Handle {
  void* h;
  ~Handle() {
    if (h) dlclose(h);
  }
  void* release() {
    void* out = h;
    h = nullptr;
    return out;
  }
};

}  // namespace

std::string dlopenPath(const std::string& path) {
  return path.find('/') == std::string::npos ? "./" + path : path;
}

void checkLibraryFile(const std::string& path, const std::string& what) {
  const std::string why = unreadableFile(path);
  if (why.rfind("no such file", 0) == 0) throw Error(what + ": " + why);
  if (!why.empty()) throw Error(what + " is not a shared library (" + why + ")");
}

void* openSharedLibrary(const std::string& path, const std::string& what, int flags) {
  checkLibraryFile(path, what);
  const std::string openPath = dlopenPath(path);
  dlerror();
  void* handle = dlopen(openPath.c_str(), RTLD_NOW | flags);
  if (!handle) {
    std::string why = lastDlError(openPath);
    const std::string undefined = "undefined symbol: ";
    if (why.rfind(undefined, 0) == 0) {
      std::string name = demangled(why.substr(undefined.size()));
      for (const char* ns : {"c10::", "at::", "torch::", "caffe2::"}) {
        if (name.rfind(ns, 0) == 0) {
          throw Error(what + " was built against another LibTorch than this tsopt's (" +
                      TORCH_VERSION "): it needs " + name + ", which this LibTorch lacks");
        }
      }
      throw Error(what + " is not a loadable shared library: it needs " + name +
                  ", which no loaded library defines");
    }
    throw Error(what + " is not a loadable shared library: " + why);
  }
  return handle;
}

StdoutToStderr::StdoutToStderr() {
  std::fflush(stdout);
  std::cout.flush();
  saved_ = ::dup(STDOUT_FILENO);
  if (saved_ >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
}

StdoutToStderr::~StdoutToStderr() {
  std::fflush(stdout);
  std::cout.flush();
  if (saved_ < 0) return;
  ::dup2(saved_, STDOUT_FILENO);
  ::close(saved_);
}

namespace {

/// What a probed library printed, for a message: its first line, if any.
std::string printed(const std::string& output) {
  std::string line = output.substr(0, output.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line.empty() ? "" : " (it printed: " + escapeText(line) + ")";
}

const char kLoaded[] = "\ntsopt-probe: loaded\n";

std::string secondsText(double seconds) {
  std::ostringstream out;
  out << seconds;
  return out.str();
}

}  // namespace

void probeLibrary(const std::string& what, const std::string& threw,
                  const std::function<void()>& load) {
  constexpr int kRefused = 3;  // load threw tsopt::Error: the real load says why
  ChildResult child = runInChild(
      [&](int fd) {
        try {
          load();
        } catch (const Error&) {
          return kRefused;
        }
        std::fflush(stdout);
        return writeAll(fd, kLoaded, sizeof kLoaded - 1) ? 0 : 1;
      },
      {true, true, timeout()});
  if (!child.started) return;
  const bool loaded = child.output.size() >= sizeof kLoaded - 1 &&
                      child.output.compare(child.output.size() - (sizeof kLoaded - 1),
                                           std::string::npos, kLoaded) == 0;
  // An exception from a static initialiser reaches the child's catch, or, through a frame that
  // cannot pass it on (dlopen is noexcept), std::terminate, which prints its what() and aborts.
  constexpr size_t npos = std::string::npos;
  const size_t terminated =
      !child.timedOut && child.signal == SIGABRT ? child.output.find("what():") : npos;
  if (child.exitCode == kChildThrew || terminated != npos) {
    std::string reason = terminated == npos ? child.output : child.output.substr(terminated + 7);
    reason = reason.substr(std::min(reason.size(), reason.find_first_not_of(" ")));
    // LibTorch's messages run on (advice, a backtrace): their first clause says what is wrong.
    reason = reason.substr(0, std::min(reason.find('\n'), reason.find("; ")));
    throw Error(what + " " + threw + ": " + escapeText(reason));
  }
  if (child.timedOut) {
    throw Error(what + " did not finish loading within " + secondsText(timeout()) +
                " s (a constructor that never returns?)" + printed(child.output) +
                "; allow more time, or set no limit" + timeoutRemedy());
  }
  if (!child.exited) {
    throw Error(what + " crashed while loading (" + strsignal(child.signal) + ")" +
                printed(child.output));
  }
  if (child.exitCode == kRefused) return;
  if (!loaded) {
    throw Error(what + " ended the process while loading (exit status " +
                std::to_string(child.exitCode) + ")" + printed(child.output) +
                ": tsopt loads only libraries that return from loading");
  }
}

namespace {

/// Loads the plugin and registers its passes, with no probe first.
LoadedPlugin registerPlugin(const std::string& path, PassRegistry& registry) {
  const std::string what = "plugin '" + path + "'";
  StdoutToStderr quiet;
  Handle lib{openSharedLibrary(path, what, RTLD_LOCAL)};

  using EntryPoint = TsoptPluginInfo (*)();
  dlerror();
  auto entry = reinterpret_cast<EntryPoint>(dlsym(lib.h, TSOPT_PLUGIN_ENTRY_POINT_NAME));
  if (!entry) {
    throw Error(what + " has no entry point '" TSOPT_PLUGIN_ENTRY_POINT_NAME
                       "' (is it a tsopt plugin? see docs/writing-passes.md)");
  }
  TsoptPluginInfo info = entry();
  if (info.apiVersion != TSOPT_PLUGIN_API_VERSION) {
    throw Error(what + " was built for plugin API version " + std::to_string(info.apiVersion) +
                ", this tsopt has version " + std::to_string(TSOPT_PLUGIN_API_VERSION) +
                "; rebuild the plugin against this tsopt");
  }
  std::string torchVer = info.torchVersion ? info.torchVersion : "?";
  if (torchVer != TSOPT_TORCH_VERSION) {
    throw Error(what + " was built against LibTorch " + torchVer + ", this tsopt uses LibTorch " +
                TSOPT_TORCH_VERSION "; rebuild the plugin");
  }
  if (!info.registerPasses) throw Error(what + " has no registration function");

  // Register into a scratch registry first so a failure leaves the real one untouched.
  PassRegistry staged;
  try {
    info.registerPasses(staged);
  } catch (const std::exception& e) {
    throw Error(what + " failed to register its passes: " + describeException(e));
  }
  LoadedPlugin loaded{path,
                      info.pluginName ? info.pluginName : "",
                      info.pluginVersion ? info.pluginVersion : "",
                      {}};
  for (const PassInfo* p : staged.all()) {
    if (const PassInfo* existing = registry.find(p->name)) {
      throw Error(what + " registers pass '" + p->name + "', which is already registered by " +
                  existing->origin);
    }
    loaded.passes.push_back(p->name);
  }
  for (const PassInfo* p : staged.all()) registry.add(p->factory, path);
  lib.release();  // pass code lives in the library: keep it loaded
  return loaded;
}

}  // namespace

LoadedPlugin loadPlugin(const std::string& path, PassRegistry& registry) {
  const std::string what = "plugin '" + path + "'";
  checkLibraryFile(path, what);
  probeLibrary(what, "failed to load", [&] {
    PassRegistry scratch;
    registerPlugin(path, scratch);
  });
  return registerPlugin(path, registry);
}

}  // namespace tsopt
