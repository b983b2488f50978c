// Our inline, dce, fold-conv-bn and IR check against LibTorch's Inline, EliminateDeadCode,
// FoldConvBatchNorm and Graph::lint(), in one process, on the models given (see
// make_bench_models.py), plus two floors: fold-conv-bn's (the bare arithmetic of folding, one
// multiplication over every folded weight) and any pass's (a bare walk over the graph). Each
// iteration works on a freshly loaded copy of the module (loading is not timed), so no pass
// profits from caches another run left behind.
// bench/run_benchmarks.py runs it once per model and tabulates medians and ratios.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "passes/builtin/bn_folding.h"
#include "passes/core/module_copy.h"
#include "passes/builtin/builtin.h"
#include "passes/core/ir_check.h"

namespace {

using torch::jit::Module;
using tsopt::Statistics;

std::shared_ptr<torch::jit::Graph> forward(Module& m) { return m.get_method("forward").graph(); }

/// Does the allocator's deferred work for what was freed before a timed region, so that the
/// region does not pay for it. glibc merges freed small chunks (malloc_trim does that) into a
/// list of unsorted chunks, and sorts that list into size bins during later calls of malloc, at
/// most 10000 chunks a call; after a graph of tens of thousands of nodes is freed, the first
/// allocations of the timed pass would sort the previous input's chunks (6-7 ms of a 19 ms dce
/// on the chain of 1600 blocks, nothing for the walk floor, which allocates nothing). Requests
/// too large for the thread cache and of distinct sizes make malloc sort the whole list.
void settleAllocator() {
  malloc_trim(0);
  std::vector<void*> blocks;
  for (size_t i = 0; i < 256; ++i) blocks.push_back(malloc(4096 + 16 * i));
  for (void* b : blocks) free(b);
}

/// Runs `prepare` untimed and `body` timed, once per iteration; the previous iteration's input
/// is destroyed untimed too (freeing a model's weights is not part of any pass), and so is the
/// allocator's deferred work for it (settleAllocator).
template <typename Prepare, typename Body>
void timed(benchmark::State& state, Prepare prepare, Body body) {
  std::vector<decltype(prepare())> input;  // holds at most one
  for (auto _ : state) {
    state.PauseTiming();
    input.clear();
    input.push_back(prepare());
    settleAllocator();
    state.ResumeTiming();
    body(input.back());
    benchmark::ClobberMemory();
  }
  input.clear();  // after the loop: not timed
}

/// A model, read by the first benchmark that runs on it (a filter may select none). Each fresh
/// copy is loaded from an in-memory copy of the file: Module::clone() would add the clone's
/// methods to the shared CompilationUnit for good (memory grows with every iteration), and a
/// copy that shares functions would hand LibTorch's Inline the optimized graphs it cached on
/// an earlier iteration.
class Model {
 public:
  explicit Model(std::string path) : path_(std::move(path)) {}
  Module fresh() {
    if (bytes_.empty()) {
      std::ifstream in(path_, std::ios::binary);
      bytes_.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::istringstream in(bytes_);
    Module m = torch::jit::load(in);
    m.eval();
    return m;
  }
  Module inlined() {
    Module m = fresh();
    tsopt::inlineCalls(*forward(m), {}, nullptr);
    return m;
  }
  std::shared_ptr<torch::jit::Graph> inlinedGraph() {
    if (!inlinedGraph_) {
      Module m = inlined();
      inlinedGraph_ = forward(m)->copy();
    }
    return inlinedGraph_->copy();
  }

 private:
  std::string path_, bytes_;
  std::shared_ptr<torch::jit::Graph> inlinedGraph_;
};

size_t walk(const torch::jit::Block* b) {
  size_t sum = 0;
  for (const torch::jit::Node* n : b->nodes()) {
    sum += n->kind();
    for (const torch::jit::Value* v : n->inputs()) sum += v->unique();
    for (const torch::jit::Value* v : n->outputs()) sum += v->unique();
    for (const torch::jit::Block* inner : n->blocks()) sum += walk(inner);
  }
  return sum;
}

void registerModel(const std::string& path, const std::string& name) {
  auto model = std::make_shared<Model>(path);
  auto fresh = [model] { return model->fresh(); };
  auto inlined = [model] { return model->inlined(); };
  auto graphCopy = [model] { return model->inlinedGraph(); };

  benchmark::RegisterBenchmark(("inline/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { tsopt::inlineCalls(*forward(m), {}, nullptr); });
  });
  benchmark::RegisterBenchmark(("inline/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { torch::jit::Inline(*forward(m)); });
  });

  benchmark::RegisterBenchmark(("dce/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { tsopt::eliminateDeadCode(*g, nullptr); });
  });
  benchmark::RegisterBenchmark(("dce/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { torch::jit::EliminateDeadCode(g); });
  });

  // The least any pass over the whole graph does: visit every node and read its kind and the
  // ids of its inputs and outputs. On graphs larger than the caches its time grows faster than
  // the graph (nodes, values and their vectors are separate heap objects), whatever the pass.
  benchmark::RegisterBenchmark(("walk/floor/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { benchmark::DoNotOptimize(walk(g->block())); });
  });

  // The check after every pass: ours (linear) against LibTorch's Graph::lint().
  benchmark::RegisterBenchmark(("check/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { benchmark::DoNotOptimize(tsopt::findGraphDefect(*g)); });
  });
  benchmark::RegisterBenchmark(("check/lint/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { g->lint(); });
  });

  benchmark::RegisterBenchmark(("fold-conv-bn/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    Statistics stats;
    timed(s, inlined, [&](Module& m) { tsopt::foldConvBatchNorm(m, *forward(m), &stats); });
  });
  benchmark::RegisterBenchmark(("fold-conv-bn/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { benchmark::DoNotOptimize(torch::jit::FoldConvBatchNorm(m)); });
  });
  benchmark::RegisterBenchmark(
      ("fold-conv-bn/edit-floor/" + name).c_str(),
      [=](benchmark::State& s) {
        // The IR and module edits any fold of these BatchNorms must make through LibTorch's API,
        // with nothing resolved and nothing computed: per BatchNorm, two new parameters on a
        // holder submodule (as many to a holder as our pass puts), a GetAttr for each, the
        // producer's weight and bias re-pointed to them, and the BatchNorm removed. Traced models
        // only (the BatchNorms that follow an aten::_convolution); the new tensors are made
        // untimed.
        struct Fold {
          torch::jit::Node *bn, *producer;
          at::Tensor weight, bias;
        };
        auto prepare = [model] {
          auto m = std::make_shared<Module>(model->inlined());
          std::vector<Fold> folds;
          for (torch::jit::Node* n : forward(*m)->nodes()) {
            if (n->kind() != c10::aten::batch_norm) continue;
            torch::jit::Node* producer = n->input(0)->node();
            if (producer->kind() == c10::aten::_convolution) {
              folds.push_back({n, producer, at::empty({1}), at::empty({1})});
            }
          }
          return std::make_pair(m, folds);
        };
        timed(s, prepare, [](auto& input) {
          Module& m = *input.first;
          torch::jit::Graph& g = *forward(m);
          Module holder;
          torch::jit::Value* holderValue = nullptr;
          for (size_t i = 0; i < input.second.size(); ++i) {
            const Fold& f = input.second[i];
            if (i % (tsopt::kFoldedParametersPerHolder / 2) == 0) {  // two parameters a fold
              std::string name = "_edit_floor_" + std::to_string(i);
              holder = Module(c10::QualifiedName("__torch__.tsopt_bench.Holder"),
                              m._ivalue()->compilation_unit(), /*shouldMangle=*/true);
              m.register_module(name, holder);
              torch::jit::WithInsertPoint guard(g.block()->nodes().front());
              holderValue = g.insertGetAttr(g.inputs()[0], name);
            }
            std::string base = "p" + std::to_string(i);
            holder.register_parameter(base + "_weight", f.weight, /*is_buffer=*/false);
            holder.register_parameter(base + "_bias", f.bias, /*is_buffer=*/false);
            torch::jit::WithInsertPoint guard(f.producer);
            f.producer->replaceInput(1, g.insertGetAttr(holderValue, base + "_weight"));
            f.producer->replaceInput(2, g.insertGetAttr(holderValue, base + "_bias"));
            f.bn->output()->replaceAllUsesWith(f.bn->input(0));
            f.bn->destroy();
          }
        });
      })
      // A fixed count: the edits take microseconds on some models while each iteration reloads
      // the model untimed, so growing the count to fill --benchmark_min_time would load VGG
      // thousands of times.
      ->Iterations(20);
  benchmark::RegisterBenchmark(("fold-conv-bn/floor/" + name).c_str(), [=](benchmark::State& s) {
    // The same arithmetic as the fold: one per-channel multiplication over each weight our
    // pass folds (taken from a folded clone: same shapes, same count), into memory obtained as
    // the pass obtains it (tsopt::emptyPrefaulted: large results are mapped in one call).
    Module m = inlined();
    Statistics stats;
    tsopt::foldConvBatchNorm(m, *forward(m), &stats);
    std::vector<std::pair<at::Tensor, at::Tensor>> work;
    for (const auto& p : m.named_parameters()) {
      if (p.name.rfind("_tsopt_folded", 0) != 0 || p.value.dim() < 2) continue;
      std::vector<int64_t> shape(p.value.dim(), 1);
      shape[0] = p.value.size(0);
      work.emplace_back(p.value, at::rand({p.value.size(0)}).view(shape));
    }
    // The folded weights must outlive the fold (the old ones are never overwritten), so they
    // are kept until the iteration ends, and freed untimed, as the passes' results are. The
    // weights read are fresh copies, made untimed, as the pass reads a freshly loaded model's:
    // reading the same tensors every iteration made the floor up to 1.3x faster (ResNet-18).
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> folded, sources;
    for (auto _ : s) {
      s.PauseTiming();
      folded.clear();
      folded.reserve(work.size());
      sources.clear();
      for (auto& [w, scale] : work) sources.push_back(w.clone());
      settleAllocator();
      s.ResumeTiming();
      for (size_t i = 0; i < work.size(); ++i) {
        at::Tensor out = tsopt::emptyPrefaulted(sources[i].sizes(), sources[i].options());
        folded.push_back(at::mul_out(out, sources[i], work[i].second));
      }
      benchmark::ClobberMemory();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  // A fixed threshold: every tensor above 128 KiB is fresh memory from the kernel, as in a new
  // process, whatever earlier benchmarks allocated and freed (glibc otherwise raises the
  // threshold as large blocks are freed, and times then depend on the order of benchmarks).
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  benchmark::Initialize(&argc, argv);
  // What is left after Google Benchmark's flags: model files, or folders of them.
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path arg(argv[i]);
    if (!std::filesystem::is_directory(arg)) {
      files.push_back(arg);
      continue;
    }
    for (const auto& e : std::filesystem::directory_iterator(arg)) {
      if (e.path().extension() == ".pt") files.push_back(e.path());
    }
  }
  if (files.empty()) {
    std::cerr << "usage: tsopt_bench [--benchmark_...] MODEL.pt|DIR... (see "
                 "bench/make_bench_models.py)\n";
    return 2;
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) registerModel(f.string(), f.stem().string());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
