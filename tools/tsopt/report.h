// The JSON report of a run (--report): a contract users script against, see docs/cli.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "passes/core/pass_manager.h"

namespace tsopt::cli {

/// The report of a finished run.
nlohmann::json makeReport(const std::string& input, const std::string& output,
                          const std::string& pipeline, const std::vector<std::string>& methods,
                          const RunResult& result);

}  // namespace tsopt::cli
