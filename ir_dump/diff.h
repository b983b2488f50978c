// Unified diffs of texts, line by line (for IR dumps, reports and golden-file failures).
#pragma once

#include <string>

namespace tsopt {

/// The unified diff (`diff -u` style, with `---`/`+++` headers and `@@` hunks) that turns
/// `before` into `after`; "" when they are equal. The edit script is a shortest one (Myers),
/// after trimming the common head and tail; past 4000 edits it degrades to one replacing hunk
/// rather than use quadratic memory.
std::string unifiedDiff(const std::string& before, const std::string& after,
                        const std::string& beforeName, const std::string& afterName,
                        int context = 3);

/// The same, but lines are matched by `beforeKeys`/`afterKeys` (texts with the same number of
/// lines as `before`/`after`) while `before`/`after` are printed. With identity keys from
/// canonicalIrWithKeys, a line whose values were only renumbered counts as unchanged.
std::string unifiedDiffByKeys(const std::string& before, const std::string& after,
                              const std::string& beforeKeys, const std::string& afterKeys,
                              const std::string& beforeName, const std::string& afterName,
                              int context = 3);

}  // namespace tsopt
