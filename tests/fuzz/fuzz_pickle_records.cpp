// Fuzz target: edits of a valid archive's data.pkl, in an archive whose zip and CRCs are sound,
// so every input reaches the pickle checks and LibTorch's unpickler rather than failing the
// CRC. The archive loads as a module or fails with a tsopt::Error; a module that loads is saved
// again, which reads every byte of every tensor (a tensor past its storage shows under ASan).
//
// The input is a list of 3-byte edits of the template's data.pkl: [kind and high bits of the
// position, low bits of the position, byte]; kind 0 overwrites, 1 inserts, 2 deletes, 3
// truncates there. No edits: the template itself, which must load.
#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "passes/core/error.h"
#include "passes/core/module_io.h"

namespace {

struct Template {
  std::vector<std::pair<std::string, std::string>> records;  // every record but data.pkl
  std::string pickle;                                        // data.pkl
};

/// A module with a weight, a strided buffer, a nested list and a submodule, saved once.
const Template& templateArchive() {
  static const Template t = [] {
    torch::jit::Module inner("Inner");
    inner.register_buffer("b", torch::arange(12, torch::kFloat).reshape({3, 4}).t());
    inner.define("def forward(self, x):\n  return x + self.b.sum()\n");
    torch::jit::Module m("Outer");
    m.register_parameter("w", torch::ones({4, 3}), false);
    m.register_attribute("sizes", c10::ListType::ofInts(), c10::List<int64_t>({1, 2, 3}));
    m.register_module("inner", inner);
    m.define("def forward(self, x):\n  return self.inner.forward(torch.mm(x, self.w))\n");
    std::ostringstream out;
    m.save(out);
    const std::string bytes = out.str();
    std::istringstream in(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&in);
    Template t;
    for (const std::string& name : reader.getAllRecords()) {
      auto [data, size] = reader.getRecord(name);
      std::string record(static_cast<const char*>(data.get()), size);
      if (name == "data.pkl") {
        t.pickle = std::move(record);
      } else {
        t.records.emplace_back(name, std::move(record));
      }
    }
    return t;
  }();
  return t;
}

std::string edited(std::string pickle, const uint8_t* data, size_t size) {
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const int kind = data[i] >> 6;
    const size_t at =
        ((static_cast<size_t>(data[i] & 0x3f) << 8) | data[i + 1]) % (pickle.size() + 1);
    const char byte = static_cast<char>(data[i + 2]);
    if (kind == 0 && at < pickle.size()) pickle[at] = byte;
    if (kind == 1) pickle.insert(pickle.begin() + static_cast<std::ptrdiff_t>(at), byte);
    if (kind == 2 && at < pickle.size()) pickle.erase(at, 1);
    if (kind == 3) pickle.resize(at);
  }
  return pickle;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Template& t = templateArchive();
  std::string archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* p, size_t n) {
    archive.append(static_cast<const char*>(p), n);
    return n;
  });
  const std::string pickle = edited(t.pickle, data, size);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [name, record] : t.records) {
    if (name != "version") writer.writeRecord(name, record.data(), record.size());
  }
  writer.writeEndOfFile();
  try {
    torch::jit::Module m = tsopt::deserializeModule(archive, "input");
    tsopt::serializeModule(m);
  } catch (const tsopt::Error&) {
    if (size == 0) __builtin_trap();  // the template itself must load
  }
  return 0;
}
