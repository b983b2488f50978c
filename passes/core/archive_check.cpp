// Checks a TorchScript archive's zip structure and every entry's CRC-32 before LibTorch reads it.
// LibTorch 1.13 does not check CRCs: a 2-byte corruption of a compressed code record made its
// unpickler allocate 1.6 GB (found by tests/fuzz/fuzz_load_model.cpp). Memory stays bounded here:
// entries are inflated in chunks and only their checksums are kept.
#include "passes/core/archive_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "passes/core/error.h"

namespace tsopt {

namespace {

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class ArchiveChecker {
 public:
  explicit ArchiveChecker(const ArchiveReader& read) : read_(read) {}

  void check() {
    uint64_t size = read_.size();
    if (size < 22) fail("too short for a zip file");
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    uint64_t tailSize = std::min<uint64_t>(size, 65557);
    std::vector<unsigned char> tail = bytes(size - tailSize, tailSize);
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(tailSize) - 22; i >= 0; --i) {
      if (le(&tail[i], 4) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail("no zip directory");
    uint64_t entries = le(&tail[eocd + 10], 2), cdOffset = le(&tail[eocd + 16], 4);
    if (entries == 0xFFFF || cdOffset == 0xFFFFFFFF) {
      // ZIP64: the locator sits right before the end record.
      if (eocd < 20 || le(&tail[eocd - 20], 4) != 0x07064b50) fail("bad zip64 locator");
      std::vector<unsigned char> z = bytes(le(&tail[eocd - 12], 8), 56);
      if (le(z.data(), 4) != 0x06064b50) fail("bad zip64 directory record");
      entries = le(&z[32], 8);
      cdOffset = le(&z[48], 8);
    }
    uint64_t at = cdOffset;
    for (uint64_t e = 0; e < entries; ++e) at = checkEntry(at);
  }

 private:
  [[noreturn]] static void fail(const std::string& why) { throw Error(why); }

  std::vector<unsigned char> bytes(uint64_t offset, uint64_t n) {
    if (offset > read_.size() || n > read_.size() - offset)
      fail("a zip record points past the end");
    std::vector<unsigned char> buf(n);
    if (n > 0 && !read_.read(offset, reinterpret_cast<char*>(buf.data()), n)) fail("read error");
    return buf;
  }

  /// Checks the central-directory entry at `at`; returns where the next one starts.
  uint64_t checkEntry(uint64_t at) {
    std::vector<unsigned char> h = bytes(at, 46);
    if (le(h.data(), 4) != 0x02014b50) fail("bad zip directory entry");
    uint64_t method = le(&h[10], 2), crc = le(&h[16], 4);
    uint64_t compressed = le(&h[20], 4), uncompressed = le(&h[24], 4);
    uint64_t nameLen = le(&h[28], 2), extraLen = le(&h[30], 2), commentLen = le(&h[32], 2);
    uint64_t local = le(&h[42], 4);
    std::vector<unsigned char> var = bytes(at + 46, nameLen + extraLen);
    std::string name(var.begin(), var.begin() + static_cast<int64_t>(nameLen));
    // ZIP64 sizes and offset, in this order, for each field saturated above.
    for (uint64_t x = nameLen; x + 4 <= var.size();) {
      uint64_t id = le(&var[x], 2), len = le(&var[x + 2], 2);
      if (id == 1) {
        uint64_t y = x + 4;
        for (uint64_t* field : {&uncompressed, &compressed, &local}) {
          if (*field != 0xFFFFFFFF) continue;
          if (y + 8 > var.size()) fail("bad zip64 field in '" + name + "'");
          *field = le(&var[y], 8);
          y += 8;
        }
      }
      x += 4 + len;
    }
    std::vector<unsigned char> lh = bytes(local, 30);
    if (le(lh.data(), 4) != 0x04034b50) fail("bad local header for '" + name + "'");
    uint64_t data = local + 30 + le(&lh[26], 2) + le(&lh[28], 2);
    if (data > read_.size() || compressed > read_.size() - data) {
      fail("'" + name + "' extends past the end of the file");
    }
    if (method != 0 && method != 8) fail("'" + name + "' uses an unknown compression method");
    if (method == 0 && compressed != uncompressed) fail("'" + name + "' has inconsistent sizes");
    if (entryCrc(data, compressed, method == 8, uncompressed, name) != crc) {
      fail("'" + name + "' is corrupt (its checksum does not match)");
    }
    return at + 46 + nameLen + extraLen + commentLen;
  }

  uint64_t entryCrc(uint64_t data, uint64_t compressed, bool deflated, uint64_t uncompressed,
                    const std::string& name) {
    constexpr uint64_t kChunk = 1 << 20;
    uLong crc = crc32(0L, Z_NULL, 0);
    z_stream z{};
    if (deflated && inflateInit2(&z, -MAX_WBITS) != Z_OK) fail("zlib failed");
    std::vector<unsigned char> out(deflated ? kChunk : 0);
    uint64_t produced = 0;
    int status = Z_OK;
    for (uint64_t done = 0; done < compressed && status != Z_STREAM_END;) {
      uint64_t n = std::min(kChunk, compressed - done);
      std::vector<unsigned char> in = bytes(data + done, n);
      done += n;
      if (!deflated) {
        crc = crc32(crc, in.data(), static_cast<uInt>(n));
        continue;
      }
      z.next_in = in.data();
      z.avail_in = static_cast<uInt>(n);
      while (true) {
        z.next_out = out.data();
        z.avail_out = static_cast<uInt>(out.size());
        status = inflate(&z, Z_NO_FLUSH);
        if (status == Z_BUF_ERROR) {  // no progress possible: needs the next chunk
          status = Z_OK;
          break;
        }
        if (status != Z_OK && status != Z_STREAM_END) {
          inflateEnd(&z);
          fail("'" + name + "' is corrupt (it does not decompress)");
        }
        uint64_t got = out.size() - z.avail_out;
        produced += got;
        if (produced > uncompressed) {
          inflateEnd(&z);
          fail("'" + name + "' decompresses to more than it declares");
        }
        crc = crc32(crc, out.data(), static_cast<uInt>(got));
        if (status == Z_STREAM_END || (z.avail_in == 0 && z.avail_out != 0)) break;
      }
    }
    if (deflated) {
      inflateEnd(&z);
      if (status != Z_STREAM_END || produced != uncompressed) {
        fail("'" + name + "' is corrupt (truncated compressed data)");
      }
    }
    return crc;
  }

  const ArchiveReader& read_;
};

}  // namespace

void checkArchive(const ArchiveReader& reader) { ArchiveChecker(reader).check(); }

}  // namespace tsopt
