// A pickle machine that runs the records of a TorchScript archive (data.pkl, constants.pkl) or of
// a torch.save file far enough to see what LibTorch's unpickler would build: which storages it
// reads and which tensors it makes of them. LibTorch trusts both; tsopt checks them first
// (archive_check.cpp). No recursion: the nesting of the input cannot deepen the C++ stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tsopt {

/// An object the machine made, as much of it as the checks need: numbers, strings, globals and
/// tuples keep their contents; lists, dicts and built objects do not.
struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kBigInt,
    kFloat,
    kString,
    kBytes,
    kGlobal,
    kTuple,
    kList,
    kDict,
    kPersistent,
    kObject
  };
  Kind kind = Kind::kNone;
  int64_t integer = 0;                    // kInt, kBool
  std::string text;                       // kString, kGlobal ("module name")
  std::vector<const PickleValue*> items;  // kTuple; kPersistent: its id
  size_t index = 0;                       // in the order made
};

/// What the machine reports as it runs.
struct PickleHooks {
  /// A REDUCE or NEWOBJ of `callable` (a kGlobal, or anything else) with `args`.
  std::function<void(const PickleValue& callable, const PickleValue& args)> call;
  /// A BINPERSID of `id` (for a storage: ('storage', type, key, location, numel)).
  std::function<void(const PickleValue& id)> persistentId;
  /// An APPEND at offset `at` of an item whose opcodes start at `itemStart`.
  std::function<void(size_t at, size_t itemStart)> append;
};

/// Objects nested deeper than this are refused: LibTorch's unpickler builds them and frees
/// them recursively, so a pickle of a few megabytes could overflow its stack.
constexpr int kMaxPickleDepth = 1000;
/// A pickle making more objects than this is refused (memory stays proportional to it).
constexpr size_t kMaxPickleObjects = size_t{8} << 20;

/// Runs `bytes` to their STOP. Throws tsopt::Error ("is truncated (at byte N)") when they are
/// not a pickle of the opcodes LibTorch reads, are truncated or unbalanced, make an object that
/// contains itself, nest objects more than kMaxPickleDepth deep or make more than
/// kMaxPickleObjects.
void runPickle(std::string_view bytes, const PickleHooks& hooks);

/// "[3, 200]" for a tuple of integers; "?" for anything else.
std::string describeIntTuple(const PickleValue& tuple);

}  // namespace tsopt
