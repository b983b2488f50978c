// One watchdog thread for every live Deadline, started with the first; the crash handler that
// names the innermost one.
#include "passes/core/deadline.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "passes/core/module_io.h"

namespace tsopt {

namespace {

using Clock = std::chrono::steady_clock;

struct Watchdog {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<long, std::pair<Clock::time_point, std::string>> live;
  long next = 1;
  double seconds = 0;
  std::string remedy;
  bool started = false;

  void watch() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      if (live.empty()) {
        changed.wait(lock);
        continue;
      }
      auto first = live.begin();
      for (auto it = live.begin(); it != live.end(); ++it) {
        if (it->second.first < first->second.first) first = it;
      }
      if (Clock::now() < first->second.first) {
        changed.wait_until(lock, first->second.first);
        continue;
      }
      std::fprintf(stderr,
                   "tsopt: error: %s did not finish within %g s; allow more time, or set no "
                   "limit%s\n",
                   first->second.second.c_str(), seconds, remedy.c_str());
      std::fflush(stderr);
      removeStagedFiles();
      _exit(2);
    }
  }
};

/// The work under way, for the crash handler: fixed storage, since a handler may not allocate.
constexpr size_t kMaxActivity = 512;
char gActivity[kMaxActivity];

void setActivity(const std::string& what) {
  const size_t n = std::min(what.size(), kMaxActivity - 1);
  gActivity[0] = 0;  // empty while it changes
  std::memcpy(gActivity + 1, what.c_str() + 1, n > 0 ? n - 1 : 0);
  gActivity[n] = 0;
  if (n > 0) gActivity[0] = what[0];
}

void say(const char* text) {
  size_t n = std::strlen(text);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<size_t>(w);
  }
}

const char* signalName(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV, a bad memory access";
    case SIGBUS:
      return "SIGBUS, a bad memory access";
    case SIGFPE:
      return "SIGFPE, an arithmetic fault";
    case SIGILL:
      return "SIGILL, an illegal instruction";
    case SIGABRT:
      return "SIGABRT, an abort";
  }
  return "a fatal signal";
}

void onCrash(int sig) {
  say("tsopt: error: the process crashed (");
  say(signalName(sig));
  say(")");
  if (gActivity[0]) {
    say(" while ");
    say(gActivity);
  }
  say("; no output was written\n");
  removeStagedFiles();
  _exit(2);
}

/// Never destroyed: the detached thread may outlive static destruction.
Watchdog& watchdog() {
  static Watchdog* w = new Watchdog;
  return *w;
}

}  // namespace

void setTimeout(double seconds, std::string remedy) {
  std::lock_guard<std::mutex> lock(watchdog().mutex);
  watchdog().seconds = seconds > 0 ? seconds : 0;
  watchdog().remedy = remedy.empty() ? "" : " (" + remedy + ")";
}

double timeout() {
  std::lock_guard<std::mutex> lock(watchdog().mutex);
  return watchdog().seconds;
}

std::string timeoutRemedy() {
  std::lock_guard<std::mutex> lock(watchdog().mutex);
  return watchdog().remedy;
}

void endOnCrashSignals() {
  static char stack[1 << 16];
  stack_t alternate{};
  alternate.ss_sp = stack;
  alternate.ss_size = sizeof stack;
  sigaltstack(&alternate, nullptr);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction action {};
    action.sa_handler = onCrash;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, nullptr);
  }
}

Deadline::Deadline(std::string what) : outer_(gActivity) {
  setActivity(what);
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mutex);
  if (w.seconds <= 0) return;
  if (!w.started) {
    std::thread([&w] { w.watch(); }).detach();
    w.started = true;
  }
  id_ = w.next++;
  auto expiry = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(w.seconds));
  w.live.emplace(id_, std::make_pair(expiry, std::move(what)));
  w.changed.notify_one();
}

Deadline::~Deadline() {
  setActivity(outer_);
  if (!id_) return;
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mutex);
  w.live.erase(id_);
  w.changed.notify_one();
}

}  // namespace tsopt
