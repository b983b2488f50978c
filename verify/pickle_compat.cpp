// APPEND -> MARK ... APPENDS: the pickle machine (passes/core/pickle.h) knows, for every object
// appended, the offset where the opcodes that make it begin.
#include "verify/pickle_compat.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cstring>

#include "passes/core/error.h"
#include "passes/core/pickle.h"

namespace tsopt {

std::string rewriteAppends(const std::string& pickle) {
  std::vector<size_t> insertMarkAt, appendAt;
  PickleHooks hooks;
  hooks.append = [&](size_t at, size_t itemStart) {
    insertMarkAt.push_back(itemStart);
    appendAt.push_back(at);
  };
  try {
    runPickle(pickle, hooks);
  } catch (const Error&) {
    return pickle;
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
