// Textual pipelines: "inline{max-depth=2},fold-conv-bn,dce" and
// "fixed-point{max-iterations=5}(torch-constant-propagation,dce)". See docs/pipelines.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "passes/core/pass.h"
#include "passes/core/registry.h"

namespace tsopt {

/// One element of a pipeline: a configured pass, or a fixed-point group of elements.
struct PipelineElement {
  std::unique_ptr<Pass> pass;          ///< set for a pass
  std::vector<PipelineElement> group;  ///< set for a fixed-point group
  int64_t maxIterations = 0;           ///< for a group: the iteration limit

  bool isGroup() const { return pass == nullptr; }
  std::string str() const;
};

/// A parsed pipeline, ready for the PassManager.
struct Pipeline {
  std::vector<PipelineElement> elements;
  /// Canonical text: parses back to the same pipeline.
  std::string str() const;
};

/// Default iteration limit of fixed-point groups.
constexpr int64_t kDefaultFixedPointIterations = 10;

/// Parses pipeline text against `registry`. Throws tsopt::Error pointing at the column (and the
/// line, for multi-line text) of the problem; unknown names come with a suggestion.
Pipeline parsePipeline(const std::string& text,
                       const PassRegistry& registry = PassRegistry::global());

/// The preset called `name` ("O2", or "2") in `registry`; throws tsopt::Error naming the known
/// ones.
const PipelinePreset& findPreset(const std::string& name,
                                 const PassRegistry& registry = PassRegistry::global());

/// The pipeline text an argument stands for: "@path" reads the file, anything else is itself.
std::string resolvePipelineArgument(const std::string& arg);

}  // namespace tsopt
