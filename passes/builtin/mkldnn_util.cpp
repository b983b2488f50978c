#include "passes/builtin/mkldnn_util.h"

#include <torch/csrc/jit/ir/constants.h>

#include <sstream>

namespace tsopt::mkldnn {

using torch::jit::Node;
using torch::jit::Value;

std::optional<std::vector<int64_t>> intPair(Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (!iv || !iv->isIntList()) return std::nullopt;
  std::vector<int64_t> list = iv->toIntVector();
  if (list.size() == 1) list.push_back(list[0]);
  if (list.size() != 2) return std::nullopt;
  return list;
}

size_t groupsInput(const Node* n) {
  if (n->kind() == c10::aten::conv2d) return 6;
  if (n->kind() == c10::aten::_convolution || n->kind() == c10::aten::convolution) return 8;
  return 0;
}

std::string rejection(Node* n, size_t groupsAt) {
  using namespace c10;
  if (n->kind() == aten::conv2d) {
    if (!n->input(4)->type()->cast<ListType>()) return "padding-string";
  } else {
    auto transposed = torch::jit::toIValue(n->input(6));
    if (!transposed || !transposed->isBool() || transposed->toBool()) return "transposed";
  }
  auto w = torch::jit::toIValue(n->input(1));
  if (!w || !w->isTensor()) return "weight-not-constant";
  const at::Tensor& t = w->toTensor();
  if (t.dim() != 4) return "not-2d";
  if (t.scalar_type() != at::kFloat || !t.device().is_cpu()) return "not-float-cpu";
  if (auto x = n->input(0)->type()->cast<TensorType>(); x && x->dim() && *x->dim() != 4)
    return "unbatched";
  for (size_t i = 3; i <= 5; ++i) {
    if (!intPair(n->input(i))) return "params-not-constant";
  }
  if (!torch::jit::toIValue(n->input(groupsAt))) return "params-not-constant";
  return "";
}

ConvParams convParams(Node* n, size_t groupsAt) {
  ConvParams p;
  p.weight = torch::jit::toIValue(n->input(1))->toTensor();
  p.stride = *intPair(n->input(3));
  p.padding = *intPair(n->input(4));
  p.dilation = *intPair(n->input(5));
  p.groups = torch::jit::toIValue(n->input(groupsAt))->toInt();
  return p;
}

ConvKey convKey(const ConvParams& c) {
  return {c.weight.unsafeGetTensorImpl(), c.stride, c.padding, c.dilation, c.groups};
}

std::string intList(const std::vector<int64_t>& v) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  out << "]";
  return out.str();
}

torch::jit::Module newHolder(const torch::jit::Module& owner, const std::string& className) {
  torch::jit::Module holder(c10::QualifiedName("__torch__.tsopt." + className),
                            owner._ivalue()->compilation_unit(), /*shouldMangle=*/true);
  holder.register_attribute("training", c10::BoolType::get(), false);
  return holder;
}

Value* attachHolder(torch::jit::Module& module, torch::jit::Graph& graph,
                    const torch::jit::Module& holder, const std::string& base) {
  std::string name = base;
  for (int i = 1; module.type()->hasAttribute(name) || module.type()->findMethod(name); ++i) {
    name = base + "_" + std::to_string(i);
  }
  module.register_module(name, holder);
  return graph.prependNode(graph.createGetAttr(graph.inputs().at(0), name))->output();
}

}  // namespace tsopt::mkldnn
