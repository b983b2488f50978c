// Test operator library: registers tsopt_test::double_it, as an operator library outside LibTorch
// does (torchvision's, torchaudio's). Models that call it load only once it is loaded.
#include <ATen/ATen.h>
#include <torch/library.h>

namespace {

at::Tensor doubleIt(const at::Tensor& x) { return x * 2; }

}  // namespace

TORCH_LIBRARY(tsopt_test, m) { m.def("double_it(Tensor x) -> Tensor", doubleIt); }
