// An operator library built against another LibTorch, as far as the loader can tell: it needs a
// c10 function this LibTorch does not define (a module may leave symbols undefined at link time).
#include <ATen/ATen.h>
#include <torch/library.h>

namespace c10::detail {
void onlyInAnotherLibTorch();
}  // namespace c10::detail

namespace {

at::Tensor identity(const at::Tensor& x) {
  c10::detail::onlyInAnotherLibTorch();
  return x;
}

}  // namespace

TORCH_LIBRARY(tsopt_other, m) { m.def("identity(Tensor x) -> Tensor", identity); }
