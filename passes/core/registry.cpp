// Pass registry and the typo suggestions used by the pipeline parser.
#include "passes/core/registry.h"

#include <algorithm>
#include <cctype>

#include "passes/core/error.h"

namespace tsopt {

namespace {

bool isKebabCase(const std::string& s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s.front())) || s.back() == '-') {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::islower(static_cast<unsigned char>(c)) ||
              std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && s[i - 1] != '-');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

PassRegistry& PassRegistry::global() {
  static PassRegistry registry;
  return registry;
}

void PassRegistry::add(PassFactory factory, const std::string& origin) {
  std::unique_ptr<Pass> probe = factory();
  std::string name = probe->name();
  if (!isKebabCase(name)) {
    throw Error("pass name '" + name + "' (from " + origin +
                ") is not kebab-case (lower-case words joined by '-')");
  }
  if (name == "fixed-point") {
    throw Error("pass name 'fixed-point' (from " + origin + ") is reserved for pass groups");
  }
  auto it = passes_.find(name);
  if (it != passes_.end()) {
    throw Error("pass '" + name + "' from " + origin + " is already registered by " +
                it->second.origin);
  }
  passes_[name] = PassInfo{name, probe->description(), origin, std::move(factory)};
}

void PassRegistry::addPreset(PipelinePreset preset) {
  for (const PipelinePreset& p : presets_) {
    if (p.name == preset.name) throw Error("preset '" + preset.name + "' is registered twice");
  }
  presets_.push_back(std::move(preset));
}

const PassInfo* PassRegistry::find(const std::string& name) const {
  auto it = passes_.find(name);
  return it == passes_.end() ? nullptr : &it->second;
}

std::unique_ptr<Pass> PassRegistry::create(const std::string& name) const {
  const PassInfo* info = find(name);
  if (!info) {
    throw Error("unknown pass '" + name + "'" + didYouMean(name, names()) +
                "; 'tsopt passes' lists them");
  }
  return info->factory();
}

std::vector<const PassInfo*> PassRegistry::all() const {
  std::vector<const PassInfo*> out;
  for (const auto& [name, info] : passes_) out.push_back(&info);
  return out;
}

std::vector<std::string> PassRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, info] : passes_) out.push_back(name);
  return out;
}

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t bestDist = std::string::npos;
  for (const std::string& c : candidates) {
    size_t d = editDistance(word, c);
    // A prefix or a name containing the word is a plausible intent too ("fold" -> "fold-conv-bn").
    bool contains = word.size() >= 3 && c.find(word) != std::string::npos;
    if (contains) d = std::min<size_t>(d, 1);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  return bestDist <= limit ? best : "";
}

std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string m = closestMatch(word, candidates);
  return m.empty() ? "" : " (did you mean '" + m + "'?)";
}

}  // namespace tsopt
