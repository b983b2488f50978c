// The JSON reports: one writer for every report a front end produces (`tsopt run --report`,
// `tsopt verify --report`, the Python API's dictionaries). Their fields are a contract users
// script against; docs/cli.md and docs/verify.md describe them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/run.h"
#include "passes/core/registry.h"
#include "verify/verifier.h"

namespace tsopt {

/// `report` as JSON text (`indent` as nlohmann's dump takes it), with every byte of a string or
/// key that is not valid UTF-8 written as \xNN: names and keys come from models and paths,
/// which may hold any bytes, and JSON holds only UTF-8.
std::string reportText(const nlohmann::json& report, int indent = -1);

/// The report of a run: passes, phases, sizes, warnings, and the verdict if it verified.
nlohmann::json runReport(const RunOutcome& outcome);

/// A verification's verdict as the reports' "verify" object.
nlohmann::json verifyJson(const Verifier& verifier, const VerifyResult& result);

/// The report of comparing two models (`tsopt verify`).
nlohmann::json compareReport(const Verifier& verifier, const VerifyResult& result,
                             const std::string& reference, const std::string& candidate);

/// Every pass in `registry` (name, description, origin, kind, options) and the presets.
nlohmann::json passesJson(const PassRegistry& registry);

/// The operator libraries loaded, as [{"path", "reason"}] ("asked for", or the operator that
/// needed it).
nlohmann::json operatorLibrariesJson();

}  // namespace tsopt
