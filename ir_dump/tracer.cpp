// IrTracer: canonical IR after every pass, dumped, printed or kept.
#include "ir_dump/tracer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "ir_dump/diff.h"
#include "ir_dump/dot.h"
#include "ir_dump/ir_text.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string stageStem(size_t index, const std::string& pass) {
  char number[24];
  std::snprintf(number, sizeof number, "%02zu", index + 1);
  return std::string(number) + "-" + pass;
}

}  // namespace

DumpKinds parseDumpKinds(const std::string& list) {
  DumpKinds k{false, false, false, false};
  std::stringstream in(list);
  for (std::string kind; std::getline(in, kind, ',');) {
    if (kind == "ir") {
      k.ir = true;
    } else if (kind == "code") {
      k.code = true;
    } else if (kind == "diff") {
      k.diff = true;
    } else if (kind == "dot") {
      k.dot = true;
    } else {
      throw Error("unknown dump kind '" + kind + "' in --dump (known: ir, code, diff, dot)");
    }
  }
  return k;
}

bool isStageStem(const std::string& stem) {
  static const std::regex stage(R"(\d{2,}-[^/]+)");
  return std::regex_match(stem, stage);
}

namespace {

/// The files tsopt wrote into a dump folder, one name a line: nothing else there is ever removed.
const char* const kDumpMarker = ".tsopt-dump";

std::set<std::string> markedFiles(const std::filesystem::path& dir) {
  std::set<std::string> names;
  std::ifstream in(dir / kDumpMarker);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.insert(line);
  }
  return names;
}

}  // namespace

void checkDumpDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return checkFolderWritable(dir, "the dump folder");
  if (!fs::is_directory(dir, ec)) throw Error("dump folder '" + dir + "' is not a folder");
  const bool marked = fs::exists(fs::path(dir) / kDumpMarker, ec);
  const std::set<std::string> ours = marked ? markedFiles(dir) : std::set<std::string>{};
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kDumpMarker || (ours.count(name) && entry.is_regular_file(ec))) continue;
    throw Error("dump folder '" + dir + "' holds files tsopt did not write ('" + name +
                "'); give an empty or new folder, or one tsopt dumped into before");
  }
}

void prepareDumpDir(const std::string& dir) {
  namespace fs = std::filesystem;
  checkDumpDir(dir);
  std::error_code ec;
  if (!fs::exists(dir, ec) && !fs::create_directories(dir, ec)) {
    throw Error("cannot create dump folder '" + dir + "': " + ec.message());
  }
  for (const std::string& name : markedFiles(dir)) fs::remove(fs::path(dir) / name, ec);
  writeFileAtomic((fs::path(dir) / kDumpMarker).string(), "");
}

bool IrTracer::wantsDiffs() const {
  return options_.keepDiffs || (!options_.dumpDir.empty() && options_.dumpKinds.diff);
}

CanonicalText IrTracer::canonicalText(const torch::jit::Module& module,
                                      const std::vector<std::string>& methods) const {
  // Identity keys cost a second graph copy; only diffs use them.
  if (wantsDiffs()) return canonicalModuleIrWithKeys(module, methods);
  return {canonicalModuleIr(module, methods), ""};
}

void IrTracer::start(const torch::jit::Module& module, const std::vector<std::string>& methods) {
  if (!options_.dumpDir.empty() && !std::filesystem::is_directory(options_.dumpDir)) {
    throw Error("dump folder '" + options_.dumpDir + "' does not exist");
  }
  CanonicalText ir = canonicalText(module, methods);
  previousIr_ = std::move(ir.text);
  previousKeys_ = std::move(ir.keys);
  previousStem_ = "00-input";
  if (options_.keepStages) stages_.push_back({previousStem_, previousIr_});
  if (!options_.dumpDir.empty()) dump(previousStem_, module, methods, previousIr_, "");
}

void IrTracer::beforePass(const Pass& pass, const PassRunInfo& /*info*/, torch::jit::Module& module,
                          const std::vector<std::string>& methods) {
  if (contains(options_.printBefore, pass.name())) print("Before", pass, previousIr_);
  nodesBefore_.clear();
  if (options_.dumpDir.empty() || !options_.dumpKinds.dot) return;
  for (const std::string& m : methods) {
    forEachNode(methodGraph(module, m)->block(),
                [&](torch::jit::Node* n) { nodesBefore_.insert(n); });
  }
}

void IrTracer::afterPass(const Pass& pass, const PassRunInfo& info, const PassRecord& /*record*/,
                         torch::jit::Module& module, const std::vector<std::string>& methods) {
  CanonicalText now = canonicalText(module, methods);
  std::string& ir = now.text;
  const bool changed = ir != previousIr_;
  const std::string stem = stageStem(info.index, pass.name());
  std::string diff = changed && wantsDiffs()
                         ? unifiedDiffByKeys(previousIr_, ir, previousKeys_, now.keys,
                                             "a/" + previousStem_ + ".ir", "b/" + stem + ".ir")
                         : "";
  if (options_.keepDiffs) diffs_.push_back({info.index, pass.name(), changed, diff});
  if (options_.keepStages) stages_.push_back({stem, ir});
  if (!options_.dumpDir.empty() && (changed || options_.dumpAll)) {
    dump(stem, module, methods, ir, diff);
    previousStem_ = stem;
  }
  if (options_.printAfterAll || contains(options_.printAfter, pass.name()) ||
      (options_.printAfterChange && changed)) {
    print("After", pass, ir);
  }
  previousIr_ = std::move(ir);
  previousKeys_ = std::move(now.keys);
}

void IrTracer::dump(const std::string& stem, const torch::jit::Module& module,
                    const std::vector<std::string>& methods, const std::string& ir,
                    const std::string& diff) {
  const DumpKinds& k = options_.dumpKinds;
  const bool isInput = stem == "00-input";
  if (k.ir) write(stem + ".ir", ir);
  if (k.code) {
    std::string code;
    for (const std::string& m : methods) {
      if (methods.size() > 1) code += "# method " + m + "\n";
      code += methodCode(module, m);
    }
    write(stem + ".py", code);
  }
  if (k.diff && !isInput) write(stem + ".diff", diff);
  if (k.dot) {
    for (const std::string& m : methods) {
      std::shared_ptr<torch::jit::Graph> g = methodGraph(module, m);
      DotOptions dot;
      dot.title = stem + " (" + m + ")";
      if (!isInput) {
        forEachNode(g->block(), [&](torch::jit::Node* n) {
          if (!nodesBefore_.count(n)) dot.highlight.insert(n);
        });
      }
      write(stem + (methods.size() > 1 ? "." + m : "") + ".dot", graphToDot(*g, dot));
    }
  }
}

void IrTracer::write(const std::string& file, const std::string& text) {
  const std::filesystem::path dir(options_.dumpDir);
  // Listed first, so that a run that stops half-way leaves no file the next one may not remove.
  std::ofstream(dir / kDumpMarker, std::ios::app) << file << "\n";
  writeFileAtomic((dir / file).string(), text);
}

void IrTracer::print(const std::string& when, const Pass& pass, const std::string& ir) {
  if (!options_.printTo) return;
  *options_.printTo << "// -----// IR Dump " << when << " " << pass.str() << " //----- //\n"
                    << ir << "\n";
}

}  // namespace tsopt
