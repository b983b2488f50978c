// Line diff: common head and tail trimmed, LCS on the rest, hunks with context.
#include "ir_dump/diff.h"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <vector>

namespace tsopt {

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

enum class Op : char { kKeep = ' ', kDelete = '-', kInsert = '+' };

/// Myers' O((n+m)d) shortest edit script between a[head, size-tail) and b[head, size-tail).
/// Beyond kMaxEdits edits it gives up and replaces the whole middle (memory grows as edits²).
std::vector<Op> middleScript(const std::vector<std::string>& a, const std::vector<std::string>& b,
                             size_t head, size_t tail) {
  constexpr int64_t kMaxEdits = 4000;
  const int64_t n = static_cast<int64_t>(a.size() - head - tail);
  const int64_t m = static_cast<int64_t>(b.size() - head - tail);
  auto same = [&](int64_t x, int64_t y) { return a[head + x] == b[head + y]; };
  const int64_t offset = n + m + 1;
  std::vector<int64_t> v(2 * offset + 1, 0);
  std::vector<std::vector<int64_t>> trace;  // trace[d]: v over k in [-d, d] before step d
  int64_t edits = -1;
  for (int64_t d = 0; d <= std::min(n + m, kMaxEdits) && edits < 0; ++d) {
    trace.emplace_back(v.begin() + offset - d, v.begin() + offset + d + 1);
    for (int64_t k = -d; k <= d; k += 2) {
      bool down = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]);
      int64_t x = down ? v[offset + k + 1] : v[offset + k - 1] + 1;
      int64_t y = x - k;
      while (x < n && y < m && same(x, y)) ++x, ++y;
      v[offset + k] = x;
      if (x >= n && y >= m) {
        edits = d;
        break;
      }
    }
  }
  std::vector<Op> ops;
  if (edits < 0) {
    ops.insert(ops.end(), static_cast<size_t>(n), Op::kDelete);
    ops.insert(ops.end(), static_cast<size_t>(m), Op::kInsert);
    return ops;
  }
  int64_t x = n, y = m;
  for (int64_t d = edits; d > 0; --d) {
    const std::vector<int64_t>& prev = trace[d];
    auto at = [&](int64_t k) { return prev[k + d]; };
    int64_t k = x - y;
    bool down = k == -d || (k != d && at(k - 1) < at(k + 1));
    int64_t prevK = down ? k + 1 : k - 1;
    int64_t prevX = at(prevK), prevY = prevX - prevK;
    while (x > prevX && y > prevY) ops.push_back(Op::kKeep), --x, --y;
    ops.push_back(down ? Op::kInsert : Op::kDelete);
    x = prevX, y = prevY;
  }
  while (x > 0 && y > 0) ops.push_back(Op::kKeep), --x, --y;
  std::reverse(ops.begin(), ops.end());
  return ops;
}

std::string range(size_t start, size_t count) {
  // Unified diff numbers lines from 1; an empty range names the line before it.
  std::string s = std::to_string(count == 0 ? start : start + 1);
  if (count != 1) s += "," + std::to_string(count);
  return s;
}

}  // namespace

std::string unifiedDiff(const std::string& before, const std::string& after,
                        const std::string& beforeName, const std::string& afterName, int context) {
  return unifiedDiffByKeys(before, after, before, after, beforeName, afterName, context);
}

std::string unifiedDiffByKeys(const std::string& before, const std::string& after,
                              const std::string& beforeKeys, const std::string& afterKeys,
                              const std::string& beforeName, const std::string& afterName,
                              int context) {
  if (before == after) return "";
  std::vector<std::string> a = lines(beforeKeys), b = lines(afterKeys);
  std::vector<std::string> shownA = lines(before), shownB = lines(after);
  if (a.size() != shownA.size() || b.size() != shownB.size()) {
    a = shownA;  // keys that do not fit: match the texts themselves
    b = shownB;
  }
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
    ++tail;
  }
  std::vector<Op> ops(head, Op::kKeep);
  std::vector<Op> middle = middleScript(a, b, head, tail);
  ops.insert(ops.end(), middle.begin(), middle.end());
  ops.insert(ops.end(), tail, Op::kKeep);

  // Positions in a and b before each op.
  std::vector<size_t> ai(ops.size() + 1), bi(ops.size() + 1);
  for (size_t k = 0; k < ops.size(); ++k) {
    ai[k + 1] = ai[k] + (ops[k] != Op::kInsert);
    bi[k + 1] = bi[k] + (ops[k] != Op::kDelete);
  }
  std::ostringstream out;
  out << "--- " << beforeName << "\n+++ " << afterName << "\n";
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k] == Op::kKeep) ++k;
    if (k == ops.size()) break;
    // A hunk: from ctx lines before this change to ctx lines after the last change that is
    // at most 2*ctx unchanged lines away from the previous one.
    size_t start = k >= ctx ? k - ctx : 0, end = k;
    for (size_t keep = 0; end < ops.size() && keep <= 2 * ctx; ++end) {
      keep = ops[end] == Op::kKeep ? keep + 1 : 0;
      if (keep > 2 * ctx) break;
    }
    // Trim trailing unchanged lines down to ctx.
    size_t lastChange = end;
    while (lastChange > start && ops[lastChange - 1] == Op::kKeep) --lastChange;
    end = std::min(ops.size(), lastChange + ctx);
    out << "@@ -" << range(ai[start], ai[end] - ai[start]) << " +"
        << range(bi[start], bi[end] - bi[start]) << " @@\n";
    for (size_t x = start; x < end; ++x) {
      // Unchanged lines show the new text (their values may have been renumbered).
      const std::string& line = ops[x] == Op::kDelete ? shownA[ai[x]] : shownB[bi[x]];
      out << static_cast<char>(ops[x]) << line << "\n";
    }
    k = end;
  }
  return out.str();
}

}  // namespace tsopt
