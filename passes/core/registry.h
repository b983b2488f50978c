// The pass registry: name -> factory. Built-in passes register through a static registrar;
// plugins register through the function their entry point hands over.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "passes/core/pass.h"

namespace tsopt {

/// Creates a fresh pass instance with default options.
using PassFactory = std::function<std::unique_ptr<Pass>()>;

/// One registered pass.
struct PassInfo {
  std::string name;
  std::string description;
  std::string origin;  ///< "builtin" or the path of the plugin that registered it
  PassFactory factory;
};

/// A named pipeline: `tsopt run -O2`. The built-in presets are registered with the built-in
/// passes they name.
struct PipelinePreset {
  std::string name;         ///< "O0", "O1", "O2"
  std::string pipeline;     ///< its text; "" for no passes
  std::string description;  ///< one line
};

/// Name -> factory, and the presets. Names are unique; registering one twice is an error.
class PassRegistry {
 public:
  /// The process-wide registry used by the CLI and the static registrar.
  static PassRegistry& global();

  /// Registers a pass; throws tsopt::Error if the name is taken or not kebab-case.
  void add(PassFactory factory, const std::string& origin = "builtin");
  template <typename P>
  void add(const std::string& origin = "builtin") {
    add([] { return std::make_unique<P>(); }, origin);
  }

  /// Unregisters the pass called `name`, if there is one (a pass defined again from Python).
  void remove(const std::string& name) { passes_.erase(name); }

  const PassInfo* find(const std::string& name) const;
  std::unique_ptr<Pass> create(const std::string& name) const;
  /// All passes, sorted by name.
  std::vector<const PassInfo*> all() const;
  /// Registered names sorted, for suggestions.
  std::vector<std::string> names() const;

  /// Registers a preset; throws tsopt::Error if its name is taken.
  void addPreset(PipelinePreset preset);
  /// The presets, in the order registered (by level).
  const std::vector<PipelinePreset>& presets() const { return presets_; }

  /// Errors raised while static registrars ran (reported by the CLI at start-up).
  const std::vector<std::string>& staticErrors() const { return staticErrors_; }
  void addStaticError(std::string message) { staticErrors_.push_back(std::move(message)); }

 private:
  std::map<std::string, PassInfo> passes_;
  std::vector<PipelinePreset> presets_;
  std::vector<std::string> staticErrors_;
};

/// Static registrar: `static PassRegistration<MyPass> reg;` in the pass's .cpp.
template <typename P>
struct PassRegistration {
  PassRegistration() {
    try {
      PassRegistry::global().add<P>();
    } catch (const std::exception& e) {
      PassRegistry::global().addStaticError(e.what());
    }
  }
};

/// Registers pass class P at static-initialisation time.
#define TSOPT_REGISTER_PASS(P) static ::tsopt::PassRegistration<P> tsoptRegistration_##P

/// Edit distance, for "did you mean" suggestions.
size_t editDistance(const std::string& a, const std::string& b);
/// The candidate closest to `word` if it is close enough to be a plausible typo, else "".
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);
/// " (did you mean 'x'?)" or "".
std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace tsopt
