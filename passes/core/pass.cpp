// Pass helpers shared by all passes: option lookup, printing, node counting.
#include "passes/core/pass.h"

namespace tsopt {

OptionBase* Pass::findOption(const std::string& name) const {
  for (OptionBase* o : options_) {
    if (o->name() == name) return o;
  }
  return nullptr;
}

std::string Pass::str() const {
  std::string opts;
  for (const OptionBase* o : options_) {
    if (o->isDefault()) continue;
    opts += (opts.empty() ? "" : " ") + o->name() + "=" + o->valueString();
  }
  return opts.empty() ? name() : name() + "{" + opts + "}";
}

int64_t countNodes(const torch::jit::Block* block) {
  int64_t n = 0;
  for (const torch::jit::Node* node : block->nodes()) {
    ++n;
    for (const torch::jit::Block* b : node->blocks()) n += countNodes(b);
  }
  return n;
}

}  // namespace tsopt
