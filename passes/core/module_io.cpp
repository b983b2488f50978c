// Model loading and atomic saving.
#include "passes/core/module_io.h"

#include <torch/csrc/jit/serialization/import.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "passes/core/error.h"

namespace tsopt {

namespace fs = std::filesystem;

torch::jit::Module loadModule(const std::string& path) {
  std::error_code ec;
  const std::string what = "cannot load model '" + path + "'";
  if (!fs::exists(path, ec)) throw Error(what + ": no such file");
  if (fs::is_directory(path, ec)) throw Error(what + ": it is a directory");
  if (fs::file_size(path, ec) == 0) throw Error(what + ": the file is empty");
  try {
    return torch::jit::load(path);
  } catch (const std::exception& e) {
    std::string why = describeException(e);
    if (why.find("failed finding central directory") != std::string::npos ||
        why.find("failed reading zip archive") != std::string::npos) {
      why = "not a TorchScript archive (not a readable zip file)";
    } else if (why.find("constants.pkl") != std::string::npos ||
               why.find("code/") != std::string::npos) {
      why = "not a TorchScript module (a torch.save archive? save with torch.jit.save)";
    }
    throw Error(what + ": " + why);
  }
}

void checkWritable(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) throw Error("cannot write '" + path + "': it is a directory");
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir, ec)) {
    throw Error("cannot write '" + path + "': folder '" + dir.string() + "' does not exist");
  }
  if (access(dir.c_str(), W_OK) != 0) {
    throw Error("cannot write '" + path + "': folder '" + dir.string() + "' is not writable");
  }
}

void saveModuleAtomic(const torch::jit::Module& module, const std::string& path) {
  checkWritable(path);
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::string tmpl = (dir / ("." + p.filename().string() + ".tmp-XXXXXX")).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0) throw Error("cannot write '" + path + "': cannot create a temporary file");
  close(fd);
  try {
    module.save(tmpl);
  } catch (const std::exception& e) {
    std::remove(tmpl.c_str());
    throw Error("cannot save model to '" + path + "': " + describeException(e));
  }
  std::error_code ec;
  fs::rename(tmpl, p, ec);
  if (ec) {
    std::remove(tmpl.c_str());
    throw Error("cannot write '" + path + "': " + ec.message());
  }
}

bool sameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

}  // namespace tsopt
