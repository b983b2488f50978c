// Running a piece of work in a forked child process, for work that may end the process in a way
// no exception reports: an assertion inside Graphviz, an operator library whose static
// initialisers throw (std::terminate).
#pragma once

#include <functional>
#include <string>

namespace tsopt {

/// The exit code of a child whose work threw.
constexpr int kChildThrew = 125;

/// How the child ended, and what it wrote.
struct ChildResult {
  bool started = false;   ///< the fork (and its pipe) succeeded
  bool exited = false;    ///< it returned (or called _exit); false: killed by a signal
  bool timedOut = false;  ///< it was killed for taking longer than allowed
  int exitCode = -1;      ///< when exited: what `work` returned
  int signal = 0;         ///< when killed: the signal
  std::string output;     ///< what it wrote to the descriptor `work` was given
};

/// What runInChild sends back besides the descriptor `work` writes to.
struct ChildCapture {
  bool captureStderr = false;  ///< the child's stderr (else /dev/null)
  bool captureStdout = false;  ///< the child's stdout (else the parent's)
  double timeoutSeconds = 0;   ///< > 0: the child is killed (SIGKILL) after this long
};

/// Forks; the child runs `work(fd)` and ends with _exit(its return value). What it writes to fd
/// comes back in ChildResult::output; so does what it writes to stderr and stdout as `capture`
/// says. An exception out of `work` ends the child with kChildThrew,
/// its what() written to stderr. (Exceptions also cross functions declared noexcept, such as
/// dlopen, whose static initialisers may throw: only a catch outside the call sees them.)
ChildResult runInChild(const std::function<int(int fd)>& work, const ChildCapture& capture);

/// Writes all of `size` bytes to `fd`; false on error.
bool writeAll(int fd, const char* data, size_t size);

}  // namespace tsopt
