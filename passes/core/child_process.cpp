// fork, a pipe back to the parent, waitpid.
#include "passes/core/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include "passes/core/interrupt.h"

namespace tsopt {

bool writeAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

ChildResult runInChild(const std::function<int(int fd)>& work, const ChildCapture& capture) {
  ChildResult result;
  int fds[2];
  if (::pipe(fds) != 0) return result;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
  }
  if (pid == 0) {
    ::close(fds[0]);
    // A crash ends the child by its signal, for the parent to see, whatever handler the parent
    // installed (endOnCrashSignals).
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, SIG_DFL);
    int err = capture.captureStderr ? fds[1] : ::open("/dev/null", O_WRONLY);
    if (err >= 0) ::dup2(err, STDERR_FILENO);
    if (capture.captureStdout) ::dup2(fds[1], STDOUT_FILENO);
    int code = kChildThrew;
    try {
      code = work(fds[1]);
    } catch (const std::exception& e) {
      writeAll(STDERR_FILENO, e.what(), std::strlen(e.what()));
    } catch (...) {
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  result.started = true;
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(capture.timeoutSeconds * 1000));
  char buffer[65536];
  // Waits in slices, so that Ctrl-C (the front end's interrupt check) stops the child too.
  constexpr int64_t kSliceMs = 100;
  auto interrupted = [&] {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw Interrupted{};
  };
  for (;;) {
    const bool limited = capture.timeoutSeconds > 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (limited && left.count() <= 0) {
      ::kill(pid, SIGKILL);
      result.timedOut = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int ready =
        ::poll(&p, 1, static_cast<int>(limited ? std::min(left.count(), kSliceMs) : kSliceMs));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (interruptRequested()) {
        ::close(fds[0]);
        interrupted();
      }
      continue;
    }
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  // A child may close the pipe and go on: the limit holds for its end too.
  while (capture.timeoutSeconds > 0 && !result.timedOut && ::waitpid(pid, &status, WNOHANG) == 0) {
    if (interruptRequested()) interrupted();
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      result.timedOut = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exited = WIFEXITED(status);
  if (result.exited) result.exitCode = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace tsopt
