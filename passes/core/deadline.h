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
/// How the front end lets a user change the limit, as setTimeout was told (" (--timeout ...)").
std::string timeoutRemedy();

/// For a program that owns its process (the CLI): a crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
/// SIGABRT), in an operator library's kernel or a model's own code, ends the process with one
/// line on stderr naming the signal and the work under way (the innermost live Deadline's),
/// staged files removed, exit 2. Runs on its own stack, so a stack overflow is caught too.
void endOnCrashSignals();

/// While it lives, `what` ("running forward of the model") must finish within timeout(), and is
/// what a crash is said to have happened in.
class Deadline {
 public:
  explicit Deadline(std::string what);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  long id_ = 0;        ///< 0: no limit was set
  std::string outer_;  ///< the work under way before this one
};

}  // namespace tsopt
