// One watchdog thread for every live Deadline, started with the first.
#include "passes/core/deadline.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
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

Deadline::Deadline(std::string what) {
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
  if (!id_) return;
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mutex);
  w.live.erase(id_);
  w.changed.notify_one();
}

}  // namespace tsopt
