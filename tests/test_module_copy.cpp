// copyModule, ownTensors and tensorBytes: the copies a run of a live module works on.
#include <gtest/gtest.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <set>

#include "passes/core/module_copy.h"
#include "passes/core/module_io.h"
#include "test_util.h"

using namespace tsopt;

namespace {

/// The storages of every tensor attribute of `m` and its submodules.
std::set<const void*> storages(const torch::jit::Module& m) {
  std::set<const void*> out;
  for (const auto& a : m.named_attributes(/*recurse=*/true)) {
    if (a.value.isTensor() && a.value.toTensor().has_storage()) {
      out.insert(a.value.toTensor().storage().unsafeGetStorageImpl());
    }
  }
  return out;
}

bool disjoint(const std::set<const void*>& a, const std::set<const void*>& b) {
  for (const void* p : a) {
    if (b.count(p)) return false;
  }
  return true;
}

class CopyOfFixture : public ::testing::TestWithParam<test::Fixture> {};

// The copy is the module as its archive has it, byte for byte: the class names unmangled, the
// code, which tensors share a storage (shared_weight), the parameters' and buffers' marks and
// the tensors' values. And it shares nothing with the module: no storage, no graph.
TEST_P(CopyOfFixture, SavesToTheSameArchiveAndSharesNothing) {
  const test::Fixture& f = GetParam();
  torch::jit::Module m = loadModule(f.path());
  const std::string archive = serializeModule(m);
  const std::string ir = m.get_method("forward").graph()->toString();

  torch::jit::Module copy = copyModule(m);
  EXPECT_EQ(serializeModule(copy), archive) << f.id();
  EXPECT_TRUE(disjoint(storages(copy), storages(m))) << f.id();
  EXPECT_NE(copy.type().get(), m.type().get());
  EXPECT_EQ(copy.type()->name()->qualifiedName(), m.type()->name()->qualifiedName());

  torch::jit::Inline(*copy.get_method("forward").graph());
  EXPECT_EQ(m.get_method("forward").graph()->toString(), ir) << f.id();
  test::expectIdenticalOutputs(f, copy);

  // Shared tensors, then owned: the same archive again, and disjoint.
  torch::jit::Module shared = copyModule(m, TensorCopies::kShared);
  EXPECT_EQ(storages(shared), storages(m));
  ownTensors(shared, m);
  EXPECT_TRUE(disjoint(storages(shared), storages(m))) << f.id();
  EXPECT_EQ(serializeModule(shared), archive) << f.id();
  EXPECT_EQ(serializeModule(m), archive) << f.id();
}

INSTANTIATE_TEST_SUITE_P(All, CopyOfFixture, ::testing::ValuesIn(test::fixtures()),
                         [](const auto& info) { return info.param.id(); });

TEST(ModuleCopy, TensorBytesCountsEachStorageOnce) {
  for (const char* name : {"conv2d_bn", "shared_weight"}) {
    torch::jit::Module m = loadModule(test::fixture(name, "traced").path());
    std::set<const void*> seen;
    uint64_t expected = 0;
    for (const auto& a : m.named_attributes(/*recurse=*/true)) {
      if (!a.value.isTensor()) continue;
      const c10::Storage& s = a.value.toTensor().storage();
      if (seen.insert(s.unsafeGetStorageImpl()).second) expected += s.nbytes();
    }
    EXPECT_GT(expected, 0u);
    EXPECT_EQ(tensorBytes(m), expected) << name;
    // Nearly all of the archive: the rest is code, the pickled structure and the zip's records.
    EXPECT_LT(tensorBytes(m), serializeModule(m).size()) << name;
  }
}

TEST(ModuleCopy, KeepsRequiresGradAndViewsOfOneStorage) {
  torch::jit::Module m("__torch__.M");
  at::Tensor base = torch::arange(12, torch::kFloat).reshape({3, 4});
  m.register_parameter("weight", base.clone().requires_grad_(true), false);
  m.register_buffer("table", base);
  m.register_attribute("row", c10::TensorType::get(), base.select(0, 1));
  // As an RNN's _flat_weights holds its parameters.
  c10::List<at::Tensor> flat;
  flat.push_back(m.attr("weight").toTensor());
  flat.push_back(base);
  m.register_attribute("flat", c10::ListType::ofTensors(), flat);
  torch::jit::Module copy = copyModule(m);

  EXPECT_TRUE(copy.attr("weight").toTensor().requires_grad());
  EXPECT_TRUE(copy.attr("weight").toTensor().is_leaf());
  at::Tensor table = copy.attr("table").toTensor(), row = copy.attr("row").toTensor();
  EXPECT_FALSE(table.requires_grad());
  EXPECT_TRUE(torch::equal(row, base.select(0, 1)));
  EXPECT_EQ(row.storage().unsafeGetStorageImpl(), table.storage().unsafeGetStorageImpl());
  EXPECT_EQ(row.storage_offset(), 4);
  EXPECT_NE(table.data_ptr(), base.data_ptr());
  EXPECT_EQ(copy.named_parameters().size(), 1u);
  EXPECT_EQ(copy.named_buffers().size(), 1u);

  // A list's tensors are the copy's own, and the same tensors as its attributes; so after owning
  // the tensors of a copy that shared them.
  torch::jit::Module shared = copyModule(m, TensorCopies::kShared);
  ownTensors(shared, m);
  for (const torch::jit::Module& c : {copy, shared}) {
    c10::List<at::Tensor> list = c.attr("flat").toTensorList();
    EXPECT_TRUE(list.get(0).is_same(c.attr("weight").toTensor()));
    EXPECT_TRUE(list.get(1).is_same(c.attr("table").toTensor()));
    EXPECT_NE(list.get(1).data_ptr(), base.data_ptr());
    EXPECT_EQ(c.attr("row").toTensor().storage().unsafeGetStorageImpl(),
              list.get(1).storage().unsafeGetStorageImpl());
  }
}

}  // namespace
