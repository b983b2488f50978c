// Our inline, dce and fold-conv-bn against LibTorch's Inline, EliminateDeadCode and
// FoldConvBatchNorm, in one process, on every model in TSOPT_BENCH_MODELS (see
// make_bench_models.py), plus fold-conv-bn's floor: the bare arithmetic of folding, one
// multiplication over every folded weight. Each iteration works on a fresh clone of the module
// (cloning is not timed), so no pass profits from caches another run left behind.
#include <benchmark/benchmark.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <filesystem>
#include <iostream>

#include "passes/builtin/builtin.h"
#include "passes/core/module_io.h"

namespace {

using torch::jit::Module;
using tsopt::Statistics;

std::shared_ptr<torch::jit::Graph> forward(Module& m) { return m.get_method("forward").graph(); }

/// Runs `prepare` untimed and `body` timed, once per iteration; the previous iteration's input
/// is destroyed untimed too (freeing a model's weights is not part of any pass).
template <typename Prepare, typename Body>
void timed(benchmark::State& state, Prepare prepare, Body body) {
  std::vector<decltype(prepare())> input;  // holds at most one
  for (auto _ : state) {
    state.PauseTiming();
    input.clear();
    input.push_back(prepare());
    state.ResumeTiming();
    body(input.back());
    benchmark::ClobberMemory();
  }
  input.clear();  // after the loop: not timed
}

void registerModel(const std::string& path, const std::string& name) {
  auto base = std::make_shared<Module>(tsopt::loadModule(path));
  base->eval();
  auto fresh = [base] { return base->clone(); };
  auto inlined = [base] {
    Module m = base->clone();
    tsopt::inlineCalls(*forward(m), {}, nullptr);
    return m;
  };

  benchmark::RegisterBenchmark(("inline/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { tsopt::inlineCalls(*forward(m), {}, nullptr); });
  });
  benchmark::RegisterBenchmark(("inline/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { torch::jit::Inline(*forward(m)); });
  });

  std::shared_ptr<torch::jit::Graph> inlinedGraph = [&] {
    Module m = inlined();
    return forward(m)->copy();
  }();
  auto graphCopy = [inlinedGraph] { return inlinedGraph->copy(); };
  benchmark::RegisterBenchmark(("dce/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { tsopt::eliminateDeadCode(*g, nullptr); });
  });
  benchmark::RegisterBenchmark(("dce/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, graphCopy, [](auto& g) { torch::jit::EliminateDeadCode(g); });
  });

  benchmark::RegisterBenchmark(("fold-conv-bn/tsopt/" + name).c_str(), [=](benchmark::State& s) {
    Statistics stats;
    timed(s, inlined, [&](Module& m) { tsopt::foldConvBatchNorm(m, *forward(m), &stats); });
  });
  benchmark::RegisterBenchmark(("fold-conv-bn/torch/" + name).c_str(), [=](benchmark::State& s) {
    timed(s, fresh, [](Module& m) { benchmark::DoNotOptimize(torch::jit::FoldConvBatchNorm(m)); });
  });
  benchmark::RegisterBenchmark(("fold-conv-bn/floor/" + name).c_str(), [=](benchmark::State& s) {
    // The same arithmetic as the fold: one per-channel multiplication over each weight our
    // pass folds (taken from a folded clone: same shapes, same count).
    Module m = inlined();
    Statistics stats;
    tsopt::foldConvBatchNorm(m, *forward(m), &stats);
    std::vector<std::pair<at::Tensor, at::Tensor>> work;
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (p.name.rfind("_tsopt_folded_", 0) != 0 || p.value.dim() < 2) continue;
      std::vector<int64_t> shape(p.value.dim(), 1);
      shape[0] = p.value.size(0);
      work.emplace_back(p.value, at::rand({p.value.size(0)}).view(shape));
    }
    // The folded weights must outlive the fold (the old ones are never overwritten), so they
    // are kept until the iteration ends, and freed untimed, as the passes' results are.
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> folded;
    for (auto _ : s) {
      s.PauseTiming();
      folded.clear();
      folded.reserve(work.size());
      s.ResumeTiming();
      for (auto& [w, scale] : work) folded.push_back(w * scale);
      benchmark::ClobberMemory();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const char* dir = std::getenv("TSOPT_BENCH_MODELS");
  if (!dir) {
    std::cerr << "set TSOPT_BENCH_MODELS to a folder made by bench/make_bench_models.py\n";
    return 2;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".pt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) registerModel(f.string(), f.stem().string());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
