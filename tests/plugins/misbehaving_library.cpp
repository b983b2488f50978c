// A shared library that misbehaves while it loads, as a broken or hostile --ops or --plugin
// library might (test_hostile_surfaces.cpp): built once per behaviour, its constructor exits
// the process, prints to stdout, never returns, or faults.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

__attribute__((constructor)) static void misbehave() {
#if defined(TSOPT_EXITS)
  std::exit(0);
#elif defined(TSOPT_PRINTS)
  std::printf("hello from a library's constructor\n");
  std::fflush(stdout);
#elif defined(TSOPT_HANGS)
  for (;;) pause();
#elif defined(TSOPT_FAULTS)
  raise(SIGSEGV);
#endif
}
