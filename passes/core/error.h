// The one exception type tsopt throws for anything a user can act on, and the helper that
// turns any exception (LibTorch's included) into a single readable line.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace tsopt {

/// A setting of the library that a user can change to get past an error. The message says what
/// to do in the library's terms; a front end names the setting in its own (the CLI as a flag).
enum class Setting {
  kNone,
  kInflateLimit,     ///< how much a model's compressed records may unpack to
  kOperatorLibrary,  ///< operator libraries to load before a model
  kRtol,             ///< verification's relative tolerance
  kAtol,             ///< verification's absolute tolerance
  kInputSpecs,       ///< the shapes of the inputs verification makes
  kInputScale,       ///< the scale of random inputs
  kTrials,           ///< random input sets per method
  kRule,             ///< how verification decides that outputs are equal
  kDumpKinds,        ///< what a dump writes
  kGoldenUpdate,     ///< recording golden files instead of comparing
  kOverwriteInput,   ///< letting a run's output replace its input
};

/// An error whose message is meant for the user: one line, saying what is wrong and where, and
/// which setting (if one) gets past it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, Setting setting = Setting::kNone)
      : std::runtime_error(message), setting_(setting) {}
  Setting setting() const { return setting_; }

 private:
  Setting setting_;
};

/// One line describing `e`: LibTorch's backtraces and assert boilerplate are dropped.
std::string describeException(const std::exception& e);

/// `text` with every byte that is not part of valid UTF-8 written as \xNN and, with `controls`,
/// every control character too (\n, \r and \t as such): text that came from a model or a file
/// (a name, a key, an error of its code), made safe for one line of a terminal, a comment in a
/// script, or a JSON string.
std::string escapeText(const std::string& text, bool controls = true);

}  // namespace tsopt
