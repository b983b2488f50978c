// The optimisation levels (-O0, -O1, -O2): pipelines of the built-in passes, registered with them.
#include "passes/core/registry.h"

namespace tsopt {
namespace {

void registerPresets(PassRegistry& r) {
  r.addPreset({"O0", "", "no passes: the model is loaded and saved"});
  r.addPreset({"O1", "inline,fold-conv-bn,fold-linear-bn,dce,strip",
               "our core passes: inline, fold BatchNorm into convolutions and linears, drop dead "
               "code, strip what no kept method reaches (the output is no larger than the input)"});
  r.addPreset({"O2",
               "torch-freeze,torch-remove-dropout,fold-conv-bn,fold-linear-bn,"
               "torch-fold-frozen-conv-add-or-sub,torch-fold-frozen-conv-mul-or-div,"
               "torch-constant-propagation,torch-cse,dce,transpose-frozen-linear,mkldnn-blocked,"
               "prepack-conv,strip",
               "for CPU inference of eval-mode models: freeze, fold, clean up, linears as matmuls "
               "with pre-transposed weights, oneDNN's blocked layout through regions of "
               "convolutions, prepacked oneDNN convolutions with ReLU fused elsewhere; the result "
               "saves and loads in plain PyTorch and LibTorch"});
  r.addPreset({"backport", "inline,backport,dce,strip",
               "for a model saved by PyTorch 2.x that must run on LibTorch 1.13: inline, write "
               "the 2.x-only operators with operators 1.13 has, drop dead code and what no kept "
               "method reaches (run it on a 2.x build, where the model loads)"});
}

// At static initialisation, like the passes' registrars: a failure is reported at start-up.
const bool kPresetsRegistered = [] {
  try {
    registerPresets(PassRegistry::global());
  } catch (const std::exception& e) {
    PassRegistry::global().addStaticError(e.what());
  }
  return true;
}();

}  // namespace
}  // namespace tsopt
