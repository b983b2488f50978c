// The pickle machine and the code-depth bound that model loading runs before LibTorch reads an
// archive (end to end, on crafted archives: test_hostile.cpp).
#include <gtest/gtest.h>

#include <string>

#include "passes/core/error.h"
#include "passes/core/pickle.h"
#include "passes/core/source_depth.h"

namespace tsopt {
namespace {

using namespace std::string_literals;

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

/// What runPickle throws for `bytes`, or "" when it runs to the STOP.
std::string pickleError(const std::string& bytes, const PickleHooks& hooks = {}) {
  try {
    runPickle(bytes, hooks);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Pickle, ReportsTheCallsThatMakeTensorsWithTheirArguments) {
  // _rebuild_tensor_v2((persistent ('storage', FloatStorage, '0', 'cpu', 12)), 0, (4, 3), (3, 1))
  const std::string pickle =
      "\x80\x02"
      "ctorch._utils\n_rebuild_tensor_v2\nq\x00("
      "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
      "0X\x03\x00\x00\x00"
      "cpuK\x0ctQK\x00K\x04K\x03\x86K\x03K\x01\x86tR."s;
  int calls = 0, ids = 0;
  PickleHooks hooks;
  hooks.persistentId = [&](const PickleValue& id) {
    ++ids;
    ASSERT_EQ(id.kind, PickleValue::Kind::kTuple);
    ASSERT_EQ(id.items.size(), 5u);
    EXPECT_EQ(id.items[1]->text, "torch FloatStorage");
    EXPECT_EQ(id.items[4]->integer, 12);
  };
  hooks.call = [&](const PickleValue& callable, const PickleValue& args) {
    ++calls;
    EXPECT_EQ(callable.text, "torch._utils _rebuild_tensor_v2");
    ASSERT_EQ(args.items.size(), 4u);
    EXPECT_EQ(args.items[0]->kind, PickleValue::Kind::kPersistent);
    EXPECT_EQ(describeIntTuple(*args.items[2]), "[4, 3]");
    EXPECT_EQ(describeIntTuple(*args.items[3]), "[3, 1]");
  };
  EXPECT_EQ(pickleError(pickle, hooks), "");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ids, 1);
}

TEST(Pickle, SignedAndUnsignedIntegersAreReadAsPythonReadsThem) {
  std::vector<int64_t> seen;
  PickleHooks hooks;
  hooks.call = [&](const PickleValue&, const PickleValue& args) {
    for (const PickleValue* v : args.items) seen.push_back(v->integer);
  };
  // f(255, 65535, -4, -1 as LONG1, 2^40 as LONG1)
  const std::string pickle =
      "\x80\x02"
      "cm\nf\n(K\xffM\xff\xffJ\xfc\xff\xff\xff\x8a\x01\xff\x8a\x06\x00\x00\x00\x00\x00\x01tR."s;
  EXPECT_EQ(pickleError(pickle, hooks), "");
  EXPECT_EQ(seen, (std::vector<int64_t>{255, 65535, -4, -1, int64_t{1} << 40}));
}

TEST(Pickle, RefusesWhatLibTorchWouldCrashOrAllocateGigabytesOn) {
  EXPECT_EQ(pickleError("\x80"), "is truncated (at byte 0)");
  EXPECT_EQ(pickleError("\x80\x02N"), "ends without a STOP (at byte 3)");
  EXPECT_EQ(pickleError("\x80\x02\xff."),
            "uses opcode 0xff, which tsopt does not read (at byte 2)");
  EXPECT_EQ(pickleError("\x80\x02t."), "has no MARK to pop to (at byte 2)");
  EXPECT_EQ(pickleError("\x80\x02(R."), "pops an empty stack (at byte 3)");
  EXPECT_EQ(pickleError("\x80\x02h\x05."), "reads memo entry 5, which it never stored (at byte 2)");
  EXPECT_EQ(pickleError("\x80\x02Nr\xff\xff\xff\x7f."),
            "stores memo entry 2147483647, beyond the 1 objects made so far (at byte 3)");
  // A list appended to itself.
  EXPECT_EQ(pickleError("\x80\x02]q\x00h\x00"
                        "a."s),
            "makes an object that contains itself");
  // Tuples in tuples: 1000 deep is taken, 1001 is not.
  EXPECT_EQ(pickleError("\x80\x02)" + repeat("\x85", 999) + "."), "");
  EXPECT_EQ(pickleError("\x80\x02)" + repeat("\x85", 1000) + "."),
            "nests objects more than 1000 deep");
  // The same depth through lists that are filled after they are made (memo and APPEND).
  std::string lists = "\x80\x02]q\x00"s;
  for (int i = 1; i <= 1000; ++i) {
    lists += "h" + std::string(1, static_cast<char>((i - 1) % 200)) + "]";
    lists += "q" + std::string(1, static_cast<char>(i % 200)) + "a0";
  }
  EXPECT_EQ(pickleError(lists + "."), "nests objects more than 1000 deep");
}

TEST(SourceDepth, CountsBracketsOperatorChainsAndBlocks) {
  // One for the statement's level and one for the top block, then what nests.
  EXPECT_EQ(sourceNestingDepth("y = (((1)))\n"), 5);
  EXPECT_EQ(sourceNestingDepth("y = 1 + 1 + 1 + 1 + 1 + 1\n"), 7);
  EXPECT_EQ(sourceNestingDepth("y = a.b.c.d\nz = (1)\n"), 5);
  EXPECT_EQ(sourceNestingDepth("if a:\n  if b:\n    if c:\n      y = -1\n"), 6);
  // A flat list is as deep however long; commas end chains.
  EXPECT_EQ(sourceNestingDepth("x = [1, 2, 3, -4, -5.5]\n"), 5);
  EXPECT_EQ(sourceNestingDepth("x = [" + repeat("-1.5, ", 10000) + "]\n"), 5);
  // Strings and comments do not count.
  EXPECT_EQ(sourceNestingDepth("s = '((((((' # ((((((\n"), 0);
  EXPECT_EQ(sourceNestingDepth("s = \"a\\\"((\" + 'b'\n"), 3);
  EXPECT_EQ(sourceNestingDepth("y = " + repeat("(", 20000) + "1" + repeat(")", 20000) + "\n"),
            20002);
  EXPECT_EQ(sourceNestingDepth("y = " + repeat("not ", 300) + "x\n"), 302);
}

}  // namespace
}  // namespace tsopt
