// `tsopt verify A.pt B.pt`: do two models compute the same outputs on the same inputs?
#include <iostream>

#include "engine/report.h"
#include "passes/core/module_io.h"
#include "tools/tsopt/commands.h"
#include "tools/tsopt/verify_args.h"

namespace tsopt::cli {

namespace {

struct Args {
  std::string reference, candidate, report;
  std::vector<std::string> methods;
  VerifySettings verify;
  bool quiet = false;
};

int verifyCommand(const Args& a) {
  checkOutputPaths({{"the reference model", a.reference},
                    {"the candidate model", a.candidate},
                    {"the inputs file", a.verify.inputsFile}},
                   {{"the JSON report", a.report}});
  if (!a.report.empty()) checkWritable(a.report);
  std::vector<std::string> methods =
      a.methods.empty() ? std::vector<std::string>{"forward"} : a.methods;
  VerifyOptions options = a.verify.options(methods, a.reference);
  torch::jit::Module reference = loadModule(a.reference);
  torch::jit::Module candidate = loadModule(a.candidate);
  Verifier verifier(reference, options);
  VerifyResult result = verifier.check(candidate);
  if (!a.report.empty()) {
    writeFileAtomic(
        a.report, reportText(compareReport(verifier, result, a.reference, a.candidate), 2) + "\n");
  }
  if (!a.quiet) printVerifyTable(verifier, result, std::cout);
  (result.passed ? std::cout : std::cerr)
      << "tsopt: verify: " << verifySummary(verifier, result) << "\n";
  return result.passed ? kOk : kDifference;
}

}  // namespace

Command addVerifyCommand(CLI::App& app) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Check that two models compute the same outputs (exit 0 equal, 1 not, 2 error)");
  cmd->add_option("reference", args->reference, "the model to compare against (.pt)")->required();
  cmd->add_option("candidate", args->candidate, "the model to check (.pt)")->required();
  cmd->add_option("--method", args->methods, "method to compare (repeatable; default forward)");
  cmd->add_option("--report", args->report, "write the comparison as JSON here");
  addVerifyOptions(cmd, args->verify);
  cmd->add_flag("-q,--quiet", args->quiet, "print only the verdict");
  return [args] { return verifyCommand(*args); };
}

}  // namespace tsopt::cli
