// findDivergence: both graphs inlined and changed to return a clone of every named tensor value
// where it is computed, run once each, compared in order.
#include "verify/divergence.h"

#include <set>
#include <sstream>
#include <unordered_map>

#include "passes/builtin/builtin.h"
#include "passes/core/pass_manager.h"
#include "verify/float64.h"
#include "verify/verifier.h"

namespace tsopt {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// The tensors the top-level block computes under a debug name, by name. Constants and
/// attributes (weights a fold rewrote, legitimately) are not computed values.
std::unordered_map<std::string, Value*> computed(Graph& g, std::vector<Value*>* inOrder) {
  std::unordered_map<std::string, Value*> byName;
  for (Node* n : g.nodes()) {
    if (n->kind() == c10::prim::Constant || n->kind() == c10::prim::GetAttr) continue;
    for (Value* v : n->outputs()) {
      if (v->hasDebugName() && v->type()->cast<c10::TensorType>()) {
        byName.emplace(v->debugName(), v);
        if (inOrder) inOrder->push_back(v);
      }
    }
  }
  return byName;
}

/// Makes `g` return (what it returned, a clone of each of `values` taken where it is computed:
/// later in-place writes do not reach the clone).
void capture(Graph& g, const std::vector<Value*>& values) {
  std::vector<Value*> items{g.outputs()[0]};
  for (Value* v : values) {
    torch::jit::WithInsertPoint after(v->node()->next());
    items.push_back(g.insert(c10::aten::clone, {v}));
  }
  torch::jit::WithInsertPoint end(g.return_node());
  Value* tuple = g.insertNode(g.createTuple(items))->output();
  g.eraseOutput(0);
  g.registerOutput(tuple);
}

/// "%input.7 = aten::_convolution(%12, ...)", with the kinds of the nodes its tensor inputs come
/// from (other than the model's inputs, constants and attributes).
std::string describe(const Node* n) {
  std::ostringstream os;
  os << *n;
  std::string text = os.str();
  text = text.substr(0, text.find('\n'));
  if (text.size() > 300) text = text.substr(0, 297) + "...";
  std::set<std::string> from;
  for (const Value* in : n->inputs()) {
    const Node* p = in->node();
    if (in->type()->cast<c10::TensorType>() && p->kind() != c10::prim::Constant &&
        p->kind() != c10::prim::GetAttr && p->kind() != c10::prim::Param) {
      from.insert(p->kind().toQualString());
    }
  }
  std::string kinds;
  for (const std::string& k : from) kinds += (kinds.empty() ? "" : ", ") + k;
  return kinds.empty() ? text : text + " (its inputs from " + kinds + ")";
}

std::vector<c10::IValue> items(const c10::IValue& v) { return v.toTupleRef().elements().vec(); }

}  // namespace

Divergence findDivergence(const torch::jit::Module& reference, const torch::jit::Module& candidate,
                          const std::string& method, const std::vector<c10::IValue>& inputs,
                          uint64_t seed, const Tolerances& tolerances, size_t limit) {
  Divergence d;
  d.method = method;
  std::shared_ptr<Graph> ref = inlinedCopy(reference, method);
  std::shared_ptr<Graph> cand = inlinedCopy(candidate, method);
  // The float64 answers, from the same inlined graph: values keep their names.
  Float64Model exact = makeFloat64Model(reference, {{method, ref}});
  std::vector<Value*> order;
  computed(*ref, &order);
  std::unordered_map<std::string, Value*> candByName = computed(*cand, nullptr);
  std::vector<Value*> refValues, candValues;
  for (Value* v : order) {
    auto it = candByName.find(v->debugName());
    if (it == candByName.end() || refValues.size() == limit) continue;
    refValues.push_back(v);
    candValues.push_back(it->second);
  }
  const Node* candOutput = cand->outputs()[0]->node();
  std::vector<std::string> names;
  for (const Value* v : refValues) names.push_back(v->debugName());
  std::vector<const Node*> candNodes;
  for (const Value* v : candValues) candNodes.push_back(v->node());
  capture(*ref, refValues);
  capture(*cand, candValues);

  // The float64 answers at the same names, where the reference has a float64 path.
  std::vector<int> exactIndex(names.size(), -1);
  if (exact.module) {
    std::shared_ptr<Graph>& g = exact.graphs.at(method);
    std::unordered_map<std::string, Value*> byName = computed(*g, nullptr);
    std::vector<Value*> values;
    for (size_t i = 0; i < names.size(); ++i) {
      auto it = byName.find(names[i]);
      if (it == byName.end()) continue;
      exactIndex[i] = static_cast<int>(values.size()) + 1;
      values.push_back(it->second);
    }
    capture(*g, values);
  }
  const std::string what = "running " + method + " to find where the outputs part";
  std::vector<c10::IValue> r = items(runGraphIsolated(reference, method, ref, inputs, seed, what));
  std::vector<c10::IValue> c = items(runGraphIsolated(candidate, method, cand, inputs, seed, what));
  std::vector<c10::IValue> x;
  std::string noExact = exact.unavailable;
  if (exact.module) {
    try {
      x = items(exact.run(method, inputs, seed));
    } catch (const std::exception& e) {
      noExact = "its float64 copy does not run: " + describeException(e);
    }
  }
  d.compared = names.size();
  for (size_t i = 0; i < names.size(); ++i) {
    OutputComparison one(tolerances);
    const c10::IValue* answer = !x.empty() && exactIndex[i] > 0 ? &x[exactIndex[i]] : nullptr;
    one.add(method, 0, r[i + 1], c[i + 1], answer, noExact);
    if (one.passed()) continue;
    d.found = true;
    d.value = d.name = "%" + names[i];
    d.node = describe(candNodes[i]);
    d.mismatch = one.outputs().front().mismatch;
    return d;
  }
  // No intermediate value differs: the node that computes the output does.
  OutputComparison output(tolerances);
  output.add(method, 0, r[0], c[0], x.empty() ? nullptr : &x[0], noExact);
  if (!output.passed()) {
    d.found = true;
    d.value = "the output";
    d.node = describe(candOutput);
    d.name = "%" + candOutput->output(0)->debugName();
    d.mismatch = output.outputs().front().mismatch;
  }
  return d;
}

}  // namespace tsopt
