// Reading files written by Python's torch.save with LibTorch 1.13's unpickler, which lacks one
// opcode Python's pickler emits: APPEND, used for every list of exactly one element
// (torch.save(([image],), FILE), the inputs of a detection model, fails with "Unknown opcode").
#pragma once

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace tsopt {

/// `pickle` with every APPEND rewritten as MARK before the appended object and APPENDS after
/// it, which LibTorch reads and which means the same. Returns the bytes unchanged when they hold
/// no APPEND or an opcode this rewriter does not know (LibTorch then reports what it reports).
std::string rewriteAppends(const std::string& pickle);

/// What torch.save wrote to `bytes` (a zip archive), read like torch::jit::pickle_load but
/// through rewriteAppends. Throws what LibTorch throws for anything it cannot read.
c10::IValue loadTorchSaved(const std::vector<char>& bytes);

}  // namespace tsopt
