// Writing a failure's reproducer, and running a pipeline to see how it fails.
#include "engine/reproducer.h"

#include <torch/serialize.h>

#include <cstdlib>
#include <filesystem>

#include "passes/core/error.h"
#include "passes/core/module_io.h"
#include "passes/core/op_library.h"
#include "passes/core/owned_folder.h"
#include "passes/core/registry.h"

namespace tsopt {

namespace {

namespace fs = std::filesystem;

/// Where a reproducer's command saves the pass's result (beside the model, in its folder).
const char* const kResultFile = "result.pt";

std::string makeTemporaryFolder() {
  std::string pattern = (fs::temp_directory_path() / "tsopt-repro-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    throw Error("cannot make a temporary folder for the reproducer in " +
                fs::temp_directory_path().string());
  }
  return pattern;
}

/// `s` as one shell word: as it is if it holds nothing the shell would read, else single-quoted.
std::string shellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=,:+@%") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

OwnedFolder reproducerFolder(const std::string& dir) {
  return {dir, ".tsopt-reproducer", "reproducer folder", "wrote a reproducer into"};
}

/// A script's comment line: text from the model or the pipeline with its line breaks and other
/// control characters escaped, so that none of it becomes a command.
std::string comment(const std::string& text) { return "# " + escapeText(text) + "\n"; }

}  // namespace

void checkReproducerDir(const std::string& dir, const std::vector<NamedPath>& files) {
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  for (const NamedPath& file : files) {
    if (file.path.empty()) continue;
    if (fs::weakly_canonical(fs::absolute(file.path, ec).parent_path(), ec) == folder) {
      throw Error("the reproducer folder '" + dir + "' is the folder of " + file.what + " (" +
                  file.path + "): give a new folder, or none for a temporary one");
    }
  }
  checkOwnedFolder(reproducerFolder(dir));
}

std::vector<std::string> reproducingArgs(const PassFailureInfo& failure,
                                         const ReproducerContext& context,
                                         const std::string& model) {
  std::vector<std::string> args = {"run", model, "-p", failure.spec, "-o", kResultFile};
  for (const OperatorLibrary& lib : loadedOperatorLibraries()) {
    args.insert(args.end(), {"--ops", lib.path});
  }
  const PassInfo* info = PassRegistry::global().find(failure.name);
  if (info && info->origin != "builtin" && info->origin != "python") {
    args.insert(args.end(), {"--plugin", fs::absolute(info->origin).string()});
  }
  if (context.methods != std::vector<std::string>{"forward"}) {
    for (const std::string& m : context.methods) args.insert(args.end(), {"--method", m});
  }
  if (context.irCheck != IrCheck::Fast) {
    args.insert(args.end(), {"--lint", irCheckName(context.irCheck)});
  }
  if (failure.kind == FailureKind::kDiffers) {
    args.push_back("--verify-strict");
    args.insert(args.end(), context.flags.begin(), context.flags.end());
  }
  return args;
}

std::string shellCommand(const std::string& tool, const std::vector<std::string>& args) {
  std::string out = shellQuote(tool);
  for (const std::string& a : args) out += " " + shellQuote(a);
  return out;
}

const char* failureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kCrash:
      return "crash";
    case FailureKind::kInvalid:
      return "invalid";
    case FailureKind::kDiffers:
      return "differs";
  }
  return "?";
}

FailureKind parseFailureKind(const std::string& name) {
  for (FailureKind k : {FailureKind::kCrash, FailureKind::kInvalid, FailureKind::kDiffers}) {
    if (name == failureKindName(k)) return k;
  }
  throw Error("unknown kind of failure '" + name + "' (known: crash, invalid, differs)");
}

std::optional<PassFailureInfo> runToFailure(torch::jit::Module work, const std::string& spec,
                                            const std::vector<std::string>& methods,
                                            IrCheck irCheck,
                                            const std::optional<VerifyOptions>& verify) {
  std::unique_ptr<Verifier> verifier;
  if (verify) verifier = std::make_unique<Verifier>(roundTrip(work), *verify);
  PassManager pm(parsePipeline(spec));
  pm.setIrCheck(irCheck);
  RunResult run;
  try {
    run = pm.run(work, methods);
  } catch (const PassFailure& e) {
    return PassFailureInfo::of(e);
  }
  if (!verifier || run.passes.empty()) return std::nullopt;
  VerifyResult result = verifier->check(work);
  if (result.passed) return std::nullopt;
  return PassFailureInfo::differs(run.passes.back(), result.mismatch);
}

PassFailureInfo PassFailureInfo::of(const PassFailure& e) {
  return {e.threw ? FailureKind::kCrash : FailureKind::kInvalid, e.index, e.name, e.spec, e.what()};
}

PassFailureInfo PassFailureInfo::differs(const PassRecord& blamed, const std::string& mismatch) {
  return {FailureKind::kDiffers, blamed.index, blamed.name, blamed.spec,
          "outputs differ: " + mismatch};
}

torch::jit::Module modelBefore(torch::jit::Module module, const std::string& pipeline,
                               const std::vector<std::string>& methods, size_t passes) {
  if (passes == 0) return module;
  PassManager pm(parsePipeline(pipeline));
  pm.setIrCheck(IrCheck::None);
  pm.setPassLimit(passes);
  pm.run(module, methods);
  return module;
}

Reproducer writeReproducer(const PassFailureInfo& failure, const ReproducerContext& context,
                           const std::string& dir) {
  Reproducer r;
  const OwnedFolder owned = reproducerFolder(dir.empty() ? makeTemporaryFolder() : dir);
  const std::string& folder = owned.dir;
  prepareOwnedFolder(owned);
  const std::string model = folder + "/model.pt";
  recordOwnedFile(owned, "model.pt");
  saveModuleAtomic(
      modelBefore(context.freshInput(), context.pipeline, context.methods, failure.index), model);
  writeOwnedFile(owned, "pipeline.txt", failure.spec + "\n");

  std::optional<VerifyOptions> verify;
  if (failure.kind == FailureKind::kDiffers && context.verify) {
    verify = context.verify;
    // The inputs verification used, saved beside the model where `tsopt run` looks for them.
    const std::string inputs = folder + "/model.inputs.pt";
    if (verify->inputValues) {
      std::vector<char> bytes =
          torch::pickle_save(c10::ivalue::Tuple::create(*verify->inputValues));
      writeOwnedFile(owned, "model.inputs.pt", std::string(bytes.begin(), bytes.end()));
    } else if (!verify->inputsFile.empty()) {
      recordOwnedFile(owned, "model.inputs.pt");
      fs::copy_file(verify->inputsFile, inputs, fs::copy_options::overwrite_existing);
    }
    if (fs::exists(inputs)) {
      verify->inputValues.reset();
      verify->inputsFile = inputs;
    }
  }

  std::vector<std::string> args = reproducingArgs(failure, context, "model.pt");
  recordOwnedFile(owned, kResultFile);  // what repro.sh writes
  std::string script = "#!/bin/sh\n";
  script += comment("Reproduces: " + failure.message);
  script += comment("The model as it was just before pass " + std::to_string(failure.index + 1) +
                    " ('" + failure.spec + "') of the pipeline '" + context.pipeline +
                    "', run through that pass alone.");
  script += comment("Expected: a failure of kind '" + std::string(failureKindName(failure.kind)) +
                    "' (exit status " + (failure.kind == FailureKind::kDiffers ? "1" : "2") + ").");
  const PassInfo* info = PassRegistry::global().find(failure.name);
  if (info && info->origin == "python") {
    script += comment("The pass is defined in Python: run it with tsopt.run(\"model.pt\", \"" +
                      failure.spec + "\") after defining it again.");
  }
  script += "cd \"$(dirname \"$0\")\" || exit 2\nexec " + shellCommand(context.tool, args) + "\n";
  r.script = folder + "/repro.sh";
  writeOwnedFile(owned, "repro.sh", script);
  fs::permissions(r.script, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);

  try {
    std::optional<PassFailureInfo> again =
        runToFailure(loadModule(model), failure.spec, context.methods, context.irCheck, verify);
    r.reproduces = again && again->kind == failure.kind && again->name == failure.name;
  } catch (const std::exception&) {
    r.reproduces = false;  // the model before the pass does not even run: said as not failing alone
  }
  return r;
}

std::string reproducerNote(const Reproducer& r) {
  return std::string("; reproducer") + (r.reproduces ? "" : " (it does not fail alone)") + ": " +
         r.script;
}

}  // namespace tsopt
