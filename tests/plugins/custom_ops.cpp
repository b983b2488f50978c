// Test operator library: registers tsopt_test::double_it, as an operator library outside LibTorch
// does (torchvision's, torchaudio's). Models that call it load only once it is loaded. Also
// tsopt_test::call_count, which is not deterministic in a way no seed controls: it adds the
// number of times it has been called. And tsopt_test::fault, a kernel that crashes (SIGSEGV), as a
// broken library's might in the middle of a run.
#include <ATen/ATen.h>
#include <signal.h>
#include <torch/library.h>

#include <atomic>

namespace {

at::Tensor doubleIt(const at::Tensor& x) { return x * 2; }

at::Tensor callCount(const at::Tensor& x) {
  static std::atomic<int64_t> calls{0};
  return x + static_cast<double>(++calls);
}

at::Tensor fault(const at::Tensor& x) {
  raise(SIGSEGV);
  return x;
}

}  // namespace

TORCH_LIBRARY(tsopt_test, m) {
  m.def("double_it(Tensor x) -> Tensor", doubleIt);
  m.def("call_count(Tensor x) -> Tensor", callCount);
  m.def("fault(Tensor x) -> Tensor", fault);
}
