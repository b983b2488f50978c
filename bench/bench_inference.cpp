// Inference time of a model three ways, in one process: as loaded, after LibTorch's
// optimize_for_inference (in memory: its result cannot be saved), and after `tsopt run -O2`
// (saved, then loaded from disk as a user would). Batch 1, 3x224x224, 2 threads, no autograd.
// Before timing, each variant's output is checked against the original's.
// `--pipeline=LABEL=PIPELINE` (repeatable) times the result of another pipeline as well, saved
// and loaded the same way, under `infer/tsopt-LABEL/MODEL`.
// docs/performance.md gives the command line and the figures it measured.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/script.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"

namespace {

using torch::jit::Module;

/// A pipeline to time, and the label its results are timed under.
struct Pipeline {
  std::string label, text;
};

/// The model at `path` after `pipeline`, saved to `scratch` and loaded back.
Module optimized(const std::string& path, const std::string& pipeline,
                 const std::filesystem::path& scratch) {
  Module m = tsopt::loadModule(path);
  m.eval();
  tsopt::PassManager pm(tsopt::parsePipeline(pipeline));
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
                   const std::vector<Pipeline>& pipelines, const std::filesystem::path& scratch) {
  Module original = tsopt::loadModule(path);
  original.eval();
  Module copy = tsopt::loadModule(path);
  copy.eval();
  std::vector<std::pair<std::string, Module>> variants = {
      {"original", original}, {"optimize_for_inference", torch::jit::optimize_for_inference(copy)}};
  for (const Pipeline& p : pipelines) {
    variants.emplace_back("tsopt-" + p.label,
                          optimized(path, p.text, scratch / (name + "." + p.label + ".pt")));
  }
  auto input = std::make_shared<at::Tensor>(at::rand({1, 3, 224, 224}));
  at::NoGradGuard noGrad;
  at::Tensor reference = original.forward({*input}).toTensor();
  for (auto& [who, module] : variants) {
    if (who != "original") expectClose(module, *input, reference, name + " after " + who);
    auto m = std::make_shared<Module>(module);
    benchmark::RegisterBenchmark(("infer/" + who + "/" + name).c_str(),
                                 [m, input](benchmark::State& s) {
                                   at::NoGradGuard noGrad;
                                   std::vector<c10::IValue> inputs{*input};
                                   for (auto _ : s) benchmark::DoNotOptimize(m->forward(inputs));
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
    std::vector<Pipeline> pipelines = {{"O2", tsopt::findPreset("O2").pipeline}};
    std::vector<std::string> models;
    const std::string flag = "--pipeline=";
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind(flag, 0) != 0) {
        models.push_back(arg);
        continue;
      }
      size_t eq = arg.find('=', flag.size());
      if (eq == std::string::npos) throw std::runtime_error("expected --pipeline=LABEL=PIPELINE");
      pipelines.push_back({arg.substr(flag.size(), eq - flag.size()), arg.substr(eq + 1)});
    }
    if (models.empty()) {
      throw std::runtime_error(
          "usage: tsopt_bench_inference MODEL.pt... "
          "[--pipeline=LABEL=PIPELINE]... [benchmark flags]");
    }
    for (const std::string& path : models) {
      registerModel(path, std::filesystem::path(path).stem().string(), pipelines, scratch);
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
