// The front end's interrupt check, asked between units of work.
#include "passes/core/interrupt.h"

#include <utility>

namespace tsopt {

namespace {

std::function<bool()>& interruptCheck() {
  static std::function<bool()> check;
  return check;
}

}  // namespace

void setInterruptCheck(std::function<bool()> check) { interruptCheck() = std::move(check); }

bool interruptRequested() { return interruptCheck() && interruptCheck()(); }

void checkInterrupt() {
  if (interruptRequested()) throw Interrupted{};
}

}  // namespace tsopt
