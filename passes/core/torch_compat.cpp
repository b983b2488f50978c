// LibTorch version differences: the operator table of the two lines, the fuser switch.
#include "passes/core/torch_compat.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string_view>
#include <unordered_set>

#include "passes/core/op_library.h"
#include "passes/core/plugin_api.h"

namespace tsopt::compat {

namespace {

#define TSOPT_ONLY_NEW(...) const std::unordered_set<std::string_view> kOnlyNew{__VA_ARGS__};
#define TSOPT_ONLY_OLD(...) const std::unordered_set<std::string_view> kOnlyOld{__VA_ARGS__};
#include "passes/core/libtorch_operators.inc"
#undef TSOPT_ONLY_NEW
#undef TSOPT_ONLY_OLD

constexpr const char* kOldLine = TSOPT_OLD_LINE;
constexpr const char* kNewLine = TSOPT_NEW_LINE;
/// PyTorch's release after 1.13: the oldest that can have an operator 1.13 lacks.
constexpr const char* kFirstAfterOld = "2.0";

/// LibTorch's own namespaces, whose operators come with the release (not a library).
bool libtorchNamespace(const std::string& op) {
  return op.rfind("aten::", 0) == 0 || op.rfind("prim::", 0) == 0 ||
         op.rfind("quantized::", 0) == 0;
}

/// An overload of `name` ("aten::squeeze") in `table`, or "".
std::string overloadIn(const std::unordered_set<std::string_view>& table, const std::string& name) {
  std::string found;
  for (std::string_view op : table) {
    if (op == name ||
        (op.size() > name.size() && op.substr(0, name.size()) == name && op[name.size()] == '.')) {
      if (found.empty() || op < found) found = std::string(op);
    }
  }
  return found;
}

std::string missingOperator(const std::string& op, const std::string& form) {
  const std::string here = libtorchVersion();
  if (here == kOldLine) {
    std::string newer = overloadIn(kOnlyNew, op);
    if (!newer.empty()) {
      return "it calls " + op + form + ", which LibTorch " + here +
             " lacks: it needs LibTorch >= " + kFirstAfterOld + " (" + newer + " is in " +
             kNewLine + ")";
    }
  } else if (std::string older = overloadIn(kOnlyOld, op); !older.empty()) {
    return "it calls " + op + form + ", which LibTorch " + here + " no longer has (" + older +
           " is in " + kOldLine +
           "): load it with that LibTorch, or re-save it from a newer PyTorch";
  }
  return "it calls " + op + form + ", which LibTorch " + here +
         " lacks: it needs a newer LibTorch than " + here;
}

}  // namespace

std::string libtorchVersion() { return TSOPT_TORCH_VERSION; }

const char* oldLine() { return kOldLine; }

const char* newLine() { return kNewLine; }

void disableTensorExprFuser() { torch::jit::setTensorExprFuserEnabled(false); }

uint64_t archiveFormatVersion(const std::string& path) {
  return caffe2::serialize::PyTorchStreamReader(path).version();
}

Requirement requirement(const torch::jit::Module& module, const std::vector<std::string>* methods) {
  Requirement r;
  std::set<std::string> newer, removed;
  forEachOperatorCall(
      module,
      [&](const torch::jit::Node* n) {
        const c10::FunctionSchema* schema = n->maybeSchema();
        std::string op =
            schema ? schema->name() +
                         (schema->overload_name().empty() ? "" : "." + schema->overload_name())
                   : n->kind().toQualString();
        if (kOnlyNew.count(op)) newer.insert(op);
        if (kOnlyOld.count(op)) removed.insert(op);
      },
      methods);
  r.newerOperators.assign(newer.begin(), newer.end());
  r.removedOperators.assign(removed.begin(), removed.end());
  r.oldest = newer.empty() ? kOldLine : kFirstAfterOld;
  return r;
}

std::string newerLibTorchNeeded(const std::string& why) {
  std::smatch m;
  static const std::regex format(
      R"(read a PyTorch file with version (\d+), but the maximum supported version for reading is (\d+))");
  if (std::regex_search(why, m, format)) {
    return "it is archive format version " + m[1].str() + ", and LibTorch " + libtorchVersion() +
           " reads up to version " + m[2].str() + ": it needs a newer LibTorch";
  }
  static const std::regex unknown(R"(Unknown builtin op: ([A-Za-z_]+::[A-Za-z0-9_]+))");
  if (std::regex_search(why, m, unknown) && libtorchNamespace(m[1].str())) {
    return missingOperator(m[1].str(), "");
  }
  // An operator this LibTorch has, called in a form (an overload) it lacks.
  static const std::regex form(
      R"(Arguments for call are not valid[\s\S]*?\n\s+([a-z_]+::[A-Za-z0-9_]+)[.(])");
  if (std::regex_search(why, m, form) && libtorchNamespace(m[1].str())) {
    std::string op = m[1].str();
    if (libtorchVersion() == kOldLine && !overloadIn(kOnlyNew, op).empty()) {
      return missingOperator(op, " in a form");
    }
  }
  return "";
}

}  // namespace tsopt::compat
