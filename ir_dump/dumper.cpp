// IrDumper and the dump folder's bookkeeping.
#include "ir_dump/dumper.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ir_dump/dot.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"

namespace tsopt {

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
      throw Error("unknown dump kind '" + kind + "' (known: ir, code, diff, dot)",
                  Setting::kDumpKinds);
    }
  }
  return k;
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

void IrDumper::beforeRun(torch::jit::Module& module, const std::vector<std::string>& methods) {
  if (!std::filesystem::is_directory(dir_)) {
    throw Error("dump folder '" + dir_ + "' does not exist");
  }
  dump(module, methods, true);
}

void IrDumper::beforePass(const Pass& /*pass*/, const PassRunInfo& /*info*/,
                          torch::jit::Module& module, const std::vector<std::string>& methods) {
  marks_.clear();
  if (!kinds_.dot) return;
  for (const std::string& m : methods) {
    GraphMark& mark = marks_[m];
    mark.graph = methodGraph(module, m);
    for (const torch::jit::Value* v : mark.graph->inputs()) {
      mark.maxUnique = std::max(mark.maxUnique, v->unique());
    }
    forEachNode(mark.graph->block(), [&](torch::jit::Node* n) {
      for (const torch::jit::Value* v : n->outputs()) {
        mark.maxUnique = std::max(mark.maxUnique, v->unique());
      }
    });
  }
}

void IrDumper::afterPass(const Pass& /*pass*/, const PassRunInfo& /*info*/, PassRecord& record,
                         torch::jit::Module& module, const std::vector<std::string>& methods) {
  if (record.changed || everyPass_) dump(module, methods, false);
  marks_.clear();
}

void IrDumper::dump(const torch::jit::Module& module, const std::vector<std::string>& methods,
                    bool isInput) {
  const std::string& stem = stages_.stem();
  if (kinds_.ir) write(stem + ".ir", stages_.ir());
  if (kinds_.code) {
    std::string code;
    for (const std::string& m : methods) {
      if (methods.size() > 1) code += "# method " + m + "\n";
      code += methodCode(module, m);
    }
    write(stem + ".py", code);
  }
  if (kinds_.diff && !isInput) write(stem + ".diff", stages_.diff());
  if (kinds_.dot) {
    for (const std::string& m : methods) {
      std::shared_ptr<torch::jit::Graph> g = methodGraph(module, m);
      DotOptions dot;
      dot.title = stem + " (" + m + ")";
      auto mark = marks_.find(m);
      // A graph the pass replaced (a module pass may) has no nodes to compare with.
      if (!isInput && mark != marks_.end() && mark->second.graph == g) {
        forEachNode(g->block(), [&](torch::jit::Node* n) {
          for (const torch::jit::Value* v : n->outputs()) {
            if (v->unique() > mark->second.maxUnique) {
              dot.highlight.insert(n);
              break;
            }
          }
        });
      }
      write(stem + (methods.size() > 1 ? "." + m : "") + ".dot", graphToDot(*g, dot));
    }
  }
}

void IrDumper::write(const std::string& file, const std::string& text) {
  const std::filesystem::path dir(dir_);
  // Listed first, so that a run that stops half-way leaves no file the next one may not remove.
  std::ofstream(dir / kDumpMarker, std::ios::app) << file << "\n";
  writeFileAtomic((dir / file).string(), text);
}

}  // namespace tsopt
