// Input specs, seeded random inputs, inputs files, and inferring inputs from a model's layers.
#include "verify/inputs.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "passes/builtin/builtin.h"
#include "passes/core/archive_check.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "verify/compare.h"
#include "verify/pickle_compat.h"

namespace tsopt {

namespace {

using torch::jit::Node;
using torch::jit::Value;

const char* const kSyntax =
    "(expected SHAPE[:DTYPE[:VALUES]], [SPEC,...] or {KEY=SPEC,...}, e.g. 1x3x224x224, "
    "1x16:int64:1000, 4:int64:=@0.1 or [3x64x64,3x48x64])";
constexpr int kMaxNesting = 16;

Error badSpec(const std::string& whole, const std::string& why) {
  return Error("bad input spec '" + whole + "': " + why);
}

std::optional<int64_t> toInt(const std::string& text) {
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size() && !text.empty() && text[0] != '+' && !std::isspace(text[0])) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

/// "@I.D", or nothing if `text` does not start with '@'.
std::optional<SizeRef> parseRef(const std::string& text, const std::string& whole) {
  if (text.empty() || text[0] != '@') return std::nullopt;
  size_t dot = text.find('.');
  auto input = toInt(text.substr(1, dot == std::string::npos ? std::string::npos : dot - 1));
  auto dim = dot == std::string::npos ? std::nullopt : toInt(text.substr(dot + 1));
  if (!input || !dim || *input < 0 || *dim < 0 || *input > 1000000 || *dim > 1000000) {
    throw badSpec(whole, "'" + text + "' is not a size reference @INPUT.DIM, e.g. @0.1");
  }
  return SizeRef{static_cast<int>(*input), static_cast<int>(*dim)};
}

Bound parseBound(const std::string& text, const std::string& whole) {
  if (auto ref = parseRef(text, whole)) return Bound{0, ref};
  if (auto v = toInt(text)) return Bound{*v, std::nullopt};
  throw badSpec(whole,
                "'" + text + "' is neither an integer nor a size reference @INPUT.DIM " + kSyntax);
}

std::string refText(const SizeRef& r) {
  return "@" + std::to_string(r.input) + "." + std::to_string(r.dim);
}

std::string boundText(const Bound& b) { return b.ref ? refText(*b.ref) : std::to_string(b.value); }

/// Splits at the commas outside brackets and braces.
std::vector<std::string> splitItems(const std::string& s, const std::string& whole) {
  std::vector<std::string> items;
  int depth = 0;
  size_t begin = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[' || s[i] == '{') ++depth;
    if (s[i] == ']' || s[i] == '}') {
      if (--depth < 0) throw badSpec(whole, "unbalanced brackets");
    }
    if (s[i] == ',' && depth == 0) {
      items.push_back(s.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  if (depth != 0) throw badSpec(whole, "unbalanced brackets");
  items.push_back(s.substr(begin));
  return items;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

/// The schema's arguments after self.
std::vector<c10::Argument> arguments(const torch::jit::Module& module, const std::string& method) {
  methodGraph(module, method);  // a clear error for a missing method
  const c10::FunctionSchema& schema = module.get_method(method).function().getSchema();
  return {schema.arguments().begin() + 1, schema.arguments().end()};
}

size_t requiredCount(const std::vector<c10::Argument>& args) {
  size_t n = 0;
  while (n < args.size() && !args[n].default_value()) ++n;
  return n;
}

std::string signature(const std::string& method, const std::vector<c10::Argument>& args) {
  std::ostringstream os;
  os << method << "(";
  for (size_t i = 0; i < args.size(); ++i) {
    os << (i ? ", " : "") << args[i].name() << ": " << args[i].type()->annotation_str();
    if (args[i].default_value()) os << " = " << *args[i].default_value();
  }
  os << ")";
  return os.str();
}

/// What the first layer consuming a tensor says about it.
class ShapeInference {
 public:
  explicit ShapeInference(const torch::jit::Module& module) : resolver_(module) {}

  std::optional<InputSpec> infer(Value* input) {
    std::vector<Value*> work{input};
    std::unordered_set<Value*> seen{input};
    for (size_t i = 0; i < work.size(); ++i) {
      for (const torch::jit::Use& use : work[i]->uses()) {
        if (auto spec = fromConsumer(use.user, use.offset)) return spec;
        Node* n = use.user;
        if (use.offset == 0 && n->outputs().size() == 1 && keepsShape(n) &&
            seen.insert(n->output()).second) {
          work.push_back(n->output());
        }
      }
    }
    return std::nullopt;
  }

 private:
  static bool keepsShape(Node* n) {
    static const std::unordered_set<std::string> kinds = {
        "aten::relu",       "aten::relu_", "aten::sigmoid",   "aten::tanh",
        "aten::gelu",       "aten::silu",  "aten::hardswish", "aten::hardtanh",
        "aten::leaky_relu", "aten::elu",   "aten::dropout",   "aten::feature_dropout",
        "aten::contiguous", "aten::clone", "aten::detach",    "aten::add",
        "aten::sub",        "aten::mul",   "aten::div"};
    return kinds.count(n->kind().toQualString()) > 0;
  }

  std::optional<at::Tensor> tensorAt(Node* n, size_t i) {
    auto v = resolver_.resolve(n->input(i));
    if (v && v->isTensor()) return v->toTensor();
    return std::nullopt;
  }

  std::optional<int64_t> intNamed(Node* n, const char* name) {
    auto v = resolver_.resolve(n->namedInput(name));
    if (v && v->isInt()) return v->toInt();
    return std::nullopt;
  }

  std::optional<InputSpec> fromConsumer(Node* n, size_t offset) {
    const std::string kind = n->kind().toQualString();
    static const std::unordered_set<std::string> convs = {
        "aten::conv1d",           "aten::conv2d",          "aten::conv3d",
        "aten::_convolution",     "aten::convolution",     "aten::conv_transpose1d",
        "aten::conv_transpose2d", "aten::conv_transpose3d"};
    if (convs.count(kind) && offset == 0) {
      auto w = tensorAt(n, 1);
      auto groups = intNamed(n, "groups");
      if (!w || !groups || w->dim() < 3) return std::nullopt;
      bool transposed = kind.find("transpose") != std::string::npos;
      if (kind == "aten::_convolution" || kind == "aten::convolution") {
        auto t = resolver_.resolve(n->namedInput("transposed"));
        if (!t || !t->isBool()) return std::nullopt;
        transposed = t->toBool();
      }
      InputSpec s;
      s.shape = {2, transposed ? w->size(0) : w->size(1) * *groups};
      s.shape.resize(w->dim(), -1);
      s.source = "inferred from the weight of the first " + kind;
      return s;
    }
    if (kind == "aten::linear" && offset == 0) {
      auto w = tensorAt(n, 1);
      if (!w || w->dim() != 2) return std::nullopt;
      InputSpec s;
      s.shape = {2, w->size(1)};
      s.source = "inferred from the weight of the first aten::linear";
      return s;
    }
    if (kind == "aten::embedding" && offset == 1) {
      auto w = tensorAt(n, 0);
      if (!w || w->dim() != 2) return std::nullopt;
      InputSpec s;
      s.shape = {2, 8};
      s.dtype = at::kLong;
      s.high.value = w->size(0);
      s.source = "inferred from the first aten::embedding";
      return s;
    }
    return std::nullopt;
  }

  ValueResolver resolver_;
};

}  // namespace

std::string InputSpec::str() const {
  if (kind != Kind::kTensor) {
    std::string s = kind == Kind::kList ? "[" : "{";
    for (size_t i = 0; i < items.size(); ++i) {
      s += (i ? "," : "") + (kind == Kind::kDict ? items[i].first + "=" : "") +
           items[i].second.str();
    }
    return s + (kind == Kind::kList ? "]" : "}");
  }
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    auto ref = shapeRefs.find(i);
    s +=
        (i ? "x" : "") + (ref != shapeRefs.end() ? refText(ref->second) : std::to_string(shape[i]));
  }
  if (shape.empty()) s = "scalar";
  const bool integral = c10::isIntegralType(dtype, false);
  const bool defaultValues = !fill && !low.ref && low.value == 0 && !high.ref && high.value == 10;
  if (dtype != c10::kFloat || (integral && !defaultValues)) s += ":" + dtypeName(dtype);
  if (integral && !defaultValues) {
    if (fill) {
      s += ":=" + boundText(low);
    } else if (low.ref || low.value != 0) {
      s += ":" + boundText(low) + ".." + boundText(high);
    } else {
      s += ":" + boundText(high);
    }
  }
  return s;
}

namespace {

InputSpec parseTensorSpec(const std::string& text, const std::string& whole) {
  std::vector<std::string> parts = split(text, ':');
  if (parts.empty() || parts.size() > 3 || parts[0].empty()) {
    throw badSpec(whole, std::string("'") + text + "' is not a spec " + kSyntax);
  }
  InputSpec s;
  if (parts[0] != "scalar") {
    for (const std::string& dim : split(parts[0], 'x')) {
      if (auto ref = parseRef(dim, whole)) {
        s.shapeRefs[s.shape.size()] = *ref;
        s.shape.push_back(0);
        continue;
      }
      auto v = toInt(dim);
      if (!v || *v < 0) {
        throw badSpec(whole, "size '" + dim + "' is not a non-negative integer " + kSyntax);
      }
      s.shape.push_back(*v);
    }
  }
  // 2^31 elements is 8 GiB of float32: anything bigger is a typo, and LibTorch would either
  // overflow its size arithmetic or try to allocate it.
  constexpr int64_t kMaxElements = int64_t{1} << 31;
  int64_t elements = 1;
  for (int64_t d : s.shape) {
    if (d != 0 && elements > kMaxElements / d) throw badSpec(whole, "more than 2^31 elements");
    elements *= d;
  }
  if (parts.size() > 1) {
    try {
      s.dtype = parseDtype(parts[1]);
    } catch (const Error& e) {
      throw badSpec(whole, e.what());
    }
  }
  if (parts.size() > 2) {
    const std::string& values = parts[2];
    if (!c10::isIntegralType(s.dtype, false)) {
      throw badSpec(whole, "VALUES (" + values + ") are only for integer dtypes");
    }
    size_t dots = values.find("..");
    if (!values.empty() && values[0] == '=') {
      s.fill = true;
      s.low = parseBound(values.substr(1), whole);
    } else if (dots != std::string::npos) {
      s.low = parseBound(values.substr(0, dots), whole);
      s.high = parseBound(values.substr(dots + 2), whole);
    } else {
      s.high = parseBound(values, whole);
    }
    if (!s.fill && !s.low.ref && !s.high.ref && s.high.value <= s.low.value) {
      throw badSpec(whole, "the range " + values + " is empty (values are drawn from [LOW, HIGH))");
    }
  }
  return s;
}

InputSpec parseSpec(const std::string& text, const std::string& whole, int depth) {
  if (depth > kMaxNesting) {
    throw badSpec(whole, "nested more than " + std::to_string(kMaxNesting) + " deep");
  }
  const bool list = !text.empty() && text.front() == '[';
  const bool dict = !text.empty() && text.front() == '{';
  if (!list && !dict) return parseTensorSpec(text, whole);
  if (text.back() != (list ? ']' : '}')) throw badSpec(whole, "unbalanced brackets");
  InputSpec s;
  s.kind = list ? InputSpec::Kind::kList : InputSpec::Kind::kDict;
  const std::string inner = text.substr(1, text.size() - 2);
  if (inner.empty()) return s;
  for (const std::string& item : splitItems(inner, whole)) {
    if (list) {
      s.items.emplace_back("", parseSpec(item, whole, depth + 1));
      continue;
    }
    size_t eq = item.find('=');
    if (eq == 0 || eq == std::string::npos) {
      throw badSpec(whole, "dict entry '" + item + "' is not KEY=SPEC");
    }
    s.items.emplace_back(item.substr(0, eq), parseSpec(item.substr(eq + 1), whole, depth + 1));
  }
  return s;
}

}  // namespace

InputSpec parseInputSpec(const std::string& text) {
  InputSpec s = parseSpec(text, text, 0);
  s.source = "given";
  return s;
}

Distribution parseDistribution(const std::string& name) {
  if (name == "uniform") return Distribution::kUniform;
  if (name == "normal") return Distribution::kNormal;
  throw Error("unknown distribution '" + name + "' (known: uniform, normal)");
}

namespace {

/// Makes the values of specs: size references resolved against the top-level inputs.
class InputMaker {
 public:
  InputMaker(const std::vector<InputSpec>& specs, const InputGeneration& generation)
      : specs_(specs), generation_(generation) {}

  c10::IValue make(const InputSpec& s, at::Generator& gen) const {
    if (s.kind == InputSpec::Kind::kList) {
      std::vector<c10::IValue> items;
      for (const auto& item : s.items) items.push_back(make(item.second, gen));
      c10::TypePtr elem =
          items.empty() ? c10::TensorType::get() : c10::unshapedType(items[0].type());
      c10::impl::GenericList list(elem);
      for (c10::IValue& v : items) list.push_back(std::move(v));
      return list;
    }
    if (s.kind == InputSpec::Kind::kDict) {
      c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
      for (const auto& [key, spec] : s.items) dict.insert(key, make(spec, gen));
      return dict;
    }
    std::vector<int64_t> shape = s.shape;
    for (const auto& [dim, ref] : s.shapeRefs) shape[dim] = size(ref);
    at::TensorOptions opts = at::TensorOptions().dtype(at::kDouble);
    if (s.dtype == at::kBool) {
      return at::randint(0, 2, shape, gen, opts.dtype(at::kLong)).to(at::kBool);
    }
    if (c10::isIntegralType(s.dtype, false)) {
      const int64_t low = value(s.low), high = value(s.high);
      if (s.fill) return at::full(shape, low, opts.dtype(s.dtype));
      if (high <= low) {
        throw Error("bad input spec '" + s.str() + "': the range is empty (" + std::to_string(low) +
                    ".." + std::to_string(high) + ")");
      }
      return at::randint(low, high, shape, gen, opts.dtype(at::kLong)).to(s.dtype);
    }
    auto draw = [&] {
      at::Tensor x = at::empty(shape, opts);
      if (generation_.distribution == Distribution::kNormal) {
        return x.normal_(0, generation_.scale, gen);
      }
      return x.uniform_(-generation_.scale, generation_.scale, gen);
    };
    return c10::isComplexType(s.dtype) ? at::complex(draw(), draw()).to(s.dtype)
                                       : draw().to(s.dtype);
  }

 private:
  int64_t value(const Bound& b) const { return b.ref ? size(*b.ref) : b.value; }

  /// The size a reference names: a top-level tensor input's dimension given as a number.
  int64_t size(const SizeRef& r) const {
    const std::string what = "size reference " + refText(r);
    if (r.input < 0 || static_cast<size_t>(r.input) >= specs_.size()) {
      throw Error(what + ": there is no input " + std::to_string(r.input) +
                  " (the inputs are numbered from 0 to " + std::to_string(specs_.size() - 1) + ")");
    }
    const InputSpec& target = specs_[r.input];
    if (target.kind != InputSpec::Kind::kTensor) {
      throw Error(what + ": input " + std::to_string(r.input) + " is not a tensor");
    }
    if (static_cast<size_t>(r.dim) >= target.shape.size()) {
      throw Error(what + ": input " + std::to_string(r.input) + " (" + target.str() + ") has " +
                  std::to_string(target.shape.size()) + " dimensions");
    }
    if (target.shapeRefs.count(r.dim) || target.shape[r.dim] < 0) {
      throw Error(what + ": that size is not a number (" + target.str() + ")");
    }
    return target.shape[r.dim];
  }

  const std::vector<InputSpec>& specs_;
  const InputGeneration& generation_;
};

c10::IValue typedAs(const c10::IValue& v, c10::TypePtr type) {
  if (auto optional = type->cast<c10::OptionalType>()) {
    return v.isNone() ? v : typedAs(v, optional->getElementType());
  }
  if (auto list = type->cast<c10::ListType>(); list && v.isList()) {
    c10::impl::GenericList out(list->getElementType());
    for (const c10::IValue& item : v.toListRef()) out.push_back(typedAs(item, out.elementType()));
    return out;
  }
  if (auto dict = type->cast<c10::DictType>(); dict && v.isGenericDict()) {
    c10::impl::GenericDict out(dict->getKeyType(), dict->getValueType());
    for (const auto& entry : v.toGenericDict()) {
      out.insert(entry.key(), typedAs(entry.value(), dict->getValueType()));
    }
    return out;
  }
  if (auto tuple = type->cast<c10::TupleType>();
      tuple && v.isTuple() && tuple->elements().size() == v.toTupleRef().elements().size()) {
    std::vector<c10::IValue> items;
    for (size_t i = 0; i < tuple->elements().size(); ++i) {
      items.push_back(typedAs(v.toTupleRef().elements()[i], tuple->elements()[i]));
    }
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return v;
}

}  // namespace

std::vector<c10::IValue> makeInputs(const std::vector<InputSpec>& specs,
                                    const InputGeneration& generation, int trial) {
  InputMaker maker(specs, generation);
  std::vector<c10::IValue> inputs;
  for (size_t i = 0; i < specs.size(); ++i) {
    // One stream per (seed, trial, input): adding an input does not change the others.
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        generation.seed * 1000003u + static_cast<uint64_t>(trial) * 1009u + i);
    inputs.push_back(maker.make(specs[i], gen));
  }
  return inputs;
}

std::vector<c10::IValue> typedAsArguments(const torch::jit::Module& module,
                                          const std::string& method,
                                          std::vector<c10::IValue> inputs) {
  std::vector<c10::Argument> args = arguments(module, method);
  for (size_t i = 0; i < inputs.size() && i < args.size(); ++i) {
    inputs[i] = typedAs(inputs[i], args[i].type());
  }
  return inputs;
}

std::string inputsBeside(const std::string& modelPath) {
  const std::string ext = ".pt";
  const bool pt = modelPath.size() > ext.size() &&
                  modelPath.compare(modelPath.size() - ext.size(), ext.size(), ext) == 0;
  std::string path =
      (pt ? modelPath.substr(0, modelPath.size() - ext.size()) : modelPath) + ".inputs.pt";
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? path : "";
}

namespace {

/// Refuses inputs that every walk over them (converting, cloning, comparing) would take too long
/// or too much memory for: lists nested too deep, or that hold the same list many times over (a
/// pickle can share one list between many places, so a small file can stand for 2^30 items).
void checkBounded(const c10::IValue& root, const std::string& what) {
  constexpr int kMaxDepth = 64;
  constexpr int64_t kMaxValues = 1000000;
  int64_t values = 0;
  std::function<void(const c10::IValue&, int)> visit = [&](const c10::IValue& v, int depth) {
    if (depth > kMaxDepth) {
      throw Error(what + ": its values nest more than " + std::to_string(kMaxDepth) + " deep");
    }
    if (++values > kMaxValues) {
      throw Error(what + ": it holds more than " + std::to_string(kMaxValues) +
                  " values (counting a list each time it is held)");
    }
    if (v.isTuple()) {
      for (const c10::IValue& item : v.toTupleRef().elements()) visit(item, depth + 1);
    } else if (v.isList()) {
      for (const c10::IValue& item : v.toListRef()) visit(item, depth + 1);
    } else if (v.isGenericDict()) {
      for (const auto& item : v.toGenericDict()) {
        visit(item.key(), depth + 1);
        visit(item.value(), depth + 1);
      }
    }
  };
  visit(root, 0);
}

}  // namespace

std::vector<c10::IValue> loadInputsFile(const std::string& path) {
  const std::string what = "cannot read inputs file '" + path + "'";
  if (std::string why = unreadableFile(path); !why.empty()) throw Error(what + ": " + why);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(what + ": read error");
  checkArchive(memoryReader(std::string_view(bytes.data(), bytes.size())), what);
  c10::IValue v;
  try {
    v = loadTorchSaved(bytes);
  } catch (const std::exception& e) {
    throw Error(what + ": " + describeException(e) +
                " (save a tuple of tensors with torch.save((x, ...), PATH))");
  }
  checkBounded(v, what);
  if (v.isTuple()) return v.toTupleRef().elements().vec();
  if (v.isList()) return v.toListRef().vec();
  if (v.isTensor()) return {v};
  throw Error(what + ": it holds a " + v.tagKind() + ", not a tuple of inputs");
}

void checkInputCount(const torch::jit::Module& module, const std::string& method, size_t count,
                     const std::string& what) {
  std::vector<c10::Argument> args = arguments(module, method);
  size_t required = requiredCount(args);
  if (count >= required && count <= args.size()) return;
  std::string takes = required == args.size()
                          ? std::to_string(required)
                          : std::to_string(required) + " to " + std::to_string(args.size());
  throw Error(signature(method, args) + " takes " + takes + " input" +
                  (args.size() == 1 ? "" : "s") + ", got " + std::to_string(count) +
                  (what.empty() ? "" : " (" + what + ")"),
              Setting::kInputSpecs);
}

std::vector<InputSpec> inferInputSpecs(const torch::jit::Module& module,
                                       const std::string& method) {
  std::vector<c10::Argument> args = arguments(module, method);
  std::shared_ptr<torch::jit::Graph> graph = inlinedCopy(module, method);
  ShapeInference inference(module);
  std::vector<InputSpec> specs;
  for (size_t i = 0; i < requiredCount(args); ++i) {
    const std::string name = "'" + args[i].name() + "' of " + method;
    auto tensorType = args[i].type()->cast<c10::TensorType>();
    if (!tensorType) {
      throw Error("input " + name + " is " + args[i].type()->annotation_str() +
                      ", not a tensor: save example inputs beside the model as MODEL.inputs.pt, or "
                      "describe it (e.g. '[3x224x224]' for a List[Tensor])",
                  Setting::kInputSpecs);
    }
    auto recorded = graph->inputs()[i + 1]->type()->cast<c10::TensorType>();
    if (recorded && recorded->sizes().concrete_sizes() && recorded->scalarType()) {
      InputSpec s;
      s.shape = *recorded->sizes().concrete_sizes();
      s.dtype = *recorded->scalarType();
      s.source = "recorded in the graph";
      specs.push_back(s);
      continue;
    }
    std::optional<InputSpec> s = inference.infer(graph->inputs()[i + 1]);
    if (!s) {
      throw Error("cannot infer the shape of input " + name +
                      " (its first consumer is not a convolution, linear or embedding layer): "
                      "save example inputs beside the model as MODEL.inputs.pt, or describe it",
                  Setting::kInputSpecs);
    }
    specs.push_back(*s);
  }
  return specs;
}

}  // namespace tsopt
