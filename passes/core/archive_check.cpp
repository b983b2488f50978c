// Checks a TorchScript archive before LibTorch reads it: its zip structure, every entry's CRC-32,
// what its compressed entries unpack to, and the storages and tensors its pickles describe.
// LibTorch 1.13 does not check CRCs: a 2-byte corruption of a compressed code record made its
// unpickler allocate 1.6 GB (found by tests/fuzz/fuzz_load_model.cpp). Memory stays bounded here:
// entries are inflated in chunks and only their checksums are kept.
#include "passes/core/archive_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "passes/core/error.h"
#include "passes/core/pickle.h"
#include "passes/core/source_depth.h"

namespace tsopt {

namespace {

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Bytes per element of a storage class LibTorch's unpickler knows ("torch FloatStorage"); 0 for
/// any other name.
uint64_t storageItemSize(const std::string& global) {
  static const std::map<std::string, uint64_t> sizes = {
      {"FloatStorage", 4},       {"DoubleStorage", 8},       {"HalfStorage", 2},
      {"BFloat16Storage", 2},    {"LongStorage", 8},         {"IntStorage", 4},
      {"ShortStorage", 2},       {"CharStorage", 1},         {"ByteStorage", 1},
      {"BoolStorage", 1},        {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
      {"ComplexHalfStorage", 4}, {"QInt8Storage", 1},        {"QUInt8Storage", 1},
      {"QInt32Storage", 4},      {"QUInt4x2Storage", 1},     {"QUInt2x4Storage", 1}};
  const std::string prefix = "torch ";
  if (global.rfind(prefix, 0) != 0) return 0;
  auto it = sizes.find(global.substr(prefix.size()));
  return it == sizes.end() ? 0 : it->second;
}

/// Deeper code is refused; LibTorch 1.13 crashed at 20,000 and compiled 1,000 of each kind of
/// nesting (tests/hostile/make_hostile.py makes both). tsopt's zoo and fixtures (4,191 code
/// records) nest at most 20.
constexpr int kMaxSourceDepth = 500;

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool isCode(const std::string& name) {
  return name.find("/code/") != std::string::npos && endsWith(name, ".py");
}

bool isPickle(const std::string& name) {
  return endsWith(name, ".pkl") || endsWith(name, ".debug_pkl");
}

std::string megabytes(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

uint64_t& limitStorage() {
  static uint64_t limit = uint64_t{512} << 20;
  return limit;
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
    std::vector<Entry> all;
    for (uint64_t e = 0; e < entries; ++e) {
      all.push_back(readEntry(at));
      at = all.back().next;
    }
    // Before inflating anything: what the compressed records declare they unpack to.
    uint64_t inflated = 0;
    for (const Entry& entry : all) {
      if (!entry.deflated) continue;
      if (entry.uncompressed > inflateLimit() - inflated) {
        throw ArchiveOverLimit("its compressed records unpack to more than " +
                                   megabytes(inflateLimit()) + " (a zip bomb?); raise the limit",
                               Setting::kInflateLimit);
      }
      inflated += entry.uncompressed;
    }
    // One read of each entry: its CRC, and the bytes of those whose contents are checked next.
    std::vector<std::string> kept(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      const Entry& entry = all[i];
      const bool keep = isCode(entry.name) || isPickle(entry.name);
      uLong crc = crc32(0L, Z_NULL, 0);
      unpack(entry, [&](const unsigned char* p, uint64_t n) {
        crc = crc32(crc, p, static_cast<uInt>(n));
        if (keep) kept[i].append(reinterpret_cast<const char*>(p), n);
      });
      if (crc != entry.crc) fail("'" + entry.name + "' is corrupt (its checksum does not match)");
    }
    checkContents(all, kept);
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

  struct Entry {
    std::string name;
    uint64_t data = 0, compressed = 0, uncompressed = 0, crc = 0, next = 0;
    bool deflated = false;
  };

  /// Reads and checks the central-directory entry at `at` and its local header.
  Entry readEntry(uint64_t at) {
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
    return {name,         data, compressed,
            uncompressed, crc,  at + 46 + nameLen + extraLen + commentLen,
            method == 8};
  }

  /// Gives `sink` the entry's bytes, a chunk at a time (memory stays bounded).
  void unpack(const Entry& entry, const std::function<void(const unsigned char*, uint64_t)>& sink) {
    constexpr uint64_t kChunk = 1 << 20;
    const std::string& name = entry.name;
    const uint64_t data = entry.data, compressed = entry.compressed;
    const uint64_t uncompressed = entry.uncompressed;
    const bool deflated = entry.deflated;
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
        sink(in.data(), n);
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
        sink(out.data(), got);
        if (status == Z_STREAM_END || (z.avail_in == 0 && z.avail_out != 0)) break;
      }
    }
    if (deflated) {
      inflateEnd(&z);
      if (status != Z_STREAM_END || produced != uncompressed) {
        fail("'" + name + "' is corrupt (truncated compressed data)");
      }
    }
  }

  /// What LibTorch will read of the archive's records:
  /// - the storages and tensors that its pickles (P/data.pkl, P/constants.pkl) make of its
  ///   records (P/data/KEY, P/constants/KEY): LibTorch's unpickler takes a storage's size from
  ///   the pickle, not from the record, and a tensor's offset, sizes and strides without looking
  ///   at its storage, so a lying pickle reads past the end of the heap block;
  /// - every other pickle (the code's .debug_pkl source ranges), run for its structure alone;
  /// - how deeply the code nests: LibTorch compiles it recursively, and code nested some ten
  ///   thousand deep overflows its stack.
  /// `contents[i]` holds the bytes of all[i] when it is code or a pickle.
  static void checkContents(const std::vector<Entry>& all,
                            const std::vector<std::string>& contents) {
    std::map<std::string, uint64_t> recordSizes;
    for (const Entry& entry : all) recordSizes[entry.name] = entry.uncompressed;
    for (size_t i = 0; i < all.size(); ++i) {
      const std::string& name = all[i].name;
      if (isCode(name)) {
        const int depth = sourceNestingDepth(contents[i]);
        if (depth > kMaxSourceDepth) {
          throw ArchiveOverLimit("'" + name + "' nests code " + std::to_string(depth) +
                                 " deep, more than LibTorch's compiler can take (" +
                                 std::to_string(kMaxSourceDepth) + ")");
        }
        continue;
      }
      if (!isPickle(name)) continue;
      // Tensors are read from P/data/ for P/data.pkl, from P/constants/ for P/constants.pkl.
      std::string tensorDir;
      for (const std::string kind : {"data", "constants"}) {
        if (name == kind + ".pkl" || endsWith(name, "/" + kind + ".pkl")) {
          tensorDir = name.substr(0, name.size() - 4) + "/";
        }
      }
      try {
        checkPickle(contents[i], tensorDir, recordSizes);
      } catch (const Error& e) {
        throw DamagedArchive("'" + name + "' " + e.what());
      }
    }
  }

  static void checkPickle(const std::string& bytes, const std::string& dir,
                          const std::map<std::string, uint64_t>& recordSizes) {
    using Kind = PickleValue::Kind;
    // Each storage's record and element count, checked as its persistent id is read.
    struct Storage {
      std::string record;
      uint64_t elements;
    };
    auto storageOf = [&](const PickleValue& id) -> Storage {
      const auto& f = id.items;
      if (id.kind != Kind::kTuple || f.size() != 5 || f[0]->kind != Kind::kString ||
          f[0]->text != "storage") {
        throw Error("reads a persistent id that is not a storage");
      }
      if (f[1]->kind != Kind::kGlobal || storageItemSize(f[1]->text) == 0) {
        throw Error("reads a storage of unknown type '" + f[1]->text + "'");
      }
      if (f[2]->kind != Kind::kString || f[4]->kind != Kind::kInt || f[4]->integer < 0) {
        throw Error("reads a storage whose key or size is malformed");
      }
      const std::string record = dir + f[2]->text;
      auto it = recordSizes.find(record);
      if (it == recordSizes.end())
        throw Error("reads a storage from record '" + record + "', which the archive lacks");
      uint64_t elements = static_cast<uint64_t>(f[4]->integer), bytes = 0;
      if (__builtin_mul_overflow(elements, storageItemSize(f[1]->text), &bytes) ||
          bytes > it->second) {
        throw Error("reads storage '" + record + "' as " + std::to_string(elements) +
                    " elements of " + std::to_string(storageItemSize(f[1]->text)) +
                    " bytes, but its record holds " + std::to_string(it->second) + " bytes");
      }
      return {record, elements};
    };
    PickleHooks hooks;
    if (dir.empty()) {  // a pickle LibTorch reads no tensors for
      runPickle(bytes, hooks);
      return;
    }
    hooks.persistentId = [&](const PickleValue& id) { storageOf(id); };
    hooks.call = [&](const PickleValue& callable, const PickleValue& args) {
      static const std::set<std::string> rebuilds = {"torch._utils _rebuild_tensor",
                                                     "torch._utils _rebuild_tensor_v2",
                                                     "torch._utils _rebuild_qtensor"};
      if (callable.kind != Kind::kGlobal || !rebuilds.count(callable.text)) return;
      const auto& a = args.items;
      if (args.kind != Kind::kTuple || a.size() < 4 || a[0]->kind != Kind::kPersistent) {
        throw Error("makes a tensor of malformed arguments");
      }
      checkTensor(storageOf(*a[0]->items[0]), *a[1], *a[2], *a[3]);
    };
    runPickle(bytes, hooks);
  }

  template <typename Storage>
  static void checkTensor(const Storage& storage, const PickleValue& offset,
                          const PickleValue& sizes, const PickleValue& strides) {
    using Kind = PickleValue::Kind;
    const std::string shown = "makes a tensor (sizes " + describeIntTuple(sizes) + ", strides " +
                              describeIntTuple(strides) + ", offset " +
                              (offset.kind == Kind::kInt ? std::to_string(offset.integer) : "?") +
                              ")";
    bool wellFormed = offset.kind == Kind::kInt && offset.integer >= 0 &&
                      sizes.kind == Kind::kTuple && strides.kind == Kind::kTuple &&
                      sizes.items.size() == strides.items.size();
    for (size_t d = 0; wellFormed && d < sizes.items.size(); ++d) {
      wellFormed = sizes.items[d]->kind == Kind::kInt && sizes.items[d]->integer >= 0 &&
                   strides.items[d]->kind == Kind::kInt && strides.items[d]->integer >= 0;
    }
    if (!wellFormed) throw Error(shown + " with a malformed or negative offset, size or stride");
    // The last element it reads: offset + sum((size - 1) * stride); none when a size is 0.
    int64_t last = offset.integer, numel = 1;
    bool overflow = false;
    for (size_t d = 0; d < sizes.items.size(); ++d) {
      int64_t size = sizes.items[d]->integer, reach = 0;
      if (size == 0) return;
      overflow |= __builtin_mul_overflow(size - 1, strides.items[d]->integer, &reach) ||
                  __builtin_add_overflow(last, reach, &last) ||
                  __builtin_mul_overflow(numel, size, &numel);
    }
    if (overflow || static_cast<uint64_t>(last) >= storage.elements) {
      throw Error(shown + " that reaches past the end of its storage '" + storage.record + "' (" +
                  std::to_string(storage.elements) + " elements)");
    }
  }

  const ArchiveReader& read_;
};

}  // namespace

void checkArchive(const ArchiveReader& reader) { ArchiveChecker(reader).check(); }

void checkArchive(const ArchiveReader& reader, const std::string& what) {
  try {
    checkArchive(reader);
  } catch (const DamagedArchive& e) {
    throw Error(what + ": " + e.what() + "; the file is damaged");
  } catch (const ArchiveOverLimit& e) {
    throw Error(what + ": " + e.what(), e.setting());
  } catch (const Error& e) {
    throw Error(what + ": not a TorchScript archive (" + e.what() + ")");
  }
}

ArchiveReader memoryReader(std::string_view bytes) {
  return {[bytes] { return static_cast<uint64_t>(bytes.size()); },
          [bytes](uint64_t offset, char* out, uint64_t n) {
            std::memcpy(out, bytes.data() + offset, n);
            return true;
          }};
}

void setInflateLimit(uint64_t bytes) { limitStorage() = bytes; }

uint64_t inflateLimit() { return limitStorage(); }

}  // namespace tsopt
