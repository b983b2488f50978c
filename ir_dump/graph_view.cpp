// Builds the viewer's JSON of a graph: nodes in nested groups (submodules, called functions,
// blocks, runs of a long group), values, and keys for matching nodes across passes.
#include "ir_dump/graph_view.h"

#include <functional>
#include <map>
#include <unordered_map>

#include "ir_dump/node_text.h"

namespace tsopt {

namespace {

using nlohmann::json;
using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

/// A class's last name without LibTorch's mangling ("Bottleneck", not
/// "__torch__.torchvision.models.resnet.___torch_mangle_3.Bottleneck").
std::string className(const c10::ClassTypePtr& cls) {
  return cls && cls->name() ? cls->name()->name() : "";
}

/// Whether a call-stack entry is a level of the module path: a submodule or a free function; a
/// method of the same module (SELF) is not.
bool shownOnPath(torch::jit::Function* fn,
                 const c10::optional<torch::jit::ModuleInstanceInfo>& module) {
  if (module) {
    const std::string name = module->instance_name();
    return name != "SELF" && name != "INSTANCE_NAME_UNKNOWN";
  }
  return fn != nullptr;
}

/// One level of where a node came from: a submodule ("layer1", kind module, type Sequential) or a
/// called function ("interpolate()", kind function, its qualified name).
struct Level {
  std::string name, kind, type;
  bool operator==(const Level& other) const { return name == other.name; }
};

/// The levels a node was inlined from, outermost first: its call stack's submodules and
/// functions, or, in a traced graph without one, its scope ("__module.layer1/__module.layer1.0":
/// the last names the whole path).
std::vector<Level> levelsOf(const Node* node) {
  std::vector<Level> path;
  if (auto stack = node->callstack()) {
    for (auto& [fn, range, module] : (*stack)->vec()) {
      if (!shownOnPath(fn, module)) continue;
      if (module) {
        path.push_back({module->instance_name(), "module", className(module->class_type())});
      } else {
        path.push_back({fn->name() + "()", "function", fn->qualname().qualifiedName()});
      }
    }
    return path;
  }
  std::string scope = const_cast<Node*>(node)->scopeName();
  if (scope.empty()) return path;
  scope = scope.substr(scope.rfind('/') + 1);
  if (scope.rfind("__module.", 0) == 0) scope = scope.substr(9);
  for (size_t start = 0; start <= scope.size();) {
    size_t dot = scope.find('.', start);
    if (dot == std::string::npos) dot = scope.size();
    if (dot > start) path.push_back({scope.substr(start, dot - start), "module", ""});
    start = dot + 1;
  }
  return path;
}

struct Group {
  std::string name, kind, type, key;
  int parent = -1;
  int owner = -1;                    ///< a block's prim::If or prim::Loop node
  std::vector<int> members;          ///< >= 0: a node; < 0: -(group + 1)
  std::map<std::string, int> calls;  ///< groups made so far for each name
};

class ViewBuilder {
 public:
  ViewBuilder(const torch::jit::Graph& graph, const GraphViewOptions& options)
      : graph_(graph), options_(options) {}

  json build() {
    newGroup("", "root", "", -1, "");
    const Block* top = graph_.block();
    for (const Value* in : top->inputs()) {
      auto cls = in->type()->cast<c10::ClassType>();
      if (cls && cls->is_module()) continue;  // self: read only through what it holds
      int id = addNode("input", 0, {}, "");
      nodes_[id]["out"].push_back(valueId(in, id));
      nodes_[id]["k"] = "in" + std::to_string(in->offset());
    }
    addBlock(top, 0, {});
    int ret = addNode("return", 0, {}, "");
    readInputs(top->return_node(), ret);
    nodes_[ret]["k"] = "return";
    // Innermost first: a group left with one node after its only subgroup dissolved goes too.
    for (size_t g = groups_.size(); g-- > 0;) dissolveSingletons(static_cast<int>(g));
    for (size_t g = 0, n = groups_.size(); g < n; ++g) splitIntoRuns(static_cast<int>(g));

    std::vector<int> index(groups_.size(), -1);
    int kept = 0;
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].kind != "dissolved") index[g] = kept++;
    }
    json groups = json::array();
    for (size_t g = 0; g < groups_.size(); ++g) {
      const Group& group = groups_[g];
      if (index[g] < 0) continue;
      groups.push_back({{"name", group.name},
                        {"kind", group.kind},
                        {"type", group.type},
                        {"parent", group.parent < 0 ? -1 : index[group.parent]},
                        {"key", group.key}});
      if (group.owner >= 0) groups.back()["owner"] = group.owner;
      // A node's group is the one that lists it (dissolving and splitting moved some).
      for (int m : group.members) {
        if (m >= 0) nodes_[m]["g"] = index[g];
      }
    }
    return {{"groups", std::move(groups)},
            {"nodes", std::move(nodes_)},
            {"values", std::move(values_)}};
  }

 private:
  /// Adds `block`'s nodes to `group`, whose nodes came from `base` (the path of the node that
  /// owns the block); a node from deeper calls goes into subgroups named by the rest of its path.
  void addBlock(const Block* block, int group, const std::vector<Level>& base) {
    for (const Node* n : block->nodes()) {
      if (n->outputs().size() == 1 && inlineText(n->output())) continue;  // shown in labels
      std::vector<Level> path = levelsOf(n);
      size_t common = 0;
      while (common < base.size() && common < path.size() && base[common] == path[common]) ++common;
      int g = group;
      for (size_t i = common; i < path.size(); ++i) g = child(g, path[i]);
      int id = addNode(n->kind().toQualString(), g, argumentLines(n), source(n));
      readInputs(n, id);
      for (const Value* o : n->outputs()) nodes_[id]["out"].push_back(valueId(o, id));
      nodes_[id]["k"] = nodeKey(n);
      nodes_[id]["s"] = digest(n);
      if (n->hasAttributes()) nodes_[id]["attrs"] = attributeLines(n);
      for (size_t b = 0; b < n->blocks().size(); ++b) {
        const Block* inner = n->blocks()[b];
        int bg = newGroup("block" + std::to_string(b), "block", n->kind().toQualString(), g,
                          subKey(g, keyText(nodeKey(n)) + ".b" + std::to_string(b)));
        groups_[g].members.push_back(-(bg + 1));
        groups_[bg].owner = id;
        for (const Value* p : inner->inputs()) valueId(p, id);  // block parameters: from the owner
        addBlock(inner, bg, path);
        int ret = addNode("block return", bg, {}, "");
        readInputs(inner->return_node(), ret);
        nodes_[ret]["k"] = keyText(nodeKey(n)) + ".b" + std::to_string(b) + ".return";
      }
    }
  }

  /// The subgroup of `group` for `level`. Nodes inlined from one call sit together, so a node
  /// joins the group of the node before it when both came from the same level; a second call of
  /// the same submodule (a ReLU module used three times) is a group of its own.
  int child(int group, const Level& level) {
    const std::vector<int>& members = groups_[group].members;
    if (!members.empty() && members.back() < 0 && groups_[-members.back() - 1].name == level.name) {
      return -members.back() - 1;
    }
    int calls = ++groups_[group].calls[level.name];
    int g = newGroup(level.name, level.kind, level.type, group,
                     subKey(group, level.name + (calls > 1 ? "~" + std::to_string(calls) : "")));
    groups_[group].members.push_back(-(g + 1));
    return g;
  }

  /// A group's key names its path from the root ("layer1/0/relu~2"): the panes of a pass keep
  /// the same groups open by it.
  std::string subKey(int parent, const std::string& part) const {
    const std::string& key = groups_[parent].key;
    return key.empty() ? part : key + "/" + part;
  }

  int newGroup(const std::string& name, const std::string& kind, const std::string& type,
               int parent, const std::string& key) {
    Group g;
    g.name = name;
    g.kind = kind;
    g.type = type;
    g.key = key;
    g.parent = parent;
    groups_.push_back(std::move(g));
    return static_cast<int>(groups_.size()) - 1;
  }

  int addNode(const std::string& kind, int group, const std::vector<std::string>& args,
              const std::string& src) {
    int id = static_cast<int>(nodes_.size());
    json node = {
        {"kind", kind}, {"fam", opFamily(kind)}, {"in", json::array()}, {"out", json::array()}};
    if (!args.empty()) node["args"] = args;
    if (!src.empty()) node["src"] = src;
    nodes_.push_back(std::move(node));
    groups_[group].members.push_back(id);
    return id;
  }

  void readInputs(const Node* n, int id) {
    for (const Value* in : n->inputs()) nodes_[id]["in"].push_back(valueId(in, -1));
  }

  /// The index of `v` in values, added on first sight with `producer` (-1: shown inline).
  int valueId(const Value* v, int producer) {
    auto it = valueIds_.find(v);
    if (it != valueIds_.end()) return it->second;
    int id = static_cast<int>(values_.size());
    json value = {{"n", v->debugName()}, {"t", typeText(v->type())}, {"p", producer}};
    if (producer < 0) {
      if (auto text = inlineText(v)) value["c"] = *text;
    }
    values_.push_back(std::move(value));
    valueIds_[v] = id;
    return id;
  }

  static json nodeKey(const Node* n) {
    if (!n->outputs().empty()) return n->output(0)->unique();
    std::string key = n->kind().toQualString();
    for (const Value* in : n->inputs()) key += "," + std::to_string(in->unique());
    return key;
  }

  static std::string keyText(const json& key) {
    return key.is_string() ? key.get<std::string>() : std::to_string(key.get<int64_t>());
  }

  /// What the node reads: its kind, the values it reads (by number, or by their text where shown
  /// inline, since passes remake constants), and its attributes' names.
  static std::string digest(const Node* n) {
    std::string s = n->kind().toQualString();
    for (const Value* in : n->inputs()) {
      auto text = inlineText(in);
      s += "|" + (text ? *text : std::to_string(in->unique()));
    }
    for (c10::Symbol a : n->attributeNames()) s += "|" + std::string(a.toUnqualString());
    char hex[17];
    snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>()(s));
    return std::string(hex, 8);
  }

  static std::string source(const Node* n) {
    const torch::jit::SourceRange& r = n->sourceRange();
    if (!r.source()) return "";
    std::string where;
    if (auto flc = r.file_line_col()) {
      auto [file, line, col] = *flc;
      where = file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }
    std::string text = r.text().str();
    if (text.size() > 160) text = text.substr(0, 157) + "...";
    return where + text;
  }

  /// A group with a single node is no group worth opening: the node moves up.
  void dissolveSingletons(int g) {
    Group& group = groups_[g];
    if (g == 0 || group.kind == "block" || group.members.size() != 1 || group.members[0] < 0)
      return;
    std::vector<int>& up = groups_[group.parent].members;
    for (int& m : up) {
      if (m == -(g + 1)) m = group.members[0];
    }
    group.members.clear();
    group.kind = "dissolved";
  }

  /// Splits a long group into runs of consecutive members, runs of runs when need be.
  void splitIntoRuns(int g) {
    size_t limit = std::max<size_t>(options_.maxGroupSize, 2);
    while (groups_[g].members.size() > limit) {
      std::vector<int> members = std::move(groups_[g].members);
      groups_[g].members.clear();
      size_t per = limit;
      while ((members.size() + per - 1) / per > limit) per *= limit;
      for (size_t start = 0; start < members.size(); start += per) {
        size_t end = std::min(members.size(), start + per);
        int run = newGroup("", "run", "", g, subKey(g, "#" + std::to_string(start / per)));
        groups_[run].name = "members " + std::to_string(start + 1) + "-" + std::to_string(end);
        groups_[run].members.assign(members.begin() + start, members.begin() + end);
        for (int m : groups_[run].members) {
          if (m < 0) groups_[-m - 1].parent = run;
        }
        groups_[g].members.push_back(-(run + 1));
      }
      for (int m : groups_[g].members) splitIntoRuns(-m - 1);
    }
  }

  const torch::jit::Graph& graph_;
  const GraphViewOptions& options_;
  std::vector<Group> groups_;
  json nodes_ = json::array(), values_ = json::array();
  std::unordered_map<const Value*, int> valueIds_;
};

}  // namespace

json graphView(const torch::jit::Graph& graph, const GraphViewOptions& options) {
  return ViewBuilder(graph, options).build();
}

}  // namespace tsopt
