// The pickle machine: one loop over the opcodes, an explicit stack, marks and memo. Objects live
// in one arena (freed without recursion); which container holds which is kept as edges, and
// their depth and any cycle are found after the run by an iterative walk.
#include "passes/core/pickle.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <unordered_map>
#include <utility>

#include "passes/core/error.h"

namespace tsopt {

namespace {

using Kind = PickleValue::Kind;

bool isContainer(Kind kind) {
  return kind == Kind::kTuple || kind == Kind::kList || kind == Kind::kDict ||
         kind == Kind::kPersistent || kind == Kind::kObject;
}

class Machine {
 public:
  Machine(std::string_view bytes, const PickleHooks& hooks) : p_(bytes), hooks_(hooks) {}

  void run() {
    while (true) {
      at_ = pos_;
      if (pos_ >= p_.size()) fail("ends without a STOP");
      const unsigned char op = static_cast<unsigned char>(p_[pos_++]);
      if (op == '.') break;
      step(op);
    }
    checkNesting();
  }

 private:
  /// An object on the stack and the offset where the opcodes that put it there begin.
  struct Slot {
    PickleValue* value;
    size_t start;
  };

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(why + " (at byte " + std::to_string(at_) + ")");
  }

  std::string_view take(uint64_t n) {
    if (n > p_.size() - pos_) fail("is truncated");
    std::string_view s = p_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t unsignedArg(int bytes) {
    std::string_view s = take(bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(s[i]);
    return v;
  }
  std::string_view sized(int lengthBytes) { return take(unsignedArg(lengthBytes)); }
  std::string_view line() {
    size_t end = p_.find('\n', pos_);
    if (end == std::string_view::npos) fail("is truncated");
    std::string_view s = p_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }

  PickleValue* make(Kind kind, int64_t integer = 0, std::string text = {}) {
    if (arena_.size() >= kMaxPickleObjects) {
      fail("makes more than " + std::to_string(kMaxPickleObjects) + " objects");
    }
    PickleValue& v = arena_.emplace_back();
    v.kind = kind;
    v.integer = integer;
    v.text = std::move(text);
    v.index = arena_.size() - 1;
    return &v;
  }
  /// `container` holds `item` (kept only when the item can hold things in turn).
  void holds(const PickleValue& container, const PickleValue& item) {
    if (isContainer(item.kind)) edges_.emplace_back(container.index, item.index);
  }
  void push(PickleValue* v, size_t start = SIZE_MAX) {
    stack_.push_back({v, start == SIZE_MAX ? at_ : start});
  }
  /// The lowest stack index that ops other than a mark's own may pop to.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Slot pop() {
    if (stack_.size() <= floor()) fail("pops an empty stack");
    Slot s = stack_.back();
    stack_.pop_back();
    return s;
  }
  PickleValue& top() const {
    if (stack_.size() <= floor()) fail("reads an empty stack");
    return *stack_.back().value;
  }
  /// The objects since the last mark and where the mark was; the mark is removed.
  std::pair<std::vector<Slot>, size_t> popToMark() {
    if (marks_.empty()) fail("has no MARK to pop to");
    std::vector<Slot> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                            stack_.end());
    stack_.resize(marks_.back());
    size_t markAt = markOffsets_.back();
    marks_.pop_back();
    markOffsets_.pop_back();
    return {std::move(items), markAt};
  }
  void memoize(uint64_t index) {
    // LibTorch's memo is a vector grown to the index: a 4-byte index from a 5-byte input made it
    // allocate 22 GB (found by tests/fuzz/fuzz_pickle_records.cpp). Pickles number their memo
    // entries in order, so an index beyond the objects made so far is a lie.
    if (index > arena_.size()) {
      fail("stores memo entry " + std::to_string(index) + ", beyond the " +
           std::to_string(arena_.size()) + " objects made so far");
    }
    memo_[index] = &top();
  }
  void recall(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) {
      fail("reads memo entry " + std::to_string(index) + ", which it never stored");
    }
    push(it->second);
  }
  void tuple(const std::vector<Slot>& items, size_t start) {
    PickleValue* t = make(Kind::kTuple);
    for (const Slot& item : items) {
      t->items.push_back(item.value);
      holds(*t, *item.value);
    }
    push(t, start);
  }
  void tupleOf(int n) {
    std::vector<Slot> items(n);
    for (int i = n - 1; i >= 0; --i) items[i] = pop();
    tuple(items, n ? items[0].start : at_);
  }
  void call() {
    Slot args = pop(), callable = pop();
    if (hooks_.call) hooks_.call(*callable.value, *args.value);
    PickleValue* object = make(Kind::kObject);
    holds(*object, *args.value);
    push(object, callable.start);
  }
  void integer(uint64_t raw, int bytes) {
    int64_t v = static_cast<int64_t>(raw);
    if (bytes < 8 && (raw >> (8 * bytes - 1)) & 1) v -= int64_t{1} << (8 * bytes);
    push(make(Kind::kInt, v));
  }

  void step(unsigned char op) {
    switch (op) {
      case 0x80:  // PROTO
        take(1);
        return;
      case 0x95:  // FRAME
        take(8);
        return;
      case 0x94:  // MEMOIZE
        memoize(memo_.size());
        return;
      case 'q':  // BINPUT
        memoize(unsignedArg(1));
        return;
      case 'r':  // LONG_BINPUT
        memoize(unsignedArg(4));
        return;
      case 'h':  // BINGET
        recall(unsignedArg(1));
        return;
      case 'j':  // LONG_BINGET
        recall(unsignedArg(4));
        return;
      case '(':  // MARK
        marks_.push_back(stack_.size());
        markOffsets_.push_back(at_);
        return;
      case '0':  // POP
        pop();
        return;
      case '1':  // POP_MARK
        popToMark();
        return;
      case '2':  // DUP
        push(&top());
        return;
      case 'N':
        push(make(Kind::kNone));
        return;
      case 0x88:  // NEWTRUE
      case 0x89:  // NEWFALSE
        push(make(Kind::kBool, op == 0x88));
        return;
      case 'K':  // BININT1 (unsigned)
        push(make(Kind::kInt, static_cast<int64_t>(unsignedArg(1))));
        return;
      case 'M':  // BININT2 (unsigned)
        push(make(Kind::kInt, static_cast<int64_t>(unsignedArg(2))));
        return;
      case 'J':  // BININT (signed)
        integer(unsignedArg(4), 4);
        return;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        std::string_view digits = sized(op == 0x8a ? 1 : 4);
        if (digits.size() > 8) {
          push(make(Kind::kBigInt));
          return;
        }
        uint64_t raw = 0;
        for (size_t i = digits.size(); i-- > 0;) {
          raw = raw << 8 | static_cast<unsigned char>(digits[i]);
        }
        integer(raw, digits.empty() ? 8 : static_cast<int>(digits.size()));
        return;
      }
      case 'G':  // BINFLOAT
        take(8);
        push(make(Kind::kFloat));
        return;
      case 'X':  // BINUNICODE
      case 'T':  // BINSTRING
        push(make(Kind::kString, 0, std::string(sized(4))));
        return;
      case 0x8c:  // SHORT_BINUNICODE
      case 'U':   // SHORT_BINSTRING
        push(make(Kind::kString, 0, std::string(sized(1))));
        return;
      case 0x8d:  // BINUNICODE8
        push(make(Kind::kString, 0, std::string(sized(8))));
        return;
      case 'B':   // BINBYTES
      case 'C':   // SHORT_BINBYTES
      case 0x8e:  // BINBYTES8
        sized(op == 'B' ? 4 : op == 'C' ? 1 : 8);
        push(make(Kind::kBytes));
        return;
      case 'c': {  // GLOBAL
        std::string module(line()), name(line());
        push(make(Kind::kGlobal, 0, module + " " + name));
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        Slot name = pop(), module = pop();
        push(make(Kind::kGlobal, 0, module.value->text + " " + name.value->text), module.start);
        return;
      }
      case ')':  // EMPTY_TUPLE
        tuple({}, at_);
        return;
      case 0x85:
      case 0x86:
      case 0x87:  // TUPLE1..3
        tupleOf(op - 0x84);
        return;
      case 't': {  // TUPLE
        auto [items, start] = popToMark();
        tuple(items, start);
        return;
      }
      case ']':
      case '}':
        push(make(op == ']' ? Kind::kList : Kind::kDict));
        return;
      case 'l':
      case 'd': {  // LIST, DICT
        auto [items, start] = popToMark();
        PickleValue* c = make(op == 'l' ? Kind::kList : Kind::kDict);
        for (const Slot& item : items) holds(*c, *item.value);
        push(c, start);
        return;
      }
      case 'a': {  // APPEND
        Slot item = pop();
        holds(top(), *item.value);
        if (hooks_.append) hooks_.append(at_, item.start);
        return;
      }
      case 's': {  // SETITEM
        Slot value = pop(), key = pop();
        holds(top(), *key.value);
        holds(top(), *value.value);
        return;
      }
      case 'e':    // APPENDS
      case 'u':    // SETITEMS
      case 'b': {  // BUILD
        std::vector<Slot> items;
        if (op == 'b') {
          items.push_back(pop());
        } else {
          items = popToMark().first;
        }
        PickleValue& target = top();
        for (const Slot& item : items) holds(target, *item.value);
        return;
      }
      case 'Q': {  // BINPERSID
        Slot id = pop();
        if (hooks_.persistentId) hooks_.persistentId(*id.value);
        PickleValue* p = make(Kind::kPersistent);
        p->items.push_back(id.value);
        holds(*p, *id.value);
        push(p, id.start);
        return;
      }
      case 'R':   // REDUCE
      case 0x81:  // NEWOBJ
        call();
        return;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("uses opcode ") + hex + ", which tsopt does not read");
      }
    }
  }

  /// The longest chain of containers in containers, and no container in itself: a depth-first
  /// walk with an explicit stack over the edges, each object's depth computed once.
  void checkNesting() {
    const size_t n = arena_.size();
    std::vector<size_t> first(n + 1, 0), targets(edges_.size());
    for (const auto& e : edges_) ++first[e.first + 1];
    for (size_t i = 0; i < n; ++i) first[i + 1] += first[i];
    std::vector<size_t> fill(first.begin(), first.end() - 1);
    for (const auto& e : edges_) targets[fill[e.first]++] = e.second;
    enum : char { kNew, kOpen, kDone };
    std::vector<char> state(n, kNew);
    std::vector<int> depth(n, 1);
    std::vector<std::pair<size_t, size_t>> walk;  // (object, next edge to follow)
    for (size_t root = 0; root < n; ++root) {
      if (state[root] != kNew || first[root] == first[root + 1]) continue;
      walk.emplace_back(root, first[root]);
      state[root] = kOpen;
      while (!walk.empty()) {
        const size_t object = walk.back().first;
        if (walk.back().second == first[object + 1]) {
          state[object] = kDone;
          walk.pop_back();
          if (!walk.empty()) {
            int& parent = depth[walk.back().first];
            parent = std::max(parent, depth[object] + 1);
          }
          continue;
        }
        const size_t child = targets[walk.back().second++];
        if (state[child] == kOpen) throw Error("makes an object that contains itself");
        if (state[child] == kDone) {
          depth[object] = std::max(depth[object], depth[child] + 1);
        } else {
          state[child] = kOpen;
          walk.emplace_back(child, first[child]);
        }
        if (depth[object] > kMaxPickleDepth || walk.size() > kMaxPickleDepth) {
          throw Error("nests objects more than " + std::to_string(kMaxPickleDepth) + " deep");
        }
      }
    }
  }

  std::string_view p_;
  const PickleHooks& hooks_;
  size_t pos_ = 0, at_ = 0;
  std::deque<PickleValue> arena_;
  std::vector<std::pair<size_t, size_t>> edges_;  // (container, item it holds)
  std::vector<Slot> stack_;
  std::vector<size_t> marks_, markOffsets_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

}  // namespace

void runPickle(std::string_view bytes, const PickleHooks& hooks) { Machine(bytes, hooks).run(); }

std::string describeIntTuple(const PickleValue& tuple) {
  if (tuple.kind != Kind::kTuple) return "?";
  std::string s = "[";
  for (size_t i = 0; i < tuple.items.size(); ++i) {
    const PickleValue& v = *tuple.items[i];
    s += (i ? ", " : "") + (v.kind == Kind::kInt ? std::to_string(v.integer) : std::string("?"));
  }
  return s + "]";
}

}  // namespace tsopt
