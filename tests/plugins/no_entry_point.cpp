// Test plugin: a shared library without tsopt's entry point.
extern "C" __attribute__((visibility("default"))) int somethingElse() { return 42; }
