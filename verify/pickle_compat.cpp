// APPEND -> MARK ... APPENDS: a walk over the pickle's opcodes that knows, for every object on
// the pickle machine's stack, the offset where the opcodes that make it begin.
#include "verify/pickle_compat.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace tsopt {

namespace {

enum class Effect {
  kNone,       // PROTO, BINPUT, ...
  kPush,       // a new object
  kMark,       // MARK
  kPopToMark,  // APPENDS, SETITEMS
  kMarkToOne,  // TUPLE, LIST, DICT: the objects since the mark become one
  kStop,
};

struct OpInfo {
  Effect effect;
  int pop = 0;          // objects taken (kNone/kPush with pop > 0: the result replaces them)
  int push = 0;         // 1 when objects taken become one object
  int argBytes = 0;     // fixed-size argument
  int lengthBytes = 0;  // argument prefixed by a little-endian length of this many bytes
  bool lines = false;   // GLOBAL: two newline-terminated strings
};

std::optional<OpInfo> opInfo(unsigned char op) {
  switch (op) {
    case 0x80:
      return OpInfo{Effect::kNone, 0, 0, 1};  // PROTO
    case 0x95:
      return OpInfo{Effect::kNone, 0, 0, 8};  // FRAME
    case 0x94:
      return OpInfo{Effect::kNone};  // MEMOIZE
    case 'q':
      return OpInfo{Effect::kNone, 0, 0, 1};  // BINPUT
    case 'r':
      return OpInfo{Effect::kNone, 0, 0, 4};  // LONG_BINPUT
    case '.':
      return OpInfo{Effect::kStop};  // STOP
    case '(':
      return OpInfo{Effect::kMark};  // MARK
    case ')':
    case ']':
    case '}':
    case 'N':
    case 0x88:
    case 0x89:
      return OpInfo{Effect::kPush};  // empty containers, constants
    case 'h':
      return OpInfo{Effect::kPush, 0, 0, 1};  // BINGET
    case 'j':
      return OpInfo{Effect::kPush, 0, 0, 4};  // LONG_BINGET
    case 'K':
      return OpInfo{Effect::kPush, 0, 0, 1};  // BININT1
    case 'M':
      return OpInfo{Effect::kPush, 0, 0, 2};  // BININT2
    case 'J':
      return OpInfo{Effect::kPush, 0, 0, 4};  // BININT
    case 'G':
      return OpInfo{Effect::kPush, 0, 0, 8};  // BINFLOAT
    case 0x8a:
      return OpInfo{Effect::kPush, 0, 0, 0, 1};  // LONG1
    case 'X':
      return OpInfo{Effect::kPush, 0, 0, 0, 4};  // BINUNICODE
    case 0x8c:
      return OpInfo{Effect::kPush, 0, 0, 0, 1};  // SHORT_BINUNICODE
    case 0x8d:
      return OpInfo{Effect::kPush, 0, 0, 0, 8};  // BINUNICODE8
    case 'B':
      return OpInfo{Effect::kPush, 0, 0, 0, 4};  // BINBYTES
    case 'C':
      return OpInfo{Effect::kPush, 0, 0, 0, 1};  // SHORT_BINBYTES
    case 'c':
      return OpInfo{Effect::kPush, 0, 0, 0, 0, true};  // GLOBAL
    case 0x85:
      return OpInfo{Effect::kNone, 1, 1};  // TUPLE1
    case 0x86:
      return OpInfo{Effect::kNone, 2, 1};  // TUPLE2
    case 0x87:
      return OpInfo{Effect::kNone, 3, 1};  // TUPLE3
    case 'Q':
      return OpInfo{Effect::kNone, 1, 1};  // BINPERSID
    case 'R':
      return OpInfo{Effect::kNone, 2, 1};  // REDUCE
    case 0x81:
      return OpInfo{Effect::kNone, 2, 1};  // NEWOBJ
    case 'b':
      return OpInfo{Effect::kNone, 1, 0};  // BUILD
    case 'a':
      return OpInfo{Effect::kNone, 1, 0};  // APPEND
    case 's':
      return OpInfo{Effect::kNone, 2, 0};  // SETITEM
    case 'e':
    case 'u':
      return OpInfo{Effect::kPopToMark};  // APPENDS, SETITEMS
    case 't':
    case 'l':
    case 'd':
      return OpInfo{Effect::kMarkToOne};  // TUPLE, LIST, DICT
    default:
      return std::nullopt;
  }
}

uint64_t littleEndian(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

std::string rewriteAppends(const std::string& pickle) {
  std::vector<size_t> starts;       // per stack object: where its opcodes begin
  std::vector<size_t> marks;        // per open mark: stack size then
  std::vector<size_t> markOffsets;  // per open mark: its offset
  std::vector<size_t> insertMarkAt, appendAt;
  size_t pos = 0;
  while (pos < pickle.size()) {
    const size_t at = pos;
    const unsigned char op = static_cast<unsigned char>(pickle[pos++]);
    std::optional<OpInfo> info = opInfo(op);
    if (!info) return pickle;
    if (info->lines) {
      for (int line = 0; line < 2; ++line) {
        pos = pickle.find('\n', pos);
        if (pos == std::string::npos) return pickle;
        ++pos;
      }
    }
    if (info->lengthBytes) {
      if (pos + info->lengthBytes > pickle.size()) return pickle;
      uint64_t n = littleEndian(pickle, pos, info->lengthBytes);
      pos += info->lengthBytes;
      if (n > pickle.size() - pos) return pickle;
      pos += n;
    }
    pos += info->argBytes;
    if (pos > pickle.size()) return pickle;
    switch (info->effect) {
      case Effect::kStop:
        pos = pickle.size();
        break;
      case Effect::kMark:
        marks.push_back(starts.size());
        markOffsets.push_back(at);
        break;
      case Effect::kPush:
        starts.push_back(at);
        break;
      case Effect::kPopToMark:
      case Effect::kMarkToOne: {
        if (marks.empty() || marks.back() > starts.size()) return pickle;
        starts.resize(marks.back());
        if (info->effect == Effect::kMarkToOne) starts.push_back(markOffsets.back());
        marks.pop_back();
        markOffsets.pop_back();
        break;
      }
      case Effect::kNone: {
        if (starts.size() < static_cast<size_t>(info->pop)) return pickle;
        if (!marks.empty() && starts.size() - info->pop < marks.back()) return pickle;
        if (op == 'a') {
          insertMarkAt.push_back(starts.back());
          appendAt.push_back(at);
        }
        size_t first = info->pop ? starts[starts.size() - info->pop] : 0;
        starts.resize(starts.size() - info->pop);
        if (info->push) starts.push_back(first);
        break;
      }
    }
  }
  if (appendAt.empty()) return pickle;
  // Insertions go in offset order; a MARK can precede an earlier APPEND's position.
  std::vector<std::pair<size_t, char>> edits;  // (offset, 0 = insert MARK, 1 = APPEND -> APPENDS)
  for (size_t i = 0; i < appendAt.size(); ++i) {
    edits.emplace_back(insertMarkAt[i], 0);
    edits.emplace_back(appendAt[i], 1);
  }
  std::sort(edits.begin(), edits.end());
  std::string out;
  out.reserve(pickle.size() + appendAt.size());
  size_t copied = 0;
  for (const auto& [offset, kind] : edits) {
    out.append(pickle, copied, offset - copied);
    copied = offset;
    if (kind == 0) {
      out.push_back('(');
    } else {
      out.push_back('e');
      ++copied;
    }
  }
  out.append(pickle, copied, std::string::npos);
  return out;
}

c10::IValue loadTorchSaved(const std::vector<char>& bytes) {
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_unique<caffe2::serialize::MemoryReadAdapter>(bytes.data(), bytes.size()));
  auto [data, size] = reader.getRecord("data.pkl");
  const std::string pickle =
      rewriteAppends(std::string(static_cast<const char*>(data.get()), size));
  size_t read = 0;
  auto readPickle = [&](char* buffer, size_t len) -> size_t {
    len = std::min(len, pickle.size() - read);
    std::memcpy(buffer, pickle.data() + read, len);
    read += len;
    return len;
  };
  auto readRecord = [&](const std::string& name) {
    return std::get<0>(reader.getRecord("data/" + name));
  };
  torch::jit::Unpickler unpickler(readPickle, nullptr, nullptr, readRecord, c10::nullopt);
  unpickler.set_version(reader.version());
  return unpickler.parse_ivalue();
}

}  // namespace tsopt
