// Reproducers (docs/reduce.md): when a pass throws, leaves an invalid graph, or is blamed for
// changing the outputs, the model as it was just before that pass, the pass alone as a pipeline,
// and a repro.sh that fails the same way in one `tsopt run`. Failures are also what `tsopt
// reduce` keeps while it shrinks a model.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "passes/core/module_io.h"
#include "passes/core/pass_manager.h"
#include "verify/verifier.h"

namespace tsopt {

/// How a pass fails.
enum class FailureKind {
  kCrash,    ///< it throws
  kInvalid,  ///< it leaves an invalid graph (or loses a method)
  kDiffers,  ///< the model computes something else after it
};

/// "crash", "invalid", "differs".
const char* failureKindName(FailureKind kind);
/// The kind named `name`; throws tsopt::Error for another name.
FailureKind parseFailureKind(const std::string& name);

/// A failure of one pass.
struct PassFailureInfo {
  FailureKind kind = FailureKind::kCrash;
  size_t index = 0;  ///< of the pass, in execution order
  std::string name, spec;
  std::string message;  ///< the error, or the verification's verdict

  /// The pass that threw or left an invalid graph.
  static PassFailureInfo of(const PassFailure& e);
  /// The pass `blamed` for outputs that differ as `mismatch` says.
  static PassFailureInfo differs(const PassRecord& blamed, const std::string& mismatch);
};

/// What a failure's reproducer needs beyond the failure.
struct ReproducerContext {
  std::function<torch::jit::Module()> freshInput;  ///< a fresh copy of the run's input
  std::string pipeline;                            ///< the run's whole pipeline
  std::vector<std::string> methods;
  IrCheck irCheck = IrCheck::Fast;
  /// With kDiffers: how the run verified (its inputs are saved beside the model).
  std::optional<VerifyOptions> verify;
  std::vector<std::string> flags;  ///< more `tsopt run` flags (the verification settings)
  std::string tool = "tsopt";      ///< the tsopt executable repro.sh runs
};

/// A written reproducer.
struct Reproducer {
  std::string script;       ///< DIR/repro.sh
  bool reproduces = false;  ///< the pass alone, run on DIR/model.pt, failed the same way
};

/// `module` (changed in place: a handle) run through the first `passes` passes of `pipeline`,
/// unchecked: the model a failing pass started from.
torch::jit::Module modelBefore(torch::jit::Module module, const std::string& pipeline,
                               const std::vector<std::string>& methods, size_t passes);

/// Checks, before a run, that a reproducer can go into `dir`: a new or empty folder, or one that
/// holds only a reproducer tsopt wrote there (listed in its .tsopt-reproducer file), and never
/// the folder of one of `files` (the run's inputs and outputs: a reproducer's model.pt would be
/// written beside the user's model, or over it). Throws tsopt::Error.
void checkReproducerDir(const std::string& dir, const std::vector<NamedPath>& files);

/// Writes the reproducer of `failure` into `dir` (checked as checkReproducerDir does, made if
/// missing, an earlier reproducer's files replaced; "" for a new temporary folder): model.pt (the
/// input run through the passes before the failing one), pipeline.txt, model.inputs.pt when
/// verification had saved or given inputs, and repro.sh. Then runs the pass alone on model.pt to
/// see that it fails the same way.
Reproducer writeReproducer(const PassFailureInfo& failure, const ReproducerContext& context,
                           const std::string& dir);

/// Runs `spec` (one pass, or any pipeline) on `module` itself (a handle: the caller's module
/// changes) as `tsopt run` would, and says how it fails: nullopt if it does not. With `verify`,
/// the result is compared with a copy of `module` as given.
std::optional<PassFailureInfo> runToFailure(torch::jit::Module module, const std::string& spec,
                                            const std::vector<std::string>& methods,
                                            IrCheck irCheck,
                                            const std::optional<VerifyOptions>& verify);

/// The `tsopt run` arguments that run `failure`'s pass alone on `model` and fail as it did.
std::vector<std::string> reproducingArgs(const PassFailureInfo& failure,
                                         const ReproducerContext& context,
                                         const std::string& model);

/// The arguments as one shell command line, each quoted where it needs to be.
std::string shellCommand(const std::string& tool, const std::vector<std::string>& args);

/// "; reproducer: DIR/repro.sh" (noting a reproducer that does not fail alone), for messages.
std::string reproducerNote(const Reproducer& r);

}  // namespace tsopt
