// The one exception type tsopt throws for anything a user can act on, and the helper that
// turns any exception (LibTorch's included) into a single readable line.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace tsopt {

/// An error whose message is meant for the user: one line, saying what is wrong and where.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One line describing `e`: LibTorch's backtraces and assert boilerplate are dropped.
std::string describeException(const std::exception& e);

}  // namespace tsopt
