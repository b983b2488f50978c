// reduce(): finds the failing pass, then delta-debugs the model before it over its nodes.
#include "engine/reduce.h"

#include <algorithm>
#include <chrono>

#include "engine/run.h"
#include "passes/builtin/builtin.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/instrumentations.h"
#include "passes/core/interrupt.h"
#include "passes/core/ir_check.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Whether `standIn` may take the place of `v`: any tensor for a tensor (shapes are only
/// annotations), else a value of a subtype.
bool fits(const Value* standIn, const Value* v) {
  if (v->type()->cast<c10::TensorType>())
    return standIn->type()->cast<c10::TensorType>() != nullptr;
  return standIn->type()->isSubtypeOf(*v->type());
}

/// What takes the place of `v`, a result of `n`, when `n` goes: one of n's inputs, else an input
/// of the method; nullptr if none fits.
Value* standInFor(Node* n, Value* v, Graph& g) {
  for (Value* in : n->inputs()) {
    if (fits(in, v)) return in;
  }
  for (Value* in : g.inputs()) {
    if (fits(in, v)) return in;
  }
  return nullptr;
}

bool removable(Node* n, Graph& g) {
  if (n->kind() == c10::prim::Constant) return false;
  if (n->kind() == c10::prim::If || n->kind() == c10::prim::Loop) return true;
  for (Value* out : n->outputs()) {
    if (out->hasUses() && !standInFor(n, out, g)) return false;
  }
  return true;
}

/// Removes `n`: a prim::If becomes its first branch, a prim::Loop its initial values, any other
/// node the stand-ins of its results.
void remove(Node* n, Graph& g) {
  if (n->kind() == c10::prim::If) {
    torch::jit::Block* branch = n->blocks()[0];
    for (auto it = branch->nodes().begin(); it != branch->nodes().end();) {
      Node* inner = *it++;
      inner->moveBefore(n);
    }
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      n->outputs()[i]->replaceAllUsesWith(branch->outputs()[i]);
    }
  } else if (n->kind() == c10::prim::Loop) {
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      n->outputs()[i]->replaceAllUsesWith(n->inputs()[i + 2]);
    }
  } else {
    for (Value* out : n->outputs()) {
      if (out->hasUses()) out->replaceAllUsesWith(standInFor(n, out, g));
    }
  }
  n->destroy();
}

/// A node of one of the methods, by its place in a fixed walk of the method's graph.
struct NodeRef {
  size_t method, index;
};

/// The methods' nodes in a fixed order: nested blocks first, then the node holding them.
std::vector<Node*> walk(Graph& g) {
  std::vector<Node*> nodes;
  forEachNode(g.block(), [&](Node* n) { nodes.push_back(n); });
  return nodes;
}

class Reducer {
 public:
  Reducer(const ReduceOptions& o, PassFailureInfo failure) : o_(o), failure_(std::move(failure)) {
    if (o.until == FailureKind::kDiffers) verify_ = o.verify;
  }

  torch::jit::Module load(const std::string& archive) const {
    return deserializeModule(archive, "the model being reduced");
  }

  /// The nodes that may go from the model in `archive`.
  std::vector<NodeRef> candidates(const std::string& archive) const {
    torch::jit::Module m = load(archive);
    std::vector<NodeRef> out;
    for (size_t k = 0; k < o_.methods.size(); ++k) {
      std::shared_ptr<Graph> g = methodGraph(m, o_.methods[k]);
      std::vector<Node*> nodes = walk(*g);
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (removable(nodes[i], *g)) out.push_back({k, i});
      }
    }
    return out;
  }

  /// The model in `archive` without `gone`, dead code removed; nullopt if that is not a valid
  /// graph.
  std::optional<torch::jit::Module> without(const std::string& archive,
                                            const std::vector<NodeRef>& gone) const {
    torch::jit::Module m = load(archive);
    for (size_t k = 0; k < o_.methods.size(); ++k) {
      std::shared_ptr<Graph> g = methodGraph(m, o_.methods[k]);
      std::vector<Node*> nodes = walk(*g);
      for (const NodeRef& r : gone) {
        if (r.method == k) remove(nodes[r.index], *g);  // in walk order: inner nodes first
      }
      eliminateDeadCode(*g, nullptr);
      if (!findGraphDefect(*g).empty()) return std::nullopt;
    }
    return m;
  }

  /// The failing pass still fails `m` the same way (`m` is used up).
  bool stillFails(torch::jit::Module m) {
    ++tests_;
    try {
      std::optional<PassFailureInfo> f =
          runToFailure(std::move(m), failure_.spec, o_.methods, o_.irCheck, verify_);
      return f && f->kind == failure_.kind && f->name == failure_.name;
    } catch (const std::exception&) {
      return false;  // the candidate does not run at all (verification needs it to)
    }
  }

  /// Accepts `m` if it still fails once saved and loaded again: returns its archive, and counts
  /// the nodes of the loaded model.
  std::optional<std::string> keep(const torch::jit::Module& m) {
    std::string archive = serializeModule(m);
    torch::jit::Module loaded = load(archive);
    const int64_t nodes = NodeCounts::count(loaded, o_.methods);
    if (!stillFails(loaded)) return std::nullopt;
    nodes_ = nodes;
    return archive;
  }

  /// Delta debugging over nodes: removes chunks of the candidates, halving the chunks when none
  /// can go, until single nodes cannot.
  std::string reduceNodes(std::string current) {
    size_t parts = 2, lastChunk = 0;
    while (!outOfTime()) {
      std::vector<NodeRef> all = candidates(current);
      if (all.empty()) break;
      parts = std::min(parts, all.size());
      const size_t chunk = (all.size() + parts - 1) / parts;
      if (chunk != lastChunk) {
        lastChunk = chunk;
        if (o_.onProgress) {
          o_.onProgress("trying to remove " + std::to_string(chunk) + " of " +
                        std::to_string(all.size()) + " nodes at a time (" + std::to_string(tests_) +
                        " candidates tried, " + std::to_string(static_cast<int64_t>(elapsed())) +
                        " s)");
        }
      }
      bool progress = false;
      for (size_t start = 0; start < all.size() && !progress && !outOfTime(); start += chunk) {
        std::vector<NodeRef> gone(all.begin() + start,
                                  all.begin() + std::min(all.size(), start + chunk));
        std::optional<torch::jit::Module> m = without(current, gone);
        if (!m || !stillFails(*m)) continue;
        // `m` is used up by the test: the kept model is made again.
        if (std::optional<std::string> kept = keep(*without(current, gone))) {
          current = *kept;
          progress = true;
          say();
        }
      }
      if (progress) {
        parts = std::max<size_t>(parts - 1, 2);
      } else if (chunk == 1) {
        break;
      } else {
        parts *= 2;
      }
    }
    return current;
  }

  /// Drops the weights and submodules nothing reaches any more, if the failure stays.
  std::string strip(const std::string& current) {
    torch::jit::Module m = load(current);
    PassManager pm(parsePipeline("strip"));
    pm.run(m, o_.methods);
    std::optional<std::string> kept = keep(m);
    return kept ? *kept : current;
  }

  /// Nodes of the model kept last.
  int64_t nodes() const { return nodes_; }

  /// The time limit has passed (said once). Asked between trials, so also where Ctrl-C stops.
  bool outOfTime() {
    checkInterrupt();
    if (o_.maxSeconds > 0 && elapsed() > o_.maxSeconds) stoppedEarly_ = true;
    return stoppedEarly_;
  }
  bool stoppedEarly() const { return stoppedEarly_; }
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  void say() {
    if (!o_.onProgress) return;
    o_.onProgress(std::to_string(nodes_) + " nodes (" + std::to_string(tests_) +
                  " candidates tried)");
  }

  size_t tests() const { return tests_; }

 private:
  const ReduceOptions& o_;
  PassFailureInfo failure_;
  std::optional<VerifyOptions> verify_;
  size_t tests_ = 0;
  int64_t nodes_ = 0;
  bool stoppedEarly_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Runs the whole pipeline on the input and says how it fails, if it does.
std::optional<PassFailureInfo> findFailure(const ReduceOptions& o) {
  RunOptions run;
  run.input = o.input;
  run.pipeline = o.pipeline;
  run.methods = o.methods;
  run.irCheck = o.irCheck;
  run.reproducer = false;
  run.countNodes = false;
  if (o.until == FailureKind::kDiffers) {
    run.verify = VerifyMode::kEach;
    run.verifyOptions = o.verify;
  }
  try {
    RunOutcome out = optimize(run);
    const PassRecord* blamed =
        out.verdict && out.verdict->firstFailing ? out.passAt(*out.verdict->firstFailing) : nullptr;
    if (!blamed) return std::nullopt;
    return PassFailureInfo::differs(*blamed, out.verdict->result.mismatch);
  } catch (const PassFailure& e) {
    return PassFailureInfo::of(e);
  }
}

}  // namespace

ReduceOutcome reduce(const ReduceOptions& o) {
  checkOutputPaths({{"the input model", o.input}}, {{"the reduced model", o.output}});
  checkWritable(o.output);
  auto say = [&](const std::string& what) {
    if (o.onProgress) o.onProgress(what);
  };
  ReduceOutcome out;
  std::optional<PassFailureInfo> failure = findFailure(o);
  const std::string until = failureKindName(o.until);
  if (!failure) {
    throw Error("the pipeline does not fail on '" + o.input + "' (--until " + until + ")");
  }
  if (failure->kind != o.until) {
    throw Error("the pipeline fails with '" + std::string(failureKindName(failure->kind)) +
                "' in pass " + std::to_string(failure->index + 1) + " '" + failure->spec +
                "', not with '" + until + "': " + failure->message);
  }
  out.failure = *failure;
  say("pass " + std::to_string(failure->index + 1) + " '" + failure->spec + "' fails (" + until +
      "): " + failure->message);

  torch::jit::Module input = loadModule(o.input);
  out.inputNodes = NodeCounts::count(input, o.methods);
  Reducer reducer(o, *failure);
  std::optional<std::string> start =
      reducer.keep(modelBefore(input, o.pipeline, o.methods, failure->index));
  if (!start) {
    throw Error("pass '" + failure->spec +
                "' does not fail alone on the model as it was before "
                "it; reduce needs a failure that one pass shows");
  }
  out.startNodes = reducer.nodes();
  say("reducing the model before it: " + std::to_string(out.startNodes) + " nodes");
  std::string result = reducer.strip(reducer.reduceNodes(*start));
  out.nodesAfter = reducer.nodes();
  out.tests = reducer.tests();
  out.stoppedEarly = reducer.stoppedEarly();
  writeFileAtomic(o.output, result);
  out.outputBytes = result.size();
  ReproducerContext context;
  context.methods = o.methods;
  context.irCheck = o.irCheck;
  context.flags = o.flags;
  out.command = reproducingArgs(out.failure, context, o.output);
  return out;
}

}  // namespace tsopt
