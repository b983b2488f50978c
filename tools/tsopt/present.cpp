// Presenting runs on the command line.
#include "tools/tsopt/present.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <tuple>

#include "passes/core/error.h"
#include "tools/tsopt/verify_args.h"

namespace tsopt::cli {

/// The flag that changes `setting`, as a user of the command line types it, in brackets; "" for
/// none. The library's message says what to do; this says where.
std::string flagFor(Setting setting) {
  switch (setting) {
    case Setting::kNone:
      return "";
    case Setting::kInflateLimit:
      return " (--max-inflate MB)";
    case Setting::kOperatorLibrary:
      return " (--ops LIB.so, or TSOPT_OPS=LIB.so)";
    case Setting::kRtol:
      return " (--rtol)";
    case Setting::kAtol:
      return " (--atol)";
    case Setting::kInputSpecs:
      return " (--input)";
    case Setting::kInputScale:
      return " (--scale)";
    case Setting::kTrials:
      return " (--trials)";
    case Setting::kRule:
      return " (--rule)";
    case Setting::kDumpKinds:
      return " (--dump)";
    case Setting::kGoldenUpdate:
      return " (--update-golden)";
    case Setting::kOverwriteInput:
      return " (--in-place)";
  }
  return "";
}

Progress::Progress() : on_(isatty(STDERR_FILENO) == 1) {}

void Progress::beforePass(const Pass& pass, const PassRunInfo& info, torch::jit::Module& /*module*/,
                          const std::vector<std::string>& /*methods*/) {
  say("pass " + std::to_string(info.index + 1) + ": " + pass.str());
}

void Progress::say(const std::string& what) {
  if (!on_) return;
  std::cerr << "\r\033[Ktsopt: " << what << "..." << std::flush;
  shown_ = true;
}

void Progress::clear() {
  if (on_ && shown_) std::cerr << "\r\033[K" << std::flush;
  shown_ = false;
}

namespace {

std::string passLabel(const PassRecord& r) {
  return r.iteration ? r.spec + " [iter " + std::to_string(r.iteration) + "]" : r.spec;
}

std::string megabytes(uint64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(bytes < 100000 ? 3 : 1) << bytes / 1e6 << " MB";
  return os.str();
}

void printTimings(const RunOutcome& out, std::ostream& os) {
  const RunResult& run = out.run;
  os << "===-- tsopt pass timing (wall, ms) --===\n";
  os << std::setw(10) << "ms" << std::setw(8) << "%" << std::setw(16) << "nodes"
     << "  pass\n";
  for (const PassRecord& r : run.passes) {
    double pct = run.totalMs > 0 ? 100.0 * r.ms / run.totalMs : 0;
    std::ostringstream nodes;
    nodes << r.nodesBefore << "->" << r.nodesAfter;
    os << std::fixed << std::setprecision(3) << std::setw(10) << r.ms << std::setprecision(1)
       << std::setw(7) << pct << "%" << std::setw(16) << nodes.str() << "  " << passLabel(r)
       << "\n";
  }
  os << std::fixed << std::setprecision(3) << std::setw(10) << run.totalMs
     << "  total of the pipeline (passes, IR checks, instrumentation)\n";
  os << "===-- tsopt phases (wall, ms) --===\n";
  for (const auto& [name, ms] : out.phases.list()) {
    os << std::fixed << std::setprecision(3) << std::setw(10) << ms << "  " << name << "\n";
  }
}

void printStats(const RunResult& run, std::ostream& os) {
  os << "===-- tsopt pass statistics --===\n";
  for (const PassRecord& r : run.passes) {
    os << passLabel(r) << ":" << (r.changed ? "" : " (no change)");
    for (const auto& [k, v] : r.stats) os << " " << k << "=" << v;
    os << "\n";
  }
}

void printVerdict(const RunOutcome& out) {
  const Verdict& v = *out.verdict;
  if (v.result.passed) return;
  std::cerr << "tsopt: verify: " << escapeText(verifySummary(*out.verifier, v.result)) << "\n";
  if (const PassRecord* blamed = v.firstFailing ? out.passAt(*v.firstFailing) : nullptr) {
    const PassRecord& r = *blamed;
    std::cerr << "tsopt: verify: the outputs first differ after pass " << *v.firstFailing + 1
              << " of " << out.run.passes.size() << " '" << r.spec << "'"
              << (r.iteration ? " (iteration " + std::to_string(r.iteration) + ")" : "")
              << (v.bisect ? ", found by bisection in " + std::to_string(v.bisect->steps.size()) +
                                 " runs"
                           : "")
              << "\n";
    if (v.divergence && v.divergence->found) {
      const Divergence& d = *v.divergence;
      std::cerr << "tsopt: verify: the first value that differs after it"
                << (d.method == "forward" ? "" : " in " + d.method) << " (of " << d.compared
                << " compared): " << escapeText(d.value) << ", computed by " << escapeText(d.node)
                << ": " << escapeText(d.mismatch) << "\n";
    }
    if (v.reproducer) {
      std::cerr << "tsopt: verify: reproducer"
                << (v.reproducer->reproduces ? "" : " (it does not fail alone)") << ": "
                << v.reproducer->script << "\n";
    }
  } else if (v.bisect && v.bisect->baselineDiffers) {
    std::cerr << "tsopt: verify: the input model's own outputs differ from run to run or after "
                 "saving and loading it; no pass is to blame\n";
  }
}

/// The node kinds whose counts the run changed, most changed first: "aten::batch_norm 20 -> 0,
/// prim::CallMethod 71 -> 0, ..." (the first eight; the report has them all).
std::string operatorChanges(const OperatorCounts& ops) {
  std::vector<std::tuple<int64_t, std::string, int64_t, int64_t>> changed;
  std::set<std::string> kinds;
  for (const auto* side : {&ops.before, &ops.after}) {
    for (const auto& [kind, n] : *side) kinds.insert(kind);
  }
  auto count = [](const std::map<std::string, int64_t>& m, const std::string& kind) {
    auto it = m.find(kind);
    return it == m.end() ? int64_t{0} : it->second;
  };
  for (const std::string& kind : kinds) {
    const int64_t a = count(ops.before, kind), b = count(ops.after, kind);
    if (a != b) changed.emplace_back(-std::abs(b - a), kind, a, b);
  }
  std::sort(changed.begin(), changed.end());
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < changed.size() && i < kShown; ++i) {
    const auto& [delta, kind, a, b] = changed[i];
    out += (i ? ", " : "") + kind + " " + std::to_string(a) + " -> " + std::to_string(b);
  }
  if (changed.size() > kShown) {
    out += ", and " + std::to_string(changed.size() - kShown) + " more kinds (--report)";
  }
  return out;
}

}  // namespace

void printOutcome(const RunOutcome& out, const OutcomeDisplay& show) {
  for (const std::string& w : out.run.warnings) {
    std::cerr << "tsopt: warning: " << escapeText(w) << "\n";
  }
  if (show.timings) printTimings(out, std::cerr);
  if (show.stats) printStats(out.run, std::cerr);
  if (out.verdict) printVerdict(out);
  if (out.golden && !out.golden->passed) {
    const std::string& why = out.golden->failure;
    std::cerr << "tsopt: golden: " << why << flagFor(out.golden->fix)
              << (why.back() == '\n' ? "" : "\n");
  }
  if (out.goldenRecord) {
    std::cerr << "tsopt: golden: " << out.goldenRecord->written.size() << " of "
              << out.goldenRecord->stages << " files in " << show.goldenDir << " recorded anew\n";
  }
  if (!out.written) {
    std::cerr << "tsopt: verify: --verify-strict: " << out.output << " not written\n";
  }
  if (show.quiet || !out.written) return;
  std::cout << "tsopt: " << (out.pipeline.empty() ? "no passes" : out.pipeline) << ": "
            << std::max<int64_t>(out.nodesBefore(), 0) << " -> "
            << std::max<int64_t>(out.nodesAfter(), 0) << " nodes, " << megabytes(out.inputBytes)
            << " -> " << megabytes(out.outputBytes) << " in " << std::fixed << std::setprecision(1)
            << out.phases.total << " ms; wrote " << out.output << show.files << "\n";
  if (std::string changes = operatorChanges(out.operators); !changes.empty()) {
    std::cout << "tsopt: operators: " << changes << "\n";
  }
  if (out.verdict && out.verdict->result.passed) {
    std::cout << "tsopt: verify: " << escapeText(verifySummary(*out.verifier, out.verdict->result))
              << "\n";
  }
}

}  // namespace tsopt::cli
