// An operator library whose registration fails: it claims the aten namespace, which LibTorch has
// registered already. TORCH_LIBRARY throws from a static initialiser, while the library loads.
#include <torch/library.h>

TORCH_LIBRARY(aten, m) {}
