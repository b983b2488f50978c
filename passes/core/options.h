// Typed pass options (bool, int, double, string, list of strings) declared as members of a pass,
// with defaults, help text and range checks. The pipeline parser sets them from text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

class Pass;

/// The kinds of value an option can hold.
enum class OptionKind { Bool, Int, Double, String, List };

/// Name of a kind as shown to users ("bool", "int", ...).
const char* optionKindName(OptionKind kind);

/// A value as written in a pipeline: a scalar token or a bracketed list of tokens.
struct OptionValue {
  bool isList = false;
  std::string scalar;
  std::vector<std::string> items;
};

/// Untyped view of an option: what the parser, the registry listing and the report need.
class OptionBase {
 public:
  OptionBase(Pass& owner, std::string name, std::string help, OptionKind kind);
  virtual ~OptionBase() = default;
  OptionBase(const OptionBase&) = delete;
  OptionBase& operator=(const OptionBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  OptionKind kind() const { return kind_; }
  bool isDefault() const { return valueString() == defaultString(); }

  /// Sets the value from pipeline text; throws tsopt::Error naming the pass and option.
  virtual void set(const OptionValue& value) = 0;
  /// The current and the default value, written as the pipeline syntax accepts them.
  virtual std::string valueString() const = 0;
  virtual std::string defaultString() const = 0;
  /// Extra constraint shown in help, e.g. ">= 0"; empty if none.
  virtual std::string constraint() const { return ""; }

 protected:
  [[noreturn]] void fail(const std::string& why) const;

 private:
  const Pass& owner_;
  std::string name_, help_;
  OptionKind kind_;
};

/// A typed option. T is bool, int64_t, double, std::string or std::vector<std::string>.
template <typename T>
class Option : public OptionBase {
 public:
  Option(Pass& owner, std::string name, std::string help, T defaultValue);
  /// A numeric option checked against [min, max].
  Option(Pass& owner, std::string name, std::string help, T defaultValue, std::optional<T> min,
         std::optional<T> max = std::nullopt);

  const T& value() const { return value_; }
  operator const T&() const { return value_; }
  Option& operator=(const T& v) {
    value_ = v;
    return *this;
  }

  void set(const OptionValue& value) override;
  std::string valueString() const override;
  std::string defaultString() const override;
  std::string constraint() const override;

 private:
  T value_, default_;
  std::optional<T> min_, max_;
};

using BoolOption = Option<bool>;
using IntOption = Option<int64_t>;
using DoubleOption = Option<double>;
using StringOption = Option<std::string>;
using ListOption = Option<std::vector<std::string>>;

}  // namespace tsopt
