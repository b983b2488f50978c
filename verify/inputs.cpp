// Input specs, seeded random inputs, inputs files, and inferring inputs from a model's layers.
#include "verify/inputs.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "passes/builtin/builtin.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"
#include "verify/compare.h"

namespace tsopt {

namespace {

using torch::jit::Node;
using torch::jit::Value;

int64_t parseInt(const std::string& text, const std::string& spec, const char* what) {
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw Error("bad input shape '" + spec + "': " + what + " '" + text +
              "' is not a non-negative integer (expected SHAPE[:DTYPE[:HIGH]], e.g. "
              "1x3x224x224 or 1x16:int64:1000)");
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
      s.high = w->size(0);
      s.source = "inferred from the first aten::embedding";
      return s;
    }
    return std::nullopt;
  }

  ValueResolver resolver_;
};

}  // namespace

std::string InputSpec::str() const {
  std::string s = shapeText(shape);
  if (dtype != c10::kFloat) s += ":" + dtypeName(dtype);
  if (c10::isIntegralType(dtype, false) && high != 10) s += ":" + std::to_string(high);
  return s;
}

InputSpec parseInputSpec(const std::string& text) {
  std::vector<std::string> parts = split(text, ':');
  if (parts.empty() || parts.size() > 3 || parts[0].empty()) {
    throw Error("bad input shape '" + text +
                "' (expected SHAPE[:DTYPE[:HIGH]], e.g. 1x3x224x224 or 1x16:int64:1000)");
  }
  InputSpec s;
  s.source = "given";
  if (parts[0] != "scalar") {
    for (const std::string& dim : split(parts[0], 'x'))
      s.shape.push_back(parseInt(dim, text, "size"));
  }
  // 2^31 elements is 8 GiB of float32: anything bigger is a typo, and LibTorch would either
  // overflow its size arithmetic or try to allocate it.
  constexpr int64_t kMaxElements = int64_t{1} << 31;
  int64_t elements = 1;
  for (int64_t d : s.shape) {
    if (d != 0 && elements > kMaxElements / d) {
      throw Error("bad input shape '" + text + "': more than 2^31 elements");
    }
    elements *= d;
  }
  if (parts.size() > 1) {
    try {
      s.dtype = parseDtype(parts[1]);
    } catch (const Error& e) {
      throw Error("bad input shape '" + text + "': " + e.what());
    }
  }
  if (parts.size() > 2) {
    if (!c10::isIntegralType(s.dtype, false)) {
      throw Error("bad input shape '" + text + "': HIGH is only for integer dtypes");
    }
    s.high = parseInt(parts[2], text, "HIGH");
    if (s.high == 0) throw Error("bad input shape '" + text + "': HIGH must be at least 1");
  }
  return s;
}

Distribution parseDistribution(const std::string& name) {
  if (name == "uniform") return Distribution::kUniform;
  if (name == "normal") return Distribution::kNormal;
  throw Error("unknown distribution '" + name + "' (known: uniform, normal)");
}

std::vector<c10::IValue> makeInputs(const std::vector<InputSpec>& specs,
                                    const InputGeneration& generation, int trial) {
  std::vector<c10::IValue> inputs;
  for (size_t i = 0; i < specs.size(); ++i) {
    const InputSpec& s = specs[i];
    // One stream per (seed, trial, input): adding an input does not change the others.
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        generation.seed * 1000003u + static_cast<uint64_t>(trial) * 1009u + i);
    at::TensorOptions opts = at::TensorOptions().dtype(at::kDouble);
    at::Tensor t;
    if (s.dtype == at::kBool) {
      t = at::randint(0, 2, s.shape, gen, opts.dtype(at::kLong)).to(at::kBool);
    } else if (c10::isIntegralType(s.dtype, false)) {
      t = at::randint(0, s.high, s.shape, gen, opts.dtype(at::kLong)).to(s.dtype);
    } else {
      auto draw = [&] {
        at::Tensor x = at::empty(s.shape, opts);
        if (generation.distribution == Distribution::kNormal) {
          return x.normal_(0, generation.scale, gen);
        }
        return x.uniform_(-generation.scale, generation.scale, gen);
      };
      t = c10::isComplexType(s.dtype) ? at::complex(draw(), draw()).to(s.dtype)
                                      : draw().to(s.dtype);
    }
    inputs.emplace_back(std::move(t));
  }
  return inputs;
}

std::vector<c10::IValue> loadInputsFile(const std::string& path) {
  const std::string what = "cannot read inputs file '" + path + "'";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(what + ": no such file");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(what + ": read error");
  c10::IValue v;
  try {
    v = torch::jit::pickle_load(bytes);
  } catch (const std::exception& e) {
    throw Error(what + ": " + describeException(e) +
                " (save a tuple of tensors with torch.save((x, ...), PATH))");
  }
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
              (args.size() == 1 ? "" : "s") + ", got " + std::to_string(count) + " (" + what + ")");
}

std::vector<InputSpec> inferInputSpecs(const torch::jit::Module& module,
                                       const std::string& method) {
  std::vector<c10::Argument> args = arguments(module, method);
  std::shared_ptr<torch::jit::Graph> graph = methodGraph(module, method)->copy();
  inlineCalls(*graph, InlineOptions{}, nullptr);
  ShapeInference inference(module);
  std::vector<InputSpec> specs;
  for (size_t i = 0; i < requiredCount(args); ++i) {
    const std::string name = "'" + args[i].name() + "' of " + method;
    auto tensorType = args[i].type()->cast<c10::TensorType>();
    if (!tensorType) {
      throw Error("input " + name + " is " + args[i].type()->annotation_str() +
                  ", not a tensor: give the inputs with --inputs FILE");
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
                  "give it with --input-shape");
    }
    specs.push_back(*s);
  }
  return specs;
}

}  // namespace tsopt
