// discreteOutputs: a forward data-flow analysis over the inlined graph of a method.
#include "verify/discrete.h"

#include <torch/csrc/jit/ir/constants.h>

#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

/// Operators whose result is a decision on their inputs' values rather than a smooth function
/// of them.
bool decides(const Node* n) {
  static const std::unordered_set<std::string> kinds = {
      "aten::argmax",      "aten::argmin",       "aten::topk",
      "aten::sort",        "aten::argsort",      "aten::nonzero",
      "aten::unique",      "aten::_unique2",     "aten::unique_consecutive",
      "aten::round",       "aten::floor",        "aten::ceil",
      "aten::trunc",       "aten::gt",           "aten::lt",
      "aten::ge",          "aten::le",           "aten::eq",
      "aten::ne",          "aten::__gt__",       "aten::__lt__",
      "aten::__ge__",      "aten::__le__",       "aten::__eq__",
      "aten::__ne__",      "aten::Bool",         "aten::Int",
      "aten::IntImplicit", "aten::is_nonzero",   "aten::floor_divide",
      "aten::bucketize",   "aten::searchsorted", "torchvision::nms"};
  const std::string kind = n->kind().toQualString();
  if (kind == "aten::max" || kind == "aten::min") return n->outputs().size() == 2;  // indices
  if (kinds.count(kind)) return true;
  if (kind == "aten::to" || kind == "aten::_to_copy") {  // a float tensor truncated to integers
    const c10::FunctionSchema* schema = n->maybeSchema();
    for (size_t i = 0; schema && i < schema->arguments().size(); ++i) {
      if (schema->arguments()[i].name() != "dtype") continue;
      std::optional<c10::IValue> dtype = torch::jit::toIValue(n->input(i));
      if (dtype && dtype->isInt()) {
        auto t = static_cast<c10::ScalarType>(dtype->toInt());
        return !c10::isFloatingType(t) && !c10::isComplexType(t);
      }
    }
  }
  return false;
}

/// Results about a tensor's layout, not its values: they do not carry values onward.
bool shapeOnly(const Node* n) {
  static const std::unordered_set<std::string> kinds = {
      "aten::size",  "aten::dim",    "aten::numel",  "aten::len",       "prim::shape",
      "prim::dtype", "prim::device", "aten::__is__", "aten::__isnot__", "prim::is_cuda"};
  return kinds.count(n->kind().toQualString()) > 0;
}

bool floatingInput(const Node* n) {
  for (const Value* v : n->inputs()) {
    if (auto t = v->type()->cast<c10::TensorType>()) {
      if (!t->scalarType() || c10::isFloatingType(*t->scalarType())) return true;
    }
    if (v->type()->kind() == c10::TypeKind::FloatType) return true;
  }
  return false;
}

class Analysis {
 public:
  /// What is known of a value: it carries the inputs' values, and the decision it depends on.
  struct Fact {
    bool data = false;
    std::string decision;
  };

  explicit Analysis(torch::jit::Graph& graph) {
    for (size_t i = 1; i < graph.inputs().size(); ++i) facts_[graph.inputs()[i]].data = true;
    visit(graph.block(), "");
  }
  const Fact& of(const Value* v) { return facts_[v]; }
  /// The decision a container was written under (appended to in a branch taken on it), or "".
  std::string written(const Value* v) const {
    auto it = writes_.find(v);
    return it == writes_.end() ? "" : it->second;
  }

 private:
  void merge(const Value* v, Fact f) {  // by value: facts_ may rehash
    Fact& to = facts_[v];
    to.data = to.data || f.data;
    if (to.decision.empty()) to.decision = f.decision;
  }

  Fact inputsOf(const Node* n, const std::string& control) {
    Fact f{false, control};
    for (const Value* v : n->inputs()) {
      const Fact& in = facts_[v];
      f.data = f.data || in.data;
      if (f.decision.empty()) f.decision = in.decision;
    }
    return f;
  }

  void visit(Block* block, const std::string& control) {
    for (Node* n : block->nodes()) {
      Fact in = inputsOf(n, control);
      const std::string kind = n->kind().toQualString();
      if (kind == "prim::If") {
        const std::string branch =
            facts_[n->input(0)].decision.empty() ? control : facts_[n->input(0)].decision;
        for (Block* b : n->blocks()) {
          visit(b, branch);
          for (size_t i = 0; i < n->outputs().size(); ++i) merge(n->output(i), of(b->outputs()[i]));
        }
        for (Value* out : n->outputs()) merge(out, Fact{false, branch});
      } else if (kind == "prim::Loop") {
        Block* body = n->blocks()[0];
        std::string loop = control;
        for (size_t i = 0; i < 2 && loop.empty(); ++i) loop = facts_[n->input(i)].decision;
        // Twice: values carried around the loop reach the next iteration's inputs.
        for (int round = 0; round < 2; ++round) {
          for (size_t i = 2; i < n->inputs().size(); ++i) {
            merge(body->inputs()[i - 1], of(n->input(i)));
            merge(body->inputs()[i - 1], of(body->outputs()[i - 1]));
          }
          visit(body, loop);
          if (loop.empty()) loop = of(body->outputs()[0]).decision;  // the loop's condition
        }
        for (size_t i = 0; i < n->outputs().size(); ++i) {
          merge(n->output(i), of(n->input(i + 2)));
          merge(n->output(i), of(body->outputs()[i + 1]));
          merge(n->output(i), Fact{false, loop});
        }
      } else {
        for (Block* b : n->blocks()) visit(b, in.decision);
        if (shapeOnly(n)) in.data = false;
        if (in.data && in.decision.empty() && decides(n) && floatingInput(n)) {
          in.decision = kind;
        }
        for (Value* out : n->outputs()) merge(out, in);
        // What the node writes (a list appended to, a dict item set) carries what it wrote.
        const c10::FunctionSchema* schema = n->maybeSchema();
        for (size_t i = 0; schema && i < schema->arguments().size() && i < n->inputs().size();
             ++i) {
          const c10::AliasInfo* alias = schema->arguments()[i].alias_info();
          if (alias && alias->isWrite()) {
            merge(n->input(i), in);
            if (!in.decision.empty()) writes_.emplace(n->input(i), in.decision);
          }
        }
      }
    }
  }

  std::unordered_map<const Value*, Fact> facts_;
  std::unordered_map<const Value*, std::string> writes_;
};

void mapOutputs(Analysis& analysis, const Value* v, const std::string& path,
                std::vector<std::pair<std::string, std::string>>& out) {
  const Node* n = v->node();
  const bool built = n->kind() == c10::prim::TupleConstruct ||
                     n->kind() == c10::prim::ListConstruct || n->kind() == c10::prim::DictConstruct;
  // A container built here is followed into its elements, unless it was written to later.
  const std::string why = built ? analysis.written(v) : analysis.of(v).decision;
  if (!why.empty()) {
    out.emplace_back(path, why);
    return;
  }
  if (n->kind() == c10::prim::TupleConstruct || n->kind() == c10::prim::ListConstruct) {
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      mapOutputs(analysis, n->input(i), path + "[" + std::to_string(i) + "]", out);
    }
  } else if (n->kind() == c10::prim::DictConstruct) {
    for (size_t i = 0; i + 1 < n->inputs().size(); i += 2) {
      std::optional<c10::IValue> key = torch::jit::toIValue(n->input(i));
      if (!key) {
        mapOutputs(analysis, n->input(i + 1), path, out);  // a key unknown here: the whole dict
        continue;
      }
      std::string text = key->isString() ? "'" + key->toStringRef() + "'"
                         : key->isInt()  ? std::to_string(key->toInt())
                                         : "";
      if (!text.empty()) mapOutputs(analysis, n->input(i + 1), path + "[" + text + "]", out);
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> discreteOutputs(torch::jit::Graph& inlined) {
  Analysis analysis(inlined);
  std::vector<std::pair<std::string, std::string>> out;
  mapOutputs(analysis, inlined.outputs()[0], "out", out);
  return out;
}

}  // namespace tsopt
