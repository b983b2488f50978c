// Ctrl-C where tsopt is a library. The front end says how to tell that the user interrupted
// (Python: its pending signals); the work asks between its units (a pass, a forward run of a
// model, a reduce trial, a wait on a child) and stops by throwing Interrupted. A forward run of
// LibTorch's interpreter cannot be stopped inside: the stop comes when it returns. The command
// line needs none of this: its SIGINT handler removes staged files and ends the process.
#pragma once

#include <functional>

namespace tsopt {

/// What work throws when the user interrupted it. Not a std::exception, on purpose: the handlers
/// that turn a failure into an error line, a warning, a skipped pass or a reproducer catch
/// std::exception, and so let it through; staged files are removed as it unwinds.
struct Interrupted {};

/// Installs the front end's check, true when the user interrupted (it may keep what to raise
/// for the front end to raise); null removes it.
void setInterruptCheck(std::function<bool()> check);

/// True if the front end's check says the user interrupted.
bool interruptRequested();

/// Throws Interrupted if interruptRequested().
void checkInterrupt();

}  // namespace tsopt
