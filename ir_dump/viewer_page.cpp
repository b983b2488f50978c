// Pages with the interactive viewer: markup, the graphs as JSON, and the bundled style and script.
#include "ir_dump/viewer_page.h"

#include <sstream>

#include "ir_dump/node_text.h"

namespace tsopt {

namespace {

/// JSON that can sit inside a <script> element: '<' only occurs inside strings, where \u003c
/// means the same and cannot close the element.
std::string scriptSafeJson(const nlohmann::json& j) {
  std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string htmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string viewerFragment(const ViewerData& data, const std::string& id) {
  nlohmann::json j = {{"stages", nlohmann::json::array()}, {"passes", nlohmann::json::array()}};
  for (const ViewerStage& s : data.stages) {
    j["stages"].push_back({{"name", s.name}, {"gid", s.graphId}, {"graph", s.graph}});
  }
  for (const ViewerPass& p : data.passes) {
    j["passes"].push_back({{"name", p.name}, {"before", p.before}, {"after", p.after}});
  }
  j["families"] = familyColours();
  if (data.focus) j["focus"] = {{"pass", data.focus->pass}, {"query", data.focus->query}};
  std::ostringstream os;
  os << "<style>" << viewerStyle() << "</style>\n"
     << "<script type=\"application/json\" id=\"" << id << "-data\">" << scriptSafeJson(j)
     << "</script>\n"
     << "<div class=\"tsopt-viewer\" id=\"" << id << "\" data-source=\"" << id << "-data\"></div>\n"
     << "<script>" << viewerScript() << "</script>\n";
  return os.str();
}

std::string viewerPage(const ViewerData& data, const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         htmlEscape(title) +
         "</title>\n<style>body { margin: 0; } .tsopt-viewer { border: 0; } "
         ".tsopt-viewer .tv-main { height: calc(100vh - 2.6em); }</style>\n</head>\n<body>\n" +
         viewerFragment(data, "viewer") + "</body>\n</html>\n";
}

}  // namespace tsopt
