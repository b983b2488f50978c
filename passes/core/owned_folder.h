// Folders tsopt writes many files into (a dump, a reproducer): new, empty, or made by tsopt for
// the same purpose before. A marker file lists every file tsopt wrote there; only those are ever
// replaced or removed, so a folder of the user's own is refused instead of overwritten.
#pragma once

#include <string>

namespace tsopt {

/// A folder tsopt owns, and how messages name it.
struct OwnedFolder {
  std::string dir;
  std::string marker;  ///< the list of tsopt's files in it (".tsopt-dump")
  std::string what;    ///< "dump folder"
  std::string wrote;   ///< what tsopt did there before ("dumped into")
};

/// Checks, without touching anything, that `f.dir` can be written: missing (and makeable),
/// empty, or holding only the marker and the regular files it lists (not links). Throws
/// tsopt::Error naming a file of someone else's.
void checkOwnedFolder(const OwnedFolder& f);

/// Checks as checkOwnedFolder does, creates the folder if missing, removes the files tsopt wrote
/// there before (only those) and starts an empty marker.
void prepareOwnedFolder(const OwnedFolder& f);

/// Writes `bytes` to `f.dir`/`file` (atomically), listing it in the marker first: a run that
/// stops half-way leaves no file the next one may not remove.
void writeOwnedFile(const OwnedFolder& f, const std::string& file, const std::string& bytes);

/// Lists `file` in the marker of `f` before something else writes it there.
void recordOwnedFile(const OwnedFolder& f, const std::string& file);

}  // namespace tsopt
