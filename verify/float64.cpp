// makeFloat64Model: the reference model converted to compute in float64.
#include "verify/float64.h"

#include <torch/csrc/autograd/grad_mode.h>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"
#include "verify/verifier.h"

namespace tsopt {

namespace {

using torch::jit::Node;

bool isFloat32(const at::Tensor& t) {
  return t.defined() && !t.is_quantized() && t.scalar_type() == at::kFloat;
}

/// Why `n` keeps a model from computing in float64, or "".
std::string noFloat64(const Node* n) {
  const std::string ns = n->kind().ns().toUnqualString();
  if (ns == "quantized" || ns == "prepacked" || ns == "mkldnn_prepacked") {
    return "it computes with " + ns + " operators (" + n->kind().toQualString() + ")";
  }
  const std::string name = n->kind().toUnqualString();
  if (ns == "aten" && (name.rfind("quantize_per", 0) == 0 || name.rfind("fake_quantize", 0) == 0 ||
                       name.find("mkldnn") != std::string::npos)) {
    return std::string("it calls ") + n->kind().toQualString();
  }
  return "";
}

/// Float32 tensor constants become float64; a `dtype` argument that is the constant float32
/// becomes float64. Returns why the graph cannot compute in float64, or "".
std::string convertGraph(torch::jit::Graph& graph) {
  std::string why;
  forEachNode(graph.block(), [&](Node* n) {
    if (why.empty()) why = noFloat64(n);
    if (std::optional<at::Tensor> t = constantTensor(n); t && isFloat32(*t)) {
      torch::jit::WithInsertPoint here(n);
      n->output()->replaceAllUsesWith(graph.insertConstant(t->to(at::kDouble)));
      n->destroy();
      return;
    }
    const c10::FunctionSchema* schema = n->maybeSchema();
    if (!schema) return;
    for (size_t i = 0; i < schema->arguments().size() && i < n->inputs().size(); ++i) {
      if (schema->arguments()[i].name() != "dtype") continue;
      std::optional<c10::IValue> dtype = torch::jit::toIValue(n->input(i));
      if (dtype && dtype->isInt() && dtype->toInt() == static_cast<int64_t>(at::kFloat)) {
        torch::jit::WithInsertPoint here(n);
        n->replaceInput(i, graph.insertConstant(static_cast<int64_t>(at::kDouble)));
      }
    }
  });
  return why;
}

}  // namespace

c10::IValue toFloat64(const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    return isFloat32(t) ? c10::IValue(t.to(at::kDouble)) : v;
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorList().vec()) out.push_back(toFloat64(t).toTensor());
    return out;
  }
  if (v.isList()) {
    c10::impl::GenericList out(v.toList().elementType());
    for (const c10::IValue& item : v.toListRef()) out.push_back(toFloat64(item));
    return out;
  }
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const c10::IValue& item : v.toTupleRef().elements()) items.push_back(toFloat64(item));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  if (v.isGenericDict()) {
    c10::impl::GenericDict out(v.toGenericDict().keyType(), v.toGenericDict().valueType());
    for (const auto& entry : v.toGenericDict()) out.insert(entry.key(), toFloat64(entry.value()));
    return out;
  }
  return v;
}

c10::IValue Float64Model::run(const std::string& method, const std::vector<c10::IValue>& inputs,
                              uint64_t seed) const {
  std::vector<c10::IValue> converted;
  for (const c10::IValue& v : inputs) converted.push_back(toFloat64(v));
  return runGraphIsolated(*module, method, graphs.at(method), converted, seed,
                          "running " + method + " of the float64 copy of the reference model");
}

Float64Model makeFloat64Model(
    const torch::jit::Module& module,
    const std::map<std::string, std::shared_ptr<torch::jit::Graph>>& inlined) {
  torch::NoGradGuard noGrad;
  Float64Model out;
  for (const auto& [method, original] : inlined) {
    std::shared_ptr<torch::jit::Graph> graph = original->copy();
    if (std::string why = convertGraph(*graph); !why.empty()) return {std::nullopt, {}, why};
    out.graphs[method] = graph;
  }
  // A deep copy shares the class types with `module` but none of their attributes' values.
  torch::jit::Module copy = module.deepcopy();
  for (const torch::jit::Module& m : copy.modules()) {
    c10::ivalue::Object& object = *m._ivalue();
    for (size_t i = 0; i < object.slots().size(); ++i) {
      const c10::IValue& slot = object.getSlot(i);
      if (slot.isTensor() && isFloat32(slot.toTensor())) {
        const at::Tensor& t = slot.toTensor();
        object.setSlot(i, t.detach().to(at::kDouble).requires_grad_(t.requires_grad()));
      }
    }
  }
  out.module = copy;
  return out;
}

}  // namespace tsopt
