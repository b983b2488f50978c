// Parsing, printing and range-checking of typed pass options.
#include "passes/core/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "passes/core/error.h"
#include "passes/core/pass.h"

namespace tsopt {

const char* optionKindName(OptionKind kind) {
  switch (kind) {
    case OptionKind::Bool:
      return "bool";
    case OptionKind::Int:
      return "int";
    case OptionKind::Double:
      return "double";
    case OptionKind::String:
      return "string";
    case OptionKind::List:
      return "list";
  }
  return "?";
}

OptionBase::OptionBase(Pass& owner, std::string name, std::string help, OptionKind kind)
    : owner_(owner), name_(std::move(name)), help_(std::move(help)), kind_(kind) {
  owner.registerOption(this);
}

void OptionBase::fail(const std::string& why) const {
  throw Error("option '" + name_ + "' of pass '" + owner_.name() + "' " + why);
}

namespace {

template <typename T>
constexpr OptionKind kindOf();
template <>
constexpr OptionKind kindOf<bool>() {
  return OptionKind::Bool;
}
template <>
constexpr OptionKind kindOf<int64_t>() {
  return OptionKind::Int;
}
template <>
constexpr OptionKind kindOf<double>() {
  return OptionKind::Double;
}
template <>
constexpr OptionKind kindOf<std::string>() {
  return OptionKind::String;
}
template <>
constexpr OptionKind kindOf<std::vector<std::string>>() {
  return OptionKind::List;
}

std::optional<bool> parseBool(const std::string& s) {
  if (s == "true" || s == "1" || s == "on" || s == "yes") return true;
  if (s == "false" || s == "0" || s == "off" || s == "no") return false;
  return std::nullopt;
}

std::optional<int64_t> parseInt(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parseDouble(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string quoteIfNeeded(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(",{}[]()= \t\"") == std::string::npos;
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

template <typename T>
std::string toText(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return std::to_string(v);
  } else if constexpr (std::is_same_v<T, double>) {
    std::ostringstream os;
    os.precision(17);
    os << v;
    return os.str();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return quoteIfNeeded(v);
  } else {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + quoteIfNeeded(v[i]);
    return out + "]";
  }
}

}  // namespace

template <typename T>
Option<T>::Option(Pass& owner, std::string name, std::string help, T defaultValue)
    : OptionBase(owner, std::move(name), std::move(help), kindOf<T>()),
      value_(defaultValue),
      default_(std::move(defaultValue)) {}

template <typename T>
Option<T>::Option(Pass& owner, std::string name, std::string help, T defaultValue,
                  std::optional<T> min, std::optional<T> max)
    : Option(owner, std::move(name), std::move(help), std::move(defaultValue)) {
  min_ = std::move(min);
  max_ = std::move(max);
}

template <typename T>
void Option<T>::set(const OptionValue& v) {
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    value_ = v.isList ? v.items : std::vector<std::string>{v.scalar};
    return;
  } else {
    if (v.isList) fail(std::string("takes a single ") + optionKindName(kind()) + ", not a list");
    const std::string& s = v.scalar;
    T parsed{};
    if constexpr (std::is_same_v<T, bool>) {
      auto b = parseBool(s);
      if (!b) fail("takes true or false, got '" + s + "'");
      parsed = *b;
    } else if constexpr (std::is_same_v<T, int64_t>) {
      auto i = parseInt(s);
      if (!i) fail("takes an integer, got '" + s + "'");
      parsed = *i;
    } else if constexpr (std::is_same_v<T, double>) {
      auto d = parseDouble(s);
      if (!d) fail("takes a number, got '" + s + "'");
      parsed = *d;
    } else {
      parsed = s;
    }
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if ((min_ && parsed < *min_) || (max_ && parsed > *max_)) {
        fail("must be " + constraint() + ", got " + s);
      }
    }
    value_ = std::move(parsed);
  }
}

template <typename T>
std::string Option<T>::valueString() const {
  return toText(value_);
}

template <typename T>
std::string Option<T>::defaultString() const {
  return toText(default_);
}

template <typename T>
std::string Option<T>::constraint() const {
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    if (min_ && max_) return "in [" + toText(*min_) + ", " + toText(*max_) + "]";
    if (min_) return ">= " + toText(*min_);
    if (max_) return "<= " + toText(*max_);
  }
  return "";
}

template class Option<bool>;
template class Option<int64_t>;
template class Option<double>;
template class Option<std::string>;
template class Option<std::vector<std::string>>;

}  // namespace tsopt
