// LibTorch version differences: the operator table of the two lines, the fuser switch.
#include "passes/core/torch_compat.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>

#include <cctype>
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

/// The run of name characters (letters, digits, '_', ':') of `text` from `at`.
std::string token(const std::string& text, size_t at) {
  size_t end = at;
  while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                               text[end] == '_' || text[end] == ':')) {
    ++end;
  }
  return at < text.size() ? text.substr(at, end - at) : "";
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

std::string operatorName(const torch::jit::Node* n) {
  const c10::FunctionSchema* s = n->maybeSchema();
  if (!s) return n->kind().toQualString();
  return s->name() + (s->overload_name().empty() ? "" : "." + s->overload_name());
}

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
        const std::string op = operatorName(n);
        if (kOnlyNew.count(op)) newer.insert(op);
        if (kOnlyOld.count(op)) removed.insert(op);
      },
      methods);
  r.newerOperators.assign(newer.begin(), newer.end());
  r.removedOperators.assign(removed.begin(), removed.end());
  r.oldest = newer.empty() ? kOldLine : kFirstAfterOld;
  return r;
}

std::string lacking(const std::vector<std::string>& operators, const std::string& line) {
  std::string out;
  for (const std::string& op : operators) out += (out.empty() ? "" : ", ") + op;
  return out + ", which LibTorch " + line + " lacks";
}

std::string unknownOperator(const std::string& why) {
  const std::string marker = "Unknown builtin op: ";
  size_t at = why.find(marker);
  if (at == std::string::npos) return "";
  std::string op = token(why, at + marker.size());
  return op.find("::") == std::string::npos ? "" : op;
}

std::string newerLibTorchNeeded(const std::string& why) {
  // Plain searches, not std::regex: LibTorch's message quotes the model's code, which may be
  // long, and libstdc++'s regex recurses once per character.
  const std::string format = "read a PyTorch file with version ";
  const std::string limit = "maximum supported version for reading is ";
  if (size_t at = why.find(format), to = why.find(limit);
      at != std::string::npos && to != std::string::npos) {
    return "it is archive format version " + token(why, at + format.size()) + ", and LibTorch " +
           libtorchVersion() + " reads up to version " + token(why, to + limit.size()) +
           ": it needs a newer LibTorch";
  }
  if (std::string op = unknownOperator(why); !op.empty()) {
    return libtorchNamespace(op) ? missingOperator(op, "") : "";
  }
  // An operator this LibTorch has, called in a form (an overload) it lacks: the variants it
  // lists are LibTorch's, and 2.x has another.
  const std::string variants = "Arguments for call are not valid";
  if (size_t at = why.find(variants); at != std::string::npos) {
    size_t name = why.find("\n  ", at);
    std::string op =
        name == std::string::npos ? "" : token(why, why.find_first_not_of(" \n", name + 1));
    if (libtorchNamespace(op) && libtorchVersion() == kOldLine &&
        !overloadIn(kOnlyNew, op).empty()) {
      return missingOperator(op, " in a form");
    }
  }
  return "";
}

}  // namespace tsopt::compat
