// Text and colours of nodes and values in pictures of a graph (DOT and the viewer).
#include "ir_dump/node_text.h"

#include <sstream>
#include <unordered_set>

#include "passes/core/graph_utils.h"

namespace tsopt {

namespace {

std::string shortened(std::string s, size_t max = 40) {
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

std::string tensorText(const at::Tensor& t) {
  std::string s = "Tensor(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "x" : "") + std::to_string(t.size(i));
  return s + ")";
}

template <typename T>
std::string listText(const std::vector<T>& items) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < items.size(); ++i) os << (i ? ", " : "") << items[i];
  os << "]";
  return os.str();
}

std::string constantText(const torch::jit::Node* constant) {
  std::ostringstream os;
  if (!constant->hasAttribute(c10::attr::value)) return "None";
  switch (constant->kindOf(c10::attr::value)) {
    case torch::jit::AttributeKind::t:
      os << tensorText(constant->t(c10::attr::value));
      break;
    case torch::jit::AttributeKind::s:
      os << "\"" << constant->s(c10::attr::value) << "\"";
      break;
    default:
      os << *torch::jit::toIValue(constant->output());
  }
  return shortened(os.str());
}

}  // namespace

std::string typeText(const c10::TypePtr& type) {
  if (auto t = type->cast<c10::TensorType>()) {
    std::string s = "Tensor";
    auto sizes = t->sizes().concrete_sizes();
    if (sizes || t->scalarType()) {
      s += "(";
      if (sizes) {
        for (size_t i = 0; i < sizes->size(); ++i)
          s += (i ? "x" : "") + std::to_string((*sizes)[i]);
      }
      if (t->scalarType()) s += std::string(sizes ? ", " : "") + c10::toString(*t->scalarType());
      s += ")";
    }
    return s;
  }
  if (auto c = type->cast<c10::ClassType>()) return c->name() ? c->name()->name() : c->str();
  return shortened(type->annotation_str(), 30);
}

std::optional<std::string> inlineText(const torch::jit::Value* v) {
  const torch::jit::Node* n = v->node();
  if (n->kind() == c10::prim::Constant) return constantText(n);
  if (n->kind() == c10::prim::ListConstruct) {
    std::string text = "[";
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      const torch::jit::Node* item = n->inputs()[i]->node();
      if (item->kind() != c10::prim::Constant) return std::nullopt;
      text += (i ? ", " : "") + constantText(item);
    }
    return shortened(text + "]");
  }
  if (n->kind() != c10::prim::GetAttr) return std::nullopt;
  auto path = attrPath(v);
  if (!path) return std::nullopt;
  std::string text = "self";
  for (const std::string& p : *path) text += "." + p;
  return shortened(text, 48);
}

std::vector<std::string> argumentLines(const torch::jit::Node* n) {
  std::vector<std::string> lines;
  if (n->kind() == c10::prim::GetAttr || n->kind() == c10::prim::SetAttr) {
    lines.push_back(n->s(c10::attr::name));
  }
  const c10::FunctionSchema* schema = n->maybeSchema();
  for (size_t i = 0; i < n->inputs().size(); ++i) {
    std::optional<std::string> value = inlineText(n->inputs()[i]);
    if (!value) continue;
    std::string arg = schema && i < schema->arguments().size() ? schema->arguments()[i].name()
                                                               : "#" + std::to_string(i);
    lines.push_back(arg + " = " + *value);
  }
  return lines;
}

std::vector<std::string> attributeLines(const torch::jit::Node* n) {
  using torch::jit::AttributeKind;
  std::vector<std::string> lines;
  for (c10::Symbol name : n->attributeNames()) {
    std::string value;
    switch (n->kindOf(name)) {
      case AttributeKind::s:
        value = "\"" + n->s(name) + "\"";
        break;
      case AttributeKind::i:
        value = std::to_string(n->i(name));
        break;
      case AttributeKind::f: {
        std::ostringstream os;
        os << n->f(name);
        value = os.str();
        break;
      }
      case AttributeKind::is:
        value = listText(n->is(name));
        break;
      case AttributeKind::fs:
        value = listText(n->fs(name));
        break;
      case AttributeKind::ss:
        value = listText(n->ss(name));
        break;
      case AttributeKind::t:
        value = tensorText(n->t(name));
        break;
      case AttributeKind::ty:
        value = n->ty(name)->annotation_str();
        break;
      case AttributeKind::g:
      case AttributeKind::gs:
        value = "<graph>";
        break;
      default:
        value = "...";
    }
    lines.push_back(std::string(name.toUnqualString()) + " = " + shortened(value, 80));
  }
  return lines;
}

std::string opFamily(const std::string& kind) {
  auto has = [&](const char* part) { return kind.find(part) != std::string::npos; };
  if (has("conv")) return "convolution";
  if (has("_norm") || has("batch_norm")) return "normalisation";
  static const std::unordered_set<std::string> activations = {
      "aten::relu",        "aten::relu_",    "aten::relu6",       "aten::sigmoid",
      "aten::tanh",        "aten::gelu",     "aten::silu",        "aten::hardswish",
      "aten::hardsigmoid", "aten::hardtanh", "aten::hardtanh_",   "aten::leaky_relu",
      "aten::elu",         "aten::softmax",  "aten::log_softmax", "aten::mish"};
  if (activations.count(kind)) return "activation";
  static const std::unordered_set<std::string> shapes = {
      "aten::view",          "aten::reshape",    "aten::flatten",
      "aten::size",          "aten::cat",        "aten::permute",
      "aten::transpose",     "aten::squeeze",    "aten::unsqueeze",
      "aten::expand",        "aten::slice",      "aten::select",
      "aten::contiguous",    "aten::dim",        "aten::len",
      "prim::ListConstruct", "prim::ListUnpack", "prim::TupleConstruct",
      "prim::TupleUnpack",   "prim::TupleIndex", "prim::DictConstruct",
      "aten::__getitem__"};
  if (shapes.count(kind)) return "shape";
  if (kind == "prim::If" || kind == "prim::Loop") return "control";
  if (kind == "prim::GetAttr" || kind == "prim::SetAttr") return "attribute";
  if (kind == "prim::CallMethod" || kind == "prim::CallFunction") return "call";
  return "other";
}

const std::map<std::string, std::string>& familyColours() {
  static const std::map<std::string, std::string> colours = {
      {"convolution", "#9ecae1"}, {"normalisation", "#a1d99b"}, {"activation", "#fdae6b"},
      {"shape", "#d9d9d9"},       {"control", "#f4a6c6"},       {"attribute", "#fff3a0"},
      {"call", "#c6b3e6"},        {"other", "#ffffff"}};
  return colours;
}

const std::string& familyColour(const std::string& family) { return familyColours().at(family); }

}  // namespace tsopt
