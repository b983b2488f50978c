// The verification flags `tsopt verify` and `tsopt run --verify` share, and the table both print.
#pragma once

#include <CLI/CLI.hpp>
#include <ostream>

#include "engine/verify_settings.h"

namespace tsopt::cli {

/// Registers the flags on `cmd`, filling `settings`.
void addVerifyOptions(CLI::App* cmd, VerifySettings& settings);

/// One line per output leaf (its errors and where they are), then the inputs used.
void printVerifyTable(const Verifier& verifier, const VerifyResult& result, std::ostream& os);

}  // namespace tsopt::cli
