// DOT export of a graph (clusters for blocks, constants folded into labels, op families
// coloured) and rendering through Graphviz's gvc/cgraph libraries, in a child process.
#include "ir_dump/dot.h"

#include <graphviz/gvc.h>

#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ir_dump/node_text.h"
#include "passes/core/child_process.h"
#include "passes/core/error.h"

namespace tsopt {

namespace {

using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// Above this many drawn nodes the layout effort is bounded.
constexpr size_t kLargeGraph = 300;

class DotWriter {
 public:
  DotWriter(const torch::jit::Graph& graph, const DotOptions& options)
      : graph_(graph), options_(options) {}

  std::string write() {
    os_ << "digraph G {\n"
        << "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, labelloc=t, label=\""
        << escape(options_.title) << "\"];\n"
        << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, "
           "fillcolor=\"#ffffff\"];\n"
        << "  edge [color=\"#555555\", arrowsize=0.6];\n";
    const Block* top = graph_.block();
    for (size_t i = 0; i < top->inputs().size(); ++i) {
      const Value* in = top->inputs()[i];
      std::string id = "in" + std::to_string(i);
      producers_[in] = id;
      os_ << "  " << id << " [shape=invhouse, fillcolor=\"#e5f5e0\", label=\""
          << escape(in->debugName() + "\n" + typeText(in->type())) << "\"];\n";
    }
    writeBlock(top, "  ");
    os_ << "  out [shape=house, fillcolor=\"#e5f5e0\", label=\"" << escape(returnLabel(top))
        << "\"];\n";
    edgesInto(top->return_node(), "out");
    // Edges go last and outside every cluster: an edge inside a cluster would pull both its
    // ends into that cluster.
    os_ << edges_.str();
    // Graphviz's default effort lays out a DenseNet-121 (about 1000 drawn nodes) in 8 minutes;
    // bounded network-simplex and crossing-minimisation passes take it to seconds. Ranking
    // (nslimit1) is left unbounded: bounded, Graphviz 2.43 aborts on empty nested clusters
    // (cluster_leader's assertion; detection models' If blocks).
    if (drawn_ > kLargeGraph) os_ << "  graph [nslimit=1, mclimit=0.1];\n";
    if (skipped_ > 0) {
      os_ << "  more [shape=note, fillcolor=\"#fff7bc\", label=\""
          << escape(std::to_string(skipped_) + " more nodes not drawn (drawn up to " +
                    std::to_string(options_.maxNodes) + ")")
          << "\"];\n";
    }
    os_ << "}\n";
    return os_.str();
  }

 private:
  std::string returnLabel(const Block* b) {
    std::string label = b == graph_.block() ? "return" : "block return";
    for (const Value* v : b->outputs()) {
      if (auto text = inlineText(v)) label += "\n" + *text;
    }
    return label;
  }

  void writeBlock(const Block* block, const std::string& indent) {
    for (const Node* n : block->nodes()) {
      if (n->outputs().size() == 1 && inlineText(n->output())) continue;
      if (options_.maxNodes && drawn_ >= options_.maxNodes) {
        ++skipped_;
        continue;
      }
      ++drawn_;
      std::string id = "n" + std::to_string(nextId_++);
      for (const Value* o : n->outputs()) producers_[o] = id;
      writeNode(n, id, indent);
      edgesInto(n, id);
      for (size_t b = 0; b < n->blocks().size(); ++b) writeCluster(n, id, b, indent);
    }
  }

  void writeNode(const Node* n, const std::string& id, const std::string& indent) {
    const std::string kind = n->kind().toQualString();
    std::string label = kind;
    for (const std::string& line : argumentLines(n)) label += "\n" + line;
    for (const Value* o : n->outputs()) label += "\n: " + typeText(o->type());
    os_ << indent << id << " [label=\"" << escape(label) << "\", fillcolor=\""
        << familyColour(opFamily(kind)) << "\"";
    if (highlighted(n)) os_ << ", color=\"#d62728\", penwidth=3";
    os_ << "];\n";
  }

  /// A node is new, or shows something new in its label (a constant or attribute a pass added).
  bool highlighted(const Node* n) const {
    if (options_.highlight.count(n)) return true;
    for (const Value* in : n->inputs()) {
      if (inlineText(in) && options_.highlight.count(in->node())) return true;
    }
    return false;
  }

  void edgesInto(const Node* n, const std::string& id) {
    for (const Value* in : n->inputs()) {
      auto it = producers_.find(in);
      if (it == producers_.end()) continue;  // a constant, or a node not drawn
      edges_ << "  " << it->second << " -> " << id << ";\n";
    }
  }

  void writeCluster(const Node* owner, const std::string& ownerId, size_t index,
                    const std::string& indent) {
    const Block* b = owner->blocks()[index];
    std::string cid = "c" + std::to_string(nextId_++);
    std::string inner = indent + "  ";
    os_ << indent << "subgraph cluster_" << cid << " {\n"
        << inner << "label=\"block" << index << " of " << owner->kind().toQualString()
        << "\"; style=\"rounded,dashed\"; color=\"#888888\";\n";
    std::string params = cid + "_in";
    std::string paramLabel = "block" + std::to_string(index);
    for (const Value* p : b->inputs()) {
      producers_[p] = params;
      paramLabel += "\n" + p->debugName() + " : " + typeText(p->type());
    }
    os_ << inner << params << " [shape=ellipse, fillcolor=\"#f0f0f0\", label=\""
        << escape(paramLabel) << "\"];\n";
    edges_ << "  " << ownerId << " -> " << params << " [style=dotted, arrowhead=none];\n";
    writeBlock(b, inner);
    std::string ret = cid + "_out";
    os_ << inner << ret << " [shape=ellipse, fillcolor=\"#f0f0f0\", label=\""
        << escape(returnLabel(b)) << "\"];\n";
    edgesInto(b->return_node(), ret);
    os_ << indent << "}\n";
  }

  const torch::jit::Graph& graph_;
  const DotOptions& options_;
  std::ostringstream os_, edges_;
  std::unordered_map<const Value*, std::string> producers_;
  size_t nextId_ = 0, drawn_ = 0, skipped_ = 0;
};

// Graphviz reports errors through a global callback; collect them for the exception.
std::mutex graphvizMutex;
std::string graphvizErrors;

int collectGraphvizError(char* message) {
  graphvizErrors += message;
  return 0;
}

}  // namespace

std::string graphToDot(const torch::jit::Graph& graph, const DotOptions& options) {
  return DotWriter(graph, options).write();
}

namespace {

/// Lays out and renders in this process; throws tsopt::Error with Graphviz's message.
std::string renderHere(const std::string& dot, const std::string& format) {
  std::lock_guard<std::mutex> lock(graphvizMutex);
  graphvizErrors.clear();
  agseterr(AGERR);
  agseterrf(collectGraphvizError);
  // One context for the life of the process: Graphviz 2.42's text layout caches a font name
  // across contexts, and freeing a context leaves that cache pointing at freed memory (ASan
  // found the next render reading it).
  static GVC_t* gvc = gvContext();
  Agraph_t* g = agmemread(dot.c_str());
  auto fail = [&](const std::string& what) {
    if (g) agclose(g);
    std::string why = graphvizErrors.substr(0, graphvizErrors.find('\n'));
    throw Error("Graphviz could not " + what + (why.empty() ? "" : ": " + why));
  };
  if (!g) fail("read the graph");
  if (gvLayout(gvc, g, "dot") != 0) fail("lay out the graph");
  char* data = nullptr;
  unsigned int length = 0;
  int rc = gvRenderData(gvc, g, format.c_str(), &data, &length);
  gvFreeLayout(gvc, g);
  if (rc != 0 || !data) fail("render " + format);
  std::string out(data, length);
  gvFreeRenderData(data);
  agclose(g);
  return out;
}

/// renderHere in a child process, so that an abort inside Graphviz (an assertion in its
/// layout) ends the child, not tsopt. Empty when the child died; throws what renderHere throws.
std::optional<std::string> renderInChild(const std::string& dot, const std::string& format) {
  ChildResult child = runInChild(
      [&](int fd) {
        // One status byte ('+' rendered, '!' an error), then the picture or the message.
        char status = '+';
        std::string out;
        try {
          out = renderHere(dot, format);
        } catch (const std::exception& e) {
          status = '!';
          out = e.what();
        }
        return writeAll(fd, &status, 1) && writeAll(fd, out.data(), out.size()) ? 0 : 1;
      },
      {});
  if (!child.started) return renderHere(dot, format);
  if (!child.exited || child.exitCode != 0 || child.output.empty()) return std::nullopt;
  if (child.output[0] == '!') throw Error(child.output.substr(1));
  return child.output.substr(1);
}

}  // namespace

std::string renderDot(const std::string& dot, const std::string& format) {
  if (format != "svg" && format != "png") {
    throw Error("cannot render '" + format + "': tsopt renders svg and png");
  }
  if (auto out = renderInChild(dot, format)) return *out;
  throw Error("Graphviz crashed laying out the graph (write DOT instead: -o FILE.dot)");
}

}  // namespace tsopt
