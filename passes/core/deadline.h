// A time limit on work that its input controls and that may never end: a model's forward under
// verification, a module's __setstate__ while it loads. LibTorch cannot interrupt either, so a
// deadline that passes ends the process: one line on stderr, staged files removed, exit 2. It
// is the command line's guard; a library user who sets no timeout gets none.
#pragma once

#include <string>

namespace tsopt {

/// Seconds a Deadline allows; 0 (the default) for no limit. `remedy`, if given, is how the
/// front end lets a user change the limit (the CLI: "--timeout SECONDS"), said when it passes.
void setTimeout(double seconds, std::string remedy = "");
double timeout();

/// While it lives, `what` ("running forward of the model") must finish within timeout().
class Deadline {
 public:
  explicit Deadline(std::string what);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  long id_ = 0;  ///< 0: no limit was set
};

}  // namespace tsopt
