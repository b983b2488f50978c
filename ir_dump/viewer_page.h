// The interactive viewer in a page: `tsopt view` writes a page with the viewer alone, the HTML
// report of a run embeds it with the graph before and after each pass. The page carries the
// viewer's style and script (ir_dump/viewer/, bundled at build time) and the graphs as JSON,
// and needs no network or other file.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// One graph the viewer can show.
struct ViewerStage {
  std::string name;      ///< "00-input", "03-fold-conv-bn", or the method's name
  int64_t graphId = 0;   ///< stages with the same id are states of one Graph: nodes match by key
  nlohmann::json graph;  ///< graphView()
};

/// A pair of stages the viewer can show side by side.
struct ViewerPass {
  std::string name;              ///< as the pass menu lists it
  size_t before = 0, after = 0;  ///< indices into ViewerData::stages
};

/// A pass to show first, with the values a search for `query` finds selected in turn.
struct ViewerFocus {
  size_t pass = 0;    ///< index into ViewerData::passes
  std::string query;  ///< as typed in the search box: "%input.7"
};

/// What the viewer shows: one stage alone, or the passes' before and after.
struct ViewerData {
  std::vector<ViewerStage> stages;
  std::vector<ViewerPass> passes;    ///< shown first: the first; none: a menu of the stages
  std::optional<ViewerFocus> focus;  ///< where verification found the outputs part
};

/// The viewer's markup, data and code, to place in a page's body; `id` names it in the page.
std::string viewerFragment(const ViewerData& data, const std::string& id);

/// A whole page holding the viewer alone.
std::string viewerPage(const ViewerData& data, const std::string& title);

/// `s` as HTML text (and attribute values): & < > " escaped.
std::string htmlEscape(const std::string& s);

/// The viewer's style sheet and script (generated from ir_dump/viewer/ at build time).
const char* viewerStyle();
const char* viewerScript();

}  // namespace tsopt
