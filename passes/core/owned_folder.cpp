// The marker file of a folder tsopt owns, and the checks made before writing into it.
#include "passes/core/owned_folder.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "passes/core/error.h"
#include "passes/core/module_io.h"

namespace tsopt {

namespace {

namespace fs = std::filesystem;

std::set<std::string> markedFiles(const OwnedFolder& f) {
  std::set<std::string> names;
  std::ifstream in(fs::path(f.dir) / f.marker);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) names.insert(line);
  }
  return names;
}

/// A regular file itself, not a link to one: a link tsopt wrote through would change where it
/// leads.
bool isPlainFile(const fs::directory_entry& entry) {
  std::error_code ec;
  return entry.symlink_status(ec).type() == fs::file_type::regular;
}

}  // namespace

void checkOwnedFolder(const OwnedFolder& f) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(f.dir, ec)))
    return checkFolderWritable(f.dir, "the " + f.what);
  if (!fs::is_directory(f.dir, ec)) throw Error(f.what + " '" + f.dir + "' is not a folder");
  const fs::path marker = fs::path(f.dir) / f.marker;
  const bool marked = fs::symlink_status(marker, ec).type() == fs::file_type::regular;
  const std::set<std::string> ours = marked ? markedFiles(f) : std::set<std::string>{};
  for (const auto& entry : fs::directory_iterator(f.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if ((name == f.marker || ours.count(name)) && isPlainFile(entry)) continue;
    throw Error(f.what + " '" + f.dir + "' holds files tsopt did not write ('" + escapeText(name) +
                "'); give an empty or new folder, or one tsopt " + f.wrote + " before");
  }
  if (ec) throw Error("cannot read " + f.what + " '" + f.dir + "': " + ec.message());
  checkFolderWritable(f.dir, "the " + f.what);
}

void prepareOwnedFolder(const OwnedFolder& f) {
  checkOwnedFolder(f);
  std::error_code ec;
  if (!fs::exists(f.dir, ec) && !fs::create_directories(f.dir, ec)) {
    throw Error("cannot create " + f.what + " '" + f.dir + "': " + ec.message());
  }
  for (const std::string& name : markedFiles(f)) fs::remove(fs::path(f.dir) / name, ec);
  writeFileAtomic((fs::path(f.dir) / f.marker).string(), "");
}

void recordOwnedFile(const OwnedFolder& f, const std::string& file) {
  std::ofstream out(fs::path(f.dir) / f.marker, std::ios::app);
  out << file << "\n";
  out.close();
  if (!out) throw Error("cannot write into " + f.what + " '" + f.dir + "'");
}

void writeOwnedFile(const OwnedFolder& f, const std::string& file, const std::string& bytes) {
  recordOwnedFile(f, file);
  writeFileAtomic((fs::path(f.dir) / file).string(), bytes);
}

}  // namespace tsopt
