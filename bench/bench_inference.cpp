// Inference time of a model three ways, in one process: as loaded, after LibTorch's
// optimize_for_inference (in memory: its result cannot be saved), and after `tsopt run -O2`
// (saved, then loaded from disk as a user would). Batch 1, 3x224x224, 2 threads, no autograd.
// Before timing, each variant's output is checked against the original's.
// docs/performance.md gives the command line and the figures it measured.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/script.h>

#include <filesystem>
#include <iostream>

#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"

namespace {

using torch::jit::Module;

struct Variants {
  Module original, ofi, o2;
  at::Tensor input;
};

Module optimizeO2(const std::string& path, const std::filesystem::path& scratch) {
  Module m = tsopt::loadModule(path);
  m.eval();
  tsopt::PassManager pm(tsopt::parsePipeline(tsopt::findPreset("O2").pipeline));
  pm.run(m, {"forward"});
  tsopt::saveModuleAtomic(m, scratch.string());
  return tsopt::loadModule(scratch.string());
}

void expectClose(Module& m, const at::Tensor& input, const at::Tensor& reference,
                 const std::string& what) {
  at::Tensor out = m.forward({input}).toTensor();
  double err = (out - reference).abs().max().item<double>();
  double scale = reference.abs().max().item<double>();
  if (err > 1e-4 * std::max(scale, 1.0)) {
    throw std::runtime_error(what + " differs from the original: max abs diff " +
                             std::to_string(err));
  }
}

void registerModel(const std::string& path, const std::string& name,
                   const std::filesystem::path& scratch) {
  auto v = std::make_shared<Variants>();
  v->original = tsopt::loadModule(path);
  v->original.eval();
  Module copy = tsopt::loadModule(path);
  copy.eval();
  v->ofi = torch::jit::optimize_for_inference(copy);
  v->o2 = optimizeO2(path, scratch / (name + ".O2.pt"));
  v->input = at::rand({1, 3, 224, 224});
  at::NoGradGuard noGrad;
  at::Tensor reference = v->original.forward({v->input}).toTensor();
  expectClose(v->ofi, v->input, reference, name + " after optimize_for_inference");
  expectClose(v->o2, v->input, reference, name + " after -O2");

  for (auto [who, module] :
       {std::pair{"original", &v->original}, std::pair{"optimize_for_inference", &v->ofi},
        std::pair{"tsopt-O2", &v->o2}}) {
    benchmark::RegisterBenchmark(("infer/" + std::string(who) + "/" + name).c_str(),
                                 [v, module](benchmark::State& s) {
                                   at::NoGradGuard noGrad;
                                   std::vector<c10::IValue> inputs{v->input};
                                   for (auto _ : s)
                                     benchmark::DoNotOptimize(module->forward(inputs));
                                 })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  at::set_num_threads(2);
  at::manual_seed(0);
  std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / ("tsopt-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(scratch);
  int status = 0;
  try {
    if (argc < 2) throw std::runtime_error("usage: tsopt_bench_inference MODEL.pt... [flags]");
    for (int i = 1; i < argc; ++i) {
      std::string name = std::filesystem::path(argv[i]).stem().string();
      registerModel(argv[i], name, scratch);
    }
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::cerr << "tsopt_bench_inference: " << e.what() << "\n";
    status = 2;
  }
  std::filesystem::remove_all(scratch);
  benchmark::Shutdown();
  return status;
}
