// Builds the self-contained HTML report.
#include "ir_dump/html_report.h"

#include <iomanip>
#include <map>
#include <sstream>

namespace tsopt {

namespace {

std::string html(const std::string& s) { return htmlEscape(s); }

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

std::string sci(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v;
  return os.str();
}

std::string diffHtml(const std::string& diff) {
  std::ostringstream os;
  std::istringstream in(diff);
  for (std::string line; std::getline(in, line);) {
    const char* cls = line.rfind("@@", 0) == 0                                 ? "hunk"
                      : line.rfind("+++", 0) == 0 || line.rfind("---", 0) == 0 ? "file"
                      : line.rfind('+', 0) == 0                                ? "add"
                      : line.rfind('-', 0) == 0                                ? "del"
                                                                               : "ctx";
    os << "<span class=\"" << cls << "\">" << html(line) << "</span>\n";
  }
  return os.str();
}

std::pair<int, int> diffCounts(const std::string& diff) {
  int added = 0, removed = 0;
  std::istringstream in(diff);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("+++", 0) == 0 || line.rfind("---", 0) == 0) continue;
    if (line.rfind('+', 0) == 0) ++added;
    if (line.rfind('-', 0) == 0) ++removed;
  }
  return {added, removed};
}

std::string location(const nlohmann::json& at) {
  if (!at.is_object() || at["index"].empty()) return "";
  std::string s = " at [";
  for (size_t i = 0; i < at["index"].size(); ++i) {
    s += (i ? "," : "") + std::to_string(at["index"][i].get<int64_t>());
  }
  return s + "], trial " + std::to_string(at["trial"].get<int>());
}

const char* kStyle = R"css(
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #fafafa; border: 1px solid #ddd; padding: .6em; overflow: auto; max-height: 40em; }
.add { color: #1a7f37; background: #e6ffec; } .del { color: #cf222e; background: #ffebe9; }
.hunk { color: #8250df; } .file { color: #666; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
details { margin: .3em 0; } summary { cursor: pointer; }
)css";

void summary(std::ostream& os, const HtmlReport& r) {
  os << "<table>\n"
     << "<tr><th>input</th><td><code>" << html(r.input) << "</code></td></tr>\n"
     << "<tr><th>output</th><td><code>" << html(r.output) << "</code></td></tr>\n"
     << "<tr><th>pipeline</th><td><code>" << html(r.pipeline) << "</code></td></tr>\n"
     << "<tr><th>methods</th><td>";
  for (size_t i = 0; i < r.methods.size(); ++i) os << (i ? ", " : "") << html(r.methods[i]);
  os << "</td></tr>\n<tr><th>nodes</th><td>" << r.nodesBefore << " &rarr; " << r.nodesAfter
     << " (inlined)</td></tr>\n"
     << "<tr><th>time</th><td>" << fixed(r.totalMs, 1) << " ms (passes " << fixed(r.run.totalMs, 1)
     << " ms)</td></tr>\n";
  if (!r.verify.is_null()) {
    bool passed = r.verify["passed"].get<bool>();
    os << "<tr><th>verification</th><td class=\"" << (passed ? "pass" : "fail") << "\">"
       << (passed ? "outputs equal" : "outputs differ") << "</td></tr>\n";
  }
  os << "</table>\n";
  for (const std::string& w : r.run.warnings)
    os << "<p class=\"fail\">warning: " << html(w) << "</p>\n";
}

void passTable(std::ostream& os, const HtmlReport& r) {
  std::map<size_t, const PassDiff*> diffs;
  for (const PassDiff& d : r.diffs) diffs[d.index] = &d;
  os << "<h2>Passes</h2>\n<table>\n<tr><th>#</th><th>pass</th><th>changed</th><th>ms</th>"
     << "<th>nodes</th><th>IR lines</th><th>statistics</th></tr>\n";
  for (size_t i = 0; i < r.run.passes.size(); ++i) {
    const PassRecord& p = r.run.passes[i];
    os << "<tr><td class=\"num\">" << i + 1 << "</td><td><code>" << html(p.spec) << "</code>"
       << (p.iteration ? " (iteration " + std::to_string(p.iteration) + ")" : "") << "</td><td>"
       << (p.changed ? "yes" : "no") << "</td><td class=\"num\">" << fixed(p.ms, 3)
       << "</td><td class=\"num\">" << p.nodesBefore << " &rarr; " << p.nodesAfter << "</td><td>";
    auto it = diffs.find(i);
    if (it != diffs.end() && !it->second->diff.empty()) {
      auto [added, removed] = diffCounts(it->second->diff);
      os << "<a href=\"#diff-" << i << "\"><span class=\"add\">+" << added
         << "</span> <span class=\"del\">&minus;" << removed << "</span></a>";
    }
    os << "</td><td>";
    for (const auto& [k, v] : p.stats) os << html(k) << "=" << v << " ";
    os << "</td></tr>\n";
  }
  os << "</table>\n";
}

void diffSection(std::ostream& os, const HtmlReport& r) {
  os << "<h2>What each pass changed</h2>\n";
  bool any = false;
  for (const PassDiff& d : r.diffs) {
    if (d.diff.empty()) continue;
    any = true;
    auto [added, removed] = diffCounts(d.diff);
    os << "<details id=\"diff-" << d.index << "\"" << (r.diffs.size() <= 8 ? " open" : "")
       << "><summary>" << d.index + 1 << ". <code>" << html(d.name) << "</code>: +" << added
       << " &minus;" << removed << " lines of canonical IR</summary>\n<pre class=\"diff\">"
       << diffHtml(d.diff) << "</pre></details>\n";
  }
  if (!any) os << "<p>No pass changed the IR.</p>\n";
}

void graphSection(std::ostream& os, const HtmlReport& r) {
  os << "<h2>Graph of " << html(r.methods.empty() ? "" : r.methods.front()) << "</h2>\n";
  if (r.views.stages.empty()) return;
  os << "<p>"
     << (r.views.passes.empty() ? "No pass changed the graph."
                                : "Choose a pass to see the graph before and after it: "
                                  "nodes it added are green, removed red (dashed), "
                                  "changed yellow.")
     << "</p>\n"
     << viewerFragment(r.views, "graph-viewer");
}

void verifySection(std::ostream& os, const nlohmann::json& v) {
  if (v.is_null()) return;
  bool passed = v["passed"].get<bool>();
  os << "<h2>Verification</h2>\n<p class=\"" << (passed ? "pass" : "fail") << "\">"
     << (passed ? "Outputs equal" : "Outputs differ") << " over " << v["trials"].get<int>()
     << " trial(s): max abs diff " << sci(v["max_abs_diff"].get<double>()) << ", max rel diff "
     << sci(v["max_rel_diff"].get<double>());
  if (v["rule"] == "float64") {
    os << "; float32 outputs against the float64 answer, within "
       << v["float64"]["factor"].get<double>() << " times the reference's own error";
  } else {
    os << " (float32 rtol " << sci(v["rtol"].get<double>()) << ", atol "
       << sci(v["atol"].get<double>())
       << (v["rel_to_max"].get<bool>() ? ", relative to each output's largest value" : "") << ")";
  }
  os << ".</p>\n";
  for (const auto& w : v["warnings"]) {
    os << "<p class=\"fail\">Warning: " << html(w.get<std::string>()) << "</p>\n";
  }
  if (v.contains("first_failing_pass") && !v["first_failing_pass"].is_null()) {
    const nlohmann::json& p = v["first_failing_pass"];
    os << "<p class=\"fail\">The outputs first differ after pass " << p["index"].get<int>() + 1
       << ", <code>" << html(p["spec"].get<std::string>()) << "</code>.</p>\n";
  }
  if (v.contains("divergence") && v["divergence"].contains("value")) {
    const nlohmann::json& d = v["divergence"];
    os << "<p class=\"fail\">The first value that differs after it: "
       << html(d["value"].get<std::string>()) << ", computed by <code>"
       << html(d["node"].get<std::string>())
       << "</code>: " << html(d["mismatch"].get<std::string>())
       << " (selected in the graph below).</p>\n";
  }
  os << "<p>Inputs: ";
  for (const auto& [method, inputs] : v["inputs"].items()) {
    os << html(method) << ": ";
    for (const auto& in : inputs) os << "<code>" << html(in.get<std::string>()) << "</code> ";
  }
  os << "</p>\n<table>\n<tr><th>method</th><th>output</th><th>kind</th><th>max abs diff</th>"
     << "<th>max rel diff</th><th>rule</th><th>result</th></tr>\n";
  for (const nlohmann::json& o : v["outputs"]) {
    bool ok = o["passed"].get<bool>();
    os << "<tr><td>" << html(o["method"].get<std::string>()) << "</td><td><code>"
       << html(o["path"].get<std::string>()) << "</code></td><td><code>"
       << html(o["kind"].get<std::string>()) << "</code></td><td class=\"num\">"
       << sci(o["max_abs_diff"].get<double>()) << location(o["max_abs_at"])
       << "</td><td class=\"num\">" << sci(o["max_rel_diff"].get<double>())
       << location(o["max_rel_at"]) << "</td><td>" << html(o["rule"].get<std::string>())
       << (o["discrete"].is_null() ? "" : ", discrete") << "</td><td class=\""
       << (ok ? "pass" : "fail") << "\">" << (ok ? "ok" : html(o["mismatch"].get<std::string>()))
       << "</td></tr>\n";
  }
  os << "</table>\n";
}

}  // namespace

std::string renderHtmlReport(const HtmlReport& r) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<title>tsopt: " << html(r.input) << "</title>\n<style>" << kStyle << "</style>\n"
     << "</head>\n<body>\n"
     << "<h1>tsopt report</h1>\n";
  summary(os, r);
  passTable(os, r);
  verifySection(os, r.verify);
  graphSection(os, r);
  diffSection(os, r);
  os << "</body>\n</html>\n";
  return os.str();
}

}  // namespace tsopt
