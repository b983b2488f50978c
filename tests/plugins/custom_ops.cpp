// Test operator library: registers tsopt_test::double_it, as an operator library outside LibTorch
// does (torchvision's, torchaudio's). Models that call it load only once it is loaded. Also
// tsopt_test::call_count, which is not deterministic in a way no seed controls: it adds the
// number of times it has been called.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <atomic>

namespace {

at::Tensor doubleIt(const at::Tensor& x) { return x * 2; }

at::Tensor callCount(const at::Tensor& x) {
  static std::atomic<int64_t> calls{0};
  return x + static_cast<double>(++calls);
}

}  // namespace

TORCH_LIBRARY(tsopt_test, m) {
  m.def("double_it(Tensor x) -> Tensor", doubleIt);
  m.def("call_count(Tensor x) -> Tensor", callCount);
}
