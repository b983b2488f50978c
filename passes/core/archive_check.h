// Zip integrity check for TorchScript archives, run before LibTorch parses them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace tsopt {

/// Random access to the bytes of an archive.
struct ArchiveReader {
  std::function<uint64_t()> size;
  /// Reads `n` bytes at `offset` into `out`; false on failure.
  std::function<bool(uint64_t offset, char* out, uint64_t n)> read;
};

/// Checks that the archive is a well-formed zip whose every entry lies inside the file and
/// matches its CRC-32 (deflated entries are inflated, in chunks, to check). Throws tsopt::Error
/// saying what is wrong.
void checkArchive(const ArchiveReader& reader);

}  // namespace tsopt
