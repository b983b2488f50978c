// Copies of live modules made in memory: what a run works on when it is handed a module rather
// than a file, without the cost of a round trip through the module's archive.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>

namespace tsopt {

/// What a copy does with the tensors.
enum class TensorCopies {
  kCopied,  ///< copies them
  /// Shares them with the module copied: for work that replaces tensors but never writes into
  /// one (tsopt's built-in passes), where copying weights that a fold replaces would cost more
  /// than the passes. ownTensors then copies those the result still shares.
  kShared,
};

/// A copy of `module` that shares nothing a pass can change with it: its module classes are
/// new classes of the same names (not mangled, as Module::clone mangles them) in a compilation
/// unit of the copy's own, their methods' graphs are copies with shapes erased (a traced
/// graph's recorded shapes, to which passes must not specialize), and its tensors are copies
/// (unless `tensors` says to share them) that keep which tensors share storage, their requires_grad
/// and their module's parameter and buffer marks. Classes that are not modules, and functions the
/// methods call, are shared, as they are by Module::clone. Throws tsopt::Error for a module it
/// cannot copy.
torch::jit::Module copyModule(const torch::jit::Module& module,
                              TensorCopies tensors = TensorCopies::kCopied);

/// Gives `copy` its own copy of every tensor (in its modules' attributes and graph constants)
/// that it shares with `source`: a kShared copy made independent once its passes have run.
void ownTensors(const torch::jit::Module& copy, const torch::jit::Module& source);

/// The bytes of the distinct tensor storages `module` holds (its weights, buffers and constants,
/// each shared storage counted once): nearly all of its archive's size, known without saving it.
uint64_t tensorBytes(const torch::jit::Module& module);

/// An uninitialised CPU tensor whose pages are already mapped when it is at least 128 KiB: its
/// own mmap with MAP_POPULATE, which maps the pages in one call instead of taking a page fault on
/// each first write (about 30% of the time of writing a folded weight into fresh memory here).
/// Smaller tensors come from at::empty, usually out of memory the allocator already has.
at::Tensor emptyPrefaulted(at::IntArrayRef sizes, const at::TensorOptions& options);

}  // namespace tsopt
