// IrDumper and the dump folder's bookkeeping.
#include "ir_dump/dumper.h"

#include <filesystem>
#include <sstream>

#include "ir_dump/dot.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/module_io.h"
#include "passes/core/owned_folder.h"

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

/// The files tsopt wrote into a dump folder are listed in it: nothing else there is ever removed.
OwnedFolder dumpFolder(const std::string& dir) {
  return {dir, ".tsopt-dump", "dump folder", "dumped into"};
}

}  // namespace

void checkDumpDir(const std::string& dir) { checkOwnedFolder(dumpFolder(dir)); }

void prepareDumpDir(const std::string& dir) { prepareOwnedFolder(dumpFolder(dir)); }

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
  writeOwnedFile(dumpFolder(dir_), file, text);
}

}  // namespace tsopt
