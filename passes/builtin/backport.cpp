// backport: calls of LibTorch 2.x operators that LibTorch 1.13 lacks become calls of operators it
// has, so that a model saved by PyTorch 2.x and run through this pass on a 2.x build loads in
// LibTorch 1.13. Each operator's decomposition is a TorchScript function below, inlined at every
// call; folding the non-tensor values it is called with (constant flags, `None`) then removes
// the branches that do not apply, so a traced call becomes straight-line code:
//
//   %y = aten::scaled_dot_product_attention(%q, %k, %v, %none, %zero, %false, %none, %false)
//     ->  %e = aten::size(%q, %m1)  ...  %s = aten::matmul(%q, %kt)  %a = aten::mul(%s, %scale)
//         %w = aten::softmax(%a, %m1, %none)  %y = aten::matmul(%w, %v)
//
// A mask, a causal flag, a scale or a dropout known only at run time (scripted models) stays a
// branch, as in PyTorch's own reference. What a call needs that the decomposition does not do
// (grouped-query attention at run time) is left as it was, and counted.
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <map>
#include <mutex>

#include "passes/builtin/builtin.h"
#include "passes/core/graph_utils.h"
#include "passes/core/registry.h"
#include "passes/core/torch_compat.h"

namespace tsopt {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The decompositions, written with operators LibTorch 1.13 has. The scale of attention is
// computed in double, as LibTorch does, and applied to q @ k^T; rows that a mask hides entirely
// give 0, as LibTorch 2.x's attention does (a plain softmax would give NaN).
const char* kDecompositions = R"TS(
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Optional[Tensor], dropout_p: float, is_causal: bool,
                                 scale: Optional[float], enable_gqa: bool) -> Tensor:
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    s = 1.0 / float(query.size(-1)) ** 0.5
    if scale is not None:
        s = scale
    attn = torch.matmul(query, key.transpose(-2, -1)) * s
    if is_causal:
        above = torch.ones([query.size(-2), key.size(-2)], device=query.device).triu(1) > 0.5
        attn = attn.masked_fill(above, float("-inf"))
    hidden = False
    if attn_mask is not None:
        if attn_mask.is_floating_point():
            attn = attn + attn_mask
        else:
            attn = attn.masked_fill(attn_mask.logical_not(), float("-inf"))
            hidden = True
    weights = torch.softmax(attn, -1)
    if hidden:
        weights = weights.masked_fill((attn == float("-inf")).all(-1, True), 0.0)
    if dropout_p > 0.0:
        weights = torch.dropout(weights, dropout_p, True)
    return torch.matmul(weights, value)

def rms_norm(input: Tensor, normalized_shape: List[int], weight: Optional[Tensor],
             eps: Optional[float]) -> Tensor:
    dims: List[int] = []
    for i in range(len(normalized_shape)):
        dims.append(-1 - i)
    e = 1.1920928955078125e-07  # the dtype's epsilon: float32, float64 (7), half (5), bfloat16 (15)
    if input.dtype == 7:
        e = 2.220446049250313e-16
    if input.dtype == 5:
        e = 0.0009765625
    if input.dtype == 15:
        e = 0.0078125
    if eps is not None:
        e = eps
    out = input * torch.rsqrt(input.pow(2).mean(dims, True) + e)
    if weight is not None:
        out = out * weight
    return out

def squeeze_dims(input: Tensor, dim: List[int]) -> Tensor:
    n = input.dim()
    if n == 0:
        return input.squeeze()
    dims: List[int] = []
    for d in dim:
        dims.append(d + n if d < 0 else d)
    dims.sort(reverse=True)
    out = input
    for d in dims:
        out = out.squeeze(d)
    return out
)TS";

/// The operators decomposed (name and overload, as in the schema), and the function for each.
const std::map<std::string, std::string> kDecomposed = {
    {"aten::scaled_dot_product_attention", "scaled_dot_product_attention"},
    {"aten::rms_norm", "rms_norm"},
    {"aten::squeeze.dims", "squeeze_dims"},
};

/// The decompositions' graphs, compiled once (each with its calls inlined).
const std::map<std::string, std::shared_ptr<Graph>>& decompositions() {
  static const std::map<std::string, std::shared_ptr<Graph>> graphs = [] {
    torch::jit::CompilationUnit cu;
    cu.define(c10::nullopt, kDecompositions, torch::jit::nativeResolver(), nullptr);
    std::map<std::string, std::shared_ptr<Graph>> out;
    for (const auto& [op, fn] : kDecomposed) {
      std::shared_ptr<Graph> g = torch::jit::toGraphFunction(cu.get_function(fn)).graph()->copy();
      torch::jit::Inline(*g);
      out[op] = g;
    }
    return out;
  }();
  return graphs;
}

void collect(torch::jit::Block* block, std::vector<Node*>& out) {
  for (Node* n : block->nodes()) {
    for (torch::jit::Block* b : n->blocks()) collect(b, out);
    if (kDecomposed.count(compat::operatorName(n))) out.push_back(n);
  }
}

}  // namespace

bool backportOperators(const std::shared_ptr<Graph>& graph, Statistics* stats) {
  std::vector<Node*> calls;
  collect(graph->block(), calls);
  bool changed = false;
  for (Node* n : calls) {
    const std::string op = compat::operatorName(n);
    const Graph& callee = *decompositions().at(op);
    if (callee.inputs().size() != n->inputs().size()) {  // a form the decomposition does not take
      if (stats) stats->add("left." + op);
      continue;
    }
    torch::jit::WithInsertPoint at(n);
    std::vector<Value*> outs =
        torch::jit::insertGraph(*graph, const_cast<Graph&>(callee), n->inputs());
    outs[0]->setType(n->output()->type());
    n->output()->replaceAllUsesWith(outs[0]);
    n->destroy();
    if (stats) stats->add("backported." + op);
    changed = true;
  }
  if (!changed) return false;
  // Fold the flags and `None`s the calls pass (never tensors), then drop what no longer runs.
  std::shared_ptr<Graph> g = graph;
  torch::jit::ConstantPropagationImmutableTypes(g);
  eliminateDeadCode(*graph, nullptr);
  return true;
}

namespace {

class BackportPass : public ModulePass {
 public:
  std::string name() const override { return "backport"; }
  std::string description() const override {
    return "Calls of LibTorch 2.x operators that 1.13 lacks (scaled_dot_product_attention, "
           "rms_norm, squeeze with a list of dims) written with operators 1.13 has, so that "
           "LibTorch 1.13 loads the saved model; warns of any left";
  }
  bool run(torch::jit::Module& module, ModulePassContext& ctx) override {
    bool changed = false;
    for (const std::string& method : ctx.methods) {
      changed |= backportOperators(module.get_method(method).graph(), &ctx.stats);
    }
    // What the kept methods still call (strip, after the pass in the preset, removes the rest).
    compat::Requirement need = compat::requirement(module, &ctx.methods);
    if (!need.newerOperators.empty()) {
      ctx.warnings.push_back("the model still calls " +
                             compat::lacking(need.newerOperators, compat::oldLine()) +
                             ": it needs LibTorch >= " + need.oldest);
    }
    return changed;
  }
};

TSOPT_REGISTER_PASS(BackportPass);

}  // namespace

}  // namespace tsopt
