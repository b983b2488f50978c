// `tsopt reduce` as a library (docs/reduce.md): shrinks a model while a pipeline still fails on it
// the same way (the same kind of failure, from the same pass), like mlir-reduce.
//
// The pipeline is run once to find the failing pass; the model is then taken as it was just
// before that pass, and the pass alone is the pipeline every candidate is tried with. Candidates
// remove nodes by delta debugging: each removed node's results are replaced by one of its inputs
// of the same kind (a prim::If by its first branch, a prim::Loop by its initial values) or, when
// it has none, by an input of the method, which cuts away everything that only fed it. Chunks of
// nodes are tried first, halves, then quarters, down to single nodes; dead code goes after each
// step, and the weights nothing reaches any longer go at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/reproducer.h"

namespace tsopt {

/// What to reduce, and which failure to keep.
struct ReduceOptions {
  std::string input;   ///< the model
  std::string output;  ///< where the reduced model goes
  std::string pipeline;
  std::vector<std::string> methods{"forward"};
  FailureKind until = FailureKind::kCrash;
  IrCheck irCheck = IrCheck::Fast;
  VerifyOptions verify;            ///< how to tell that outputs differ (kDiffers)
  std::vector<std::string> flags;  ///< the verification settings as flags, for the command
  /// Seconds reduction may take (0: no limit); past it, the smallest model found so far (one
  /// that still fails) is the result.
  double maxSeconds = 0;
  /// Told what reduction does: the failure found, every step that shrank the model.
  std::function<void(const std::string&)> onProgress;
};

/// What reduction did.
struct ReduceOutcome {
  PassFailureInfo failure;  ///< the failure found on the input, and kept
  /// Nodes over the methods: of the input, of the model before the failing pass (where
  /// reduction starts), and of the result.
  int64_t inputNodes = 0, startNodes = 0, nodesAfter = 0;
  size_t tests = 0;           ///< candidates tried
  bool stoppedEarly = false;  ///< maxSeconds passed before single nodes had been tried
  uint64_t outputBytes = 0;
  std::vector<std::string> command;  ///< the `tsopt run` arguments that fail on the result
};

/// Reduces `options.input`; throws tsopt::Error if the pipeline does not fail on it the way
/// asked for. Writes the result atomically to `options.output`.
ReduceOutcome reduce(const ReduceOptions& options);

}  // namespace tsopt
