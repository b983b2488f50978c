// Loading operator libraries, and finding torchvision's and torchaudio's where Debian's (or pip's)
// Python packages put them.
#include "passes/core/op_library.h"

#include <dlfcn.h>
#include <glob.h>
#include <torch/csrc/jit/api/function_impl.h>

#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/plugin.h"

namespace tsopt {

namespace {

std::vector<OperatorLibrary>& loaded() {
  static std::vector<OperatorLibrary> libraries;
  return libraries;
}

std::function<void(const OperatorLibrary&)>& listener() {
  static std::function<void(const OperatorLibrary&)> fn;
  return fn;
}

/// Where Python packages live, system-wide first.
const char* const kPackageFolders[] = {
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3*/dist-packages",
    "/usr/lib/python3*/site-packages",
    "/usr/local/lib/python3*/site-packages",
};

/// The library of each known namespace, relative to a package folder.
struct KnownLibrary {
  const char* ns;
  const char* file;
};
const KnownLibrary kKnown[] = {
    {"torchvision", "torchvision/_C*.so"},
    {"torchaudio", "torchaudio/lib/libtorchaudio.so"},
};

std::vector<std::string> globPaths(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;
}

/// Namespaces whose operators LibTorch itself registers.
bool ownedByLibTorch(const std::string& ns) {
  static const std::set<std::string> owned = {"aten",
                                              "prim",
                                              "quantized",
                                              "_quantized",
                                              "prepacked",
                                              "mkldnn",
                                              "mkldnn_prepacked",
                                              "_caffe2",
                                              "profiler",
                                              "cuda",
                                              "onnx",
                                              "attr",
                                              "scope",
                                              "user",
                                              "namespaces",
                                              "_test",
                                              "fbgemm"};
  return owned.count(ns) > 0;
}

}  // namespace

void loadOperatorLibrary(const std::string& path, const std::string& reason) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const OperatorLibrary& l : loaded()) {
    if (fs::equivalent(l.path, path, ec)) return;
  }
  const std::string what = "operator library '" + path + "'";
  checkLibraryFile(path, what);
  // A library whose registration throws (a namespace registered twice, a schema LibTorch
  // rejects) throws from a static initialiser, through dlopen, which is declared noexcept: in
  // this process that would end in std::terminate.
  probeLibrary(what, "failed to register its operators",
               [&] { openSharedLibrary(path, what, RTLD_GLOBAL); });
  // Global, so that libraries it loads see its symbols; never closed, since the operators it
  // registered point into it.
  StdoutToStderr quiet;
  openSharedLibrary(path, what, RTLD_GLOBAL);
  loaded().push_back({path, reason});
  if (listener()) listener()(loaded().back());
}

void onOperatorLibraryLoaded(std::function<void(const OperatorLibrary&)> fn) {
  listener() = std::move(fn);
}

const std::vector<OperatorLibrary>& loadedOperatorLibraries() { return loaded(); }

std::string findOperatorLibrary(const std::string& ns) {
  for (const KnownLibrary& k : kKnown) {
    if (ns != k.ns) continue;
    for (const char* folder : kPackageFolders) {
      std::vector<std::string> found = globPaths(std::string(folder) + "/" + k.file);
      if (!found.empty()) return found.front();
    }
  }
  return "";
}

void forEachOperatorCall(const torch::jit::Module& module,
                         const std::function<void(const torch::jit::Node*)>& fn,
                         const std::vector<std::string>* methods) {
  std::unordered_set<const torch::jit::Graph*> seen;
  std::function<void(torch::jit::Graph&)> visit = [&](torch::jit::Graph& graph) {
    if (!seen.insert(&graph).second) return;
    forEachNode(graph.block(), [&](torch::jit::Node* n) {
      // Functions a method calls (torchvision.ops.nms is one) hold the operator calls; so do
      // the methods of submodules where only some methods are the roots.
      if (n->kind() == c10::prim::CallFunction) {
        if (auto f = n->input(0)->type()->cast<c10::FunctionType>()) {
          if (auto* graphFn = tryToGraphFunction(*f->function())) visit(*graphFn->graph());
        }
      } else if (methods && n->kind() == c10::prim::CallMethod) {
        if (auto cls = n->input(0)->type()->cast<c10::ClassType>()) {
          if (torch::jit::Function* m = cls->findMethod(n->s(c10::attr::name))) {
            if (auto* graphFn = tryToGraphFunction(*m)) visit(*graphFn->graph());
          }
        }
      }
      fn(n);
    });
  };
  if (methods) {
    for (const std::string& name : *methods) visit(*module.get_method(name).graph());
    return;
  }
  for (const torch::jit::NameModule& sub : module.named_modules()) {
    for (const torch::jit::Method& method : sub.value.get_methods()) visit(*method.graph());
  }
}

std::map<std::string, std::set<std::string>> libraryOperators(const torch::jit::Module& module) {
  std::map<std::string, std::set<std::string>> out;
  forEachOperatorCall(module, [&](const torch::jit::Node* n) {
    std::string ns = n->kind().domainString();
    if (ns.empty()) return;
    ns = ns.substr(ns.rfind('.') + 1);  // "org.pytorch.aten" -> "aten"
    if (!ownedByLibTorch(ns)) out[ns].insert(n->kind().toQualString());
  });
  return out;
}

}  // namespace tsopt
