// Integrity checks for TorchScript archives, run before LibTorch parses them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "passes/core/error.h"

namespace tsopt {

/// The zip is sound but its pickles describe storages or tensors that its records cannot hold.
class DamagedArchive : public Error {
 public:
  using Error::Error;
};

/// The archive is sound but beyond what tsopt or LibTorch can take: its compressed entries unpack
/// to more than inflateLimit(), or its code nests too deep for LibTorch's compiler.
class ArchiveOverLimit : public Error {
 public:
  using Error::Error;
};

/// Random access to the bytes of an archive.
struct ArchiveReader {
  std::function<uint64_t()> size;
  /// Reads `n` bytes at `offset` into `out`; false on failure.
  std::function<bool(uint64_t offset, char* out, uint64_t n)> read;
};

/// Checks that the archive is a well-formed zip whose every entry lies inside the file and
/// matches its CRC-32 (deflated entries are inflated, in chunks, to check); that its compressed
/// entries declare no more than inflateLimit() bytes in all (checked before inflating any); and
/// that every storage its pickles name has a record that large and every tensor they make lies
/// inside its storage. Throws tsopt::Error saying what is wrong.
void checkArchive(const ArchiveReader& reader);

/// checkArchive, with its error phrased for a file: "WHAT: not a TorchScript archive (...)",
/// "WHAT: ...; the file is damaged" for a DamagedArchive, "WHAT: ..." for ArchiveOverLimit.
void checkArchive(const ArchiveReader& reader, const std::string& what);

/// A reader over bytes in memory (which must outlive it).
ArchiveReader memoryReader(std::string_view bytes);

/// The most bytes an archive's compressed entries may unpack to (512 MiB unless set): LibTorch
/// inflates each into memory, so a small file could otherwise take gigabytes.
void setInflateLimit(uint64_t bytes);
uint64_t inflateLimit();

}  // namespace tsopt
