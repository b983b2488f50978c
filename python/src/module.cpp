// tsopt._tsopt: the engine, the pass registry, the IR views and the verifier over live
// torch._C.ScriptModule and torch._C.Graph objects (LibTorch's own Python types, passed straight
// through). Thin and untyped on purpose: python/tsopt/__init__.py gives it its Python shape,
// checks the arguments' types and turns dictionaries into objects.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/jit/python/pybind_utils.h>
#include <torch/csrc/utils/pybind.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/reduce.h"
#include "engine/report.h"
#include "engine/run.h"
#include "engine/verify_settings.h"
#include "engine/views.h"
#include "ir_dump/diff.h"
#include "ir_dump/dot.h"
#include "ir_dump/graph_view.h"
#include "ir_dump/ir_text.h"
#include "ir_dump/viewer_page.h"
#include "passes/builtin/rewrite_rules.h"
#include "passes/core/archive_check.h"
#include "passes/core/error.h"
#include "passes/core/interrupt.h"
#include "passes/core/module_io.h"
#include "passes/core/op_library.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/plugin.h"
#include "passes/core/registry.h"

namespace py = pybind11;

namespace tsopt::python {

namespace {

/// The keyword of tsopt.run() (or the function) that a setting an error points at is given by.
std::string keywordFor(Setting setting) {
  switch (setting) {
    case Setting::kNone:
      return "";
    case Setting::kInflateLimit:
      return " (tsopt.set_max_inflate_mb(MB))";
    case Setting::kOperatorLibrary:
      return " (tsopt.load_operators(LIB.so))";
    case Setting::kRtol:
      return " (rtol=)";
    case Setting::kAtol:
      return " (atol=)";
    case Setting::kInputSpecs:
      return " (input_specs=)";
    case Setting::kInputScale:
      return " (scale=)";
    case Setting::kTrials:
      return " (trials=)";
    case Setting::kRule:
      return " (rule=)";
    case Setting::kDumpKinds:
      return " (dump=)";
    case Setting::kGoldenUpdate:
      return " (update_golden=)";
    case Setting::kOverwriteInput:
      return " (in_place=True)";
  }
  return "";
}

template <typename T>
T get(const py::dict& kw, const char* key, T fallback) {
  return kw.contains(key) && !kw[key].is_none() ? kw[key].cast<T>() : fallback;
}

/// "TypeError: message" of the Python exception being handled.
std::string pythonError(const py::error_already_set& e) {
  py::object type = e.type(), value = e.value();
  std::string name = type ? py::str(type.attr("__name__")).cast<std::string>() : "error";
  std::string text = value ? py::str(value).cast<std::string>() : "";
  return text.empty() ? name : name + ": " + text;
}

/// The Python exception an interrupt raised (KeyboardInterrupt, or whatever the SIGINT handler
/// raised), kept from where C++ noticed it to where the call returns to Python. Never destroyed:
/// dropping it needs the GIL.
std::optional<py::error_already_set>& pendingInterrupt() {
  static auto* pending = new std::optional<py::error_already_set>();
  return *pending;
}

/// Keeps the Python exception being raised (the GIL held) and stops the C++ work with it.
[[noreturn]] void interruptWith(py::error_already_set&& e) {
  pendingInterrupt().emplace(std::move(e));
  throw Interrupted{};
}

/// Asked between units of work: runs Python's signal handlers, as the interpreter does between
/// bytecodes, so Ctrl-C (SIGINT's KeyboardInterrupt) stops a run.
bool pythonInterrupted() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() == 0) return false;
  pendingInterrupt().emplace();  // fetches the exception the handler raised
  return true;
}

/// Raises the kept exception in Python (KeyboardInterrupt if none was kept).
void raiseInterrupt() {
  std::optional<py::error_already_set>& pending = pendingInterrupt();
  if (pending) {
    pending->restore();
    pending.reset();
  } else {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
  }
}

/// A Python callable kept for the life of the process: never released, so that no reference is
/// dropped without the GIL (passes outlive the interpreter's shutdown in the static registry).
struct Callable {
  PyObject* fn;
  explicit Callable(const py::object& f) : fn(f.inc_ref().ptr()) {}
  py::object call(const py::object& arg) const {
    return py::reinterpret_borrow<py::object>(fn)(arg);
  }
};

/// What a Python pass returned, as "changed": True/False as given, None by comparing the IR.
bool changedFrom(const py::object& result, const std::string& before,
                 const std::function<std::string()>& after) {
  if (result.is_none()) return after() != before;
  return result.cast<bool>();
}

/// The name, description and function of a pass written in Python; Base is GraphPass or
/// ModulePass.
template <typename Base>
class PythonPass : public Base {
 public:
  PythonPass(std::string name, std::string description, std::shared_ptr<Callable> fn)
      : name_(std::move(name)), description_(std::move(description)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }

 protected:
  /// Calls the function (the GIL held); a Python exception becomes one line of C++ error, which
  /// the pass manager reports as the pass's failure. KeyboardInterrupt and SystemExit (not
  /// Exceptions) are no failure of the pass: they stop the run, and reach Python as they were.
  py::object call(const py::object& arg) const {
    try {
      return fn_->call(arg);
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_Exception)) interruptWith(std::move(e));
      throw std::runtime_error(pythonError(e));
    }
  }

 private:
  std::string name_, description_;
  std::shared_ptr<Callable> fn_;
};

/// A graph pass written in Python: called with each method's torch._C.Graph.
class PythonGraphPass : public PythonPass<GraphPass> {
 public:
  using PythonPass::PythonPass;
  bool run(const std::shared_ptr<torch::jit::Graph>& graph, PassContext& /*ctx*/) override {
    py::gil_scoped_acquire gil;
    std::string before = canonicalIr(*graph);
    py::object result = call(py::cast(graph));
    return changedFrom(result, before, [&] { return canonicalIr(*graph); });
  }
};

/// A module pass written in Python: called with the module as a torch.jit.ScriptModule; it may
/// change it in place or return a new one.
class PythonModulePass : public PythonPass<ModulePass> {
 public:
  using PythonPass::PythonPass;
  bool run(torch::jit::Module& module, ModulePassContext& ctx) override {
    py::gil_scoped_acquire gil;
    std::string before = canonicalModuleIr(module, ctx.methods);
    py::object wrap = py::module_::import("torch.jit._recursive").attr("wrap_cpp_module");
    py::object result = call(wrap(module));
    if (py::hasattr(result, "_c")) result = result.attr("_c");
    if (py::isinstance<torch::jit::Module>(result)) {
      module = result.cast<torch::jit::Module>();
      return true;
    }
    return changedFrom(result, before, [&] { return canonicalModuleIr(module, ctx.methods); });
  }
};

/// Registers a Python pass; one defined again under the same name (a notebook cell run twice)
/// replaces the earlier Python one, never a pass from C++.
void registerPass(const std::string& name, const std::string& description, py::object fn,
                  bool onModule) {
  PassRegistry& registry = PassRegistry::global();
  const PassInfo* existing = registry.find(name);
  if (existing && existing->origin == "python") registry.remove(name);
  auto callable = std::make_shared<Callable>(fn);
  if (onModule) {
    registry.add([=] { return std::make_unique<PythonModulePass>(name, description, callable); },
                 "python");
  } else {
    registry.add([=] { return std::make_unique<PythonGraphPass>(name, description, callable); },
                 "python");
  }
}

/// The verification settings among tsopt.run()'s and tsopt.verify()'s keywords.
VerifySettings verifySettings(const py::dict& kw) {
  VerifySettings s;
  if (kw.contains("inputs") && !kw["inputs"].is_none()) {
    std::vector<c10::IValue> values;
    for (py::handle v : kw["inputs"].cast<py::tuple>()) {
      values.push_back(torch::jit::toTypeInferredIValue(v));
    }
    s.inputValues = std::move(values);
  }
  s.inputsFile = get<std::string>(kw, "inputs_file", "");
  s.inputShapes = get<std::vector<std::string>>(kw, "input_specs", {});
  s.rtol = get<std::vector<std::string>>(kw, "rtol", {});
  s.atol = get<std::vector<std::string>>(kw, "atol", {});
  s.trials = get<int>(kw, "trials", s.trials);
  s.seed = get<uint64_t>(kw, "seed", s.seed);
  s.distribution = get<std::string>(kw, "dist", s.distribution);
  s.scale = get<double>(kw, "scale", s.scale);
  s.relToMax = get<bool>(kw, "rel_to_max", false);
  s.rule = get<std::string>(kw, "rule", "");
  return s;
}

VerifyMode verifyMode(const std::string& mode) {
  if (mode == "none") return VerifyMode::kNone;
  if (mode == "result") return VerifyMode::kResult;
  if (mode == "strict") return VerifyMode::kStrict;
  if (mode == "each") return VerifyMode::kEach;
  throw Error("unknown verification '" + mode + "' (known: none, result, strict, each)");
}

/// tsopt.run(): `model` is a torch._C.ScriptModule or a path. Returns the result module, the
/// JSON report, the HTML report (if kept) and whether it passed.
py::dict run(const py::object& model, const py::dict& kw) {
  RunOptions o;
  if (py::isinstance<py::str>(model)) {
    o.input = model.cast<std::string>();
  } else {
    o.inputModule = model.cast<torch::jit::Module>();
    o.input = get<std::string>(kw, "name", "<module>");
  }
  o.output = get<std::string>(kw, "output", "");
  o.overwriteInput = get<bool>(kw, "overwrite", false);
  o.pipeline = get<std::string>(kw, "pipeline", "");
  o.methods = get<std::vector<std::string>>(kw, "methods", o.methods);
  o.irCheck = parseIrCheck(get<std::string>(kw, "lint", "fast"));
  o.keepGoing = get<bool>(kw, "keep_going", false);
  o.verify = verifyMode(get<std::string>(kw, "verify", "none"));
  o.bisect = get<bool>(kw, "bisect", false);
  if (o.bisect && o.verify == VerifyMode::kNone) o.verify = VerifyMode::kResult;
  if (o.verify != VerifyMode::kNone) {
    o.verifyOptions = verifySettings(kw).options(o.methods, o.inputModule ? "" : o.input);
  }
  o.reproducer = get<bool>(kw, "reproducer", true);
  o.reproducerDir = get<std::string>(kw, "reproducer_dir", "");
  o.reproducerFlags = verifySettings(kw).flags();
  o.dumpDir = get<std::string>(kw, "dump_dir", "");
  o.dumpKinds = parseDumpKinds(get<std::string>(kw, "dump", "ir,code,diff,dot"));
  o.dumpEveryPass = get<bool>(kw, "dump_all", false);
  o.report = get<std::string>(kw, "report", "");
  o.html = get<std::string>(kw, "html", "");
  o.keepHtml = get<bool>(kw, "keep_html", false);
  o.goldenDir = get<std::string>(kw, "golden_dir", "");
  o.updateGolden = get<bool>(kw, "update_golden", false);
  if (o.updateGolden && o.goldenDir.empty()) {
    throw Error("update_golden needs golden_dir", Setting::kGoldenUpdate);
  }

  RunOutcome out;
  {
    py::gil_scoped_release release;
    out = optimize(o);
  }
  py::dict result;
  result["module"] = py::cast(out.module);
  result["report"] = reportText(runReport(out));
  result["html"] = out.html;
  result["passed"] = out.passed();
  result["summary"] =
      out.verdict ? verifySummary(*out.verifier, out.verdict->result) : std::string();
  result["written"] = out.written;
  return result;
}

/// tsopt.verify(): the JSON comparison and the one-line verdict.
py::dict verify(const torch::jit::Module& reference, const torch::jit::Module& candidate,
                const py::dict& kw) {
  std::vector<std::string> methods = get<std::vector<std::string>>(kw, "methods", {"forward"});
  VerifyOptions options = verifySettings(kw).options(methods, "");
  nlohmann::json report;
  std::string summary;
  bool passed = false;
  {
    py::gil_scoped_release release;
    Verifier verifier(reference, options);
    VerifyResult result = verifier.check(candidate);
    report = compareReport(verifier, result, "reference", "candidate");
    summary = verifySummary(verifier, result);
    passed = result.passed;
  }
  py::dict out;
  out["report"] = reportText(report);
  out["summary"] = summary;
  out["passed"] = passed;
  return out;
}

/// tsopt.reduce(): what reduce() did, as a dict.
py::dict reduceModel(const std::string& input, const std::string& output,
                     const std::string& pipeline, const std::string& until, const py::dict& kw) {
  ReduceOptions o;
  o.input = input;
  o.output = output;
  o.pipeline = pipeline;
  o.methods = get<std::vector<std::string>>(kw, "methods", o.methods);
  o.until = parseFailureKind(until);
  o.irCheck = parseIrCheck(get<std::string>(kw, "lint", "fast"));
  o.maxSeconds = get<double>(kw, "max_time", 0);
  if (!(o.maxSeconds >= 0)) throw Error("max_time must be 0 (no limit) or more seconds");
  if (o.until == FailureKind::kDiffers) {
    VerifySettings settings = verifySettings(kw);
    o.verify = settings.options(o.methods, input);
    o.flags = settings.flags();
  }
  ReduceOutcome out;
  {
    py::gil_scoped_release release;
    out = reduce(o);
  }
  py::dict failure;
  failure["kind"] = failureKindName(out.failure.kind);
  failure["index"] = out.failure.index;
  failure["name"] = out.failure.name;
  failure["spec"] = out.failure.spec;
  failure["message"] = out.failure.message;
  py::dict result;
  result["failure"] = failure;
  result["input_nodes"] = out.inputNodes;
  result["start_nodes"] = out.startNodes;
  result["nodes_after"] = out.nodesAfter;
  result["tests"] = out.tests;
  result["stopped_early"] = out.stoppedEarly;
  result["command"] = shellCommand("tsopt", out.command);
  return result;
}

/// tsopt.check_rules(): per rule of the files, its name, where it is and what is wrong ("").
py::list checkRules(const std::vector<std::string>& files, int trials) {
  py::list out;
  for (const std::string& file : files) {
    for (const Rule& rule : readRulesFile(file)) {
      std::string wrong;
      {
        py::gil_scoped_release release;
        wrong = checkRule(rule, trials);
      }
      py::dict r;
      r["name"] = rule.name;
      r["location"] = rule.location;
      r["description"] = rule.description;
      r["problem"] = wrong;
      out.append(r);
    }
  }
  return out;
}

std::string irText(const torch::jit::Graph& graph, bool canonical) {
  return canonical ? canonicalIr(graph) : graphText(graph);
}

}  // namespace

}  // namespace tsopt::python

PYBIND11_MODULE(_tsopt, m) {
  using namespace tsopt;
  using namespace tsopt::python;
  m.doc() = "tsopt's C++ core; use the tsopt package, not this module.";

  static py::exception<Error> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Interrupted&) {
      raiseInterrupt();
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), (std::string(e.what()) + keywordFor(e.setting())).c_str());
    } catch (const py::error_already_set&) {
      throw;  // a Python exception: left as it is
    } catch (const py::builtin_exception&) {
      throw;  // a bad argument type: pybind11's TypeError
    } catch (const std::exception& e) {
      // LibTorch's errors, one line as the CLI prints them, not its C++ backtrace.
      PyErr_SetString(error.ptr(), describeException(e).c_str());
    }
  });
  setInterruptCheck(pythonInterrupted);
  for (const std::string& e : PassRegistry::global().staticErrors()) {
    PyErr_WarnEx(PyExc_RuntimeWarning, e.c_str(), 1);
  }

  m.def("run", &run, py::arg("model"), py::arg("options"));
  m.def("verify", &verify, py::arg("reference"), py::arg("candidate"), py::arg("options"));
  m.def("reduce", &reduceModel, py::arg("input"), py::arg("output"), py::arg("pipeline"),
        py::arg("until"), py::arg("options"));
  m.def("check_rules", &checkRules, py::arg("files"), py::arg("trials"));
  m.def("register_pass", &registerPass, py::arg("name"), py::arg("description"), py::arg("fn"),
        py::arg("on_module"));
  m.def("passes_json", [] { return reportText(passesJson(PassRegistry::global())); });
  m.def("preset", [](const std::string& name) { return findPreset(name).pipeline; });
  m.def("parse_pipeline", [](const std::string& text) {
    return text.empty() ? std::string() : parsePipeline(resolvePipelineArgument(text)).str();
  });
  m.def(
      "load_plugin", [](const std::string& path) { return loadPlugin(path).passes; },
      py::call_guard<py::gil_scoped_release>());
  m.def(
      "load_operators", [](const std::string& path) { loadOperatorLibrary(path); },
      py::call_guard<py::gil_scoped_release>());
  m.def("set_max_inflate_mb", [](uint64_t mb) { setInflateLimit(mb << 20); });
  m.def("module_ir",
        [](const torch::jit::Module& module, const std::string& method, bool inlined,
           bool canonical) { return irText(*viewGraph(module, method, inlined), canonical); });
  m.def("graph_ir", [](const std::shared_ptr<torch::jit::Graph>& g, bool canonical) {
    return irText(*g, canonical);
  });
  m.def("module_code",
        [](const torch::jit::Module& module, const std::string& method, bool inlined) {
          return graphCode(viewGraph(module, method, inlined), method);
        });
  m.def("module_graph", &viewGraph, py::arg("module"), py::arg("method"), py::arg("inlined"));
  m.def("diff", [](const std::string& a, const std::string& b, const std::string& nameA,
                   const std::string& nameB) { return unifiedDiff(a, b, nameA, nameB); });
  m.def("dot",
        [](const std::shared_ptr<torch::jit::Graph>& g, const std::string& title, size_t maxNodes) {
          DotOptions options;
          options.title = title;
          options.maxNodes = maxNodes;
          return graphToDot(*g, options);
        });
  m.def("viewer_page",
        [](const torch::jit::Module& module, const std::vector<std::string>& methods, bool inlined,
           const std::string& title) { return viewerPageOf(module, methods, inlined, title); });
  m.def("graph_viewer_page",
        [](const std::shared_ptr<torch::jit::Graph>& g, const std::string& title) {
          return viewerPage(ViewerData{{{title, 0, graphView(*g)}}, {}, std::nullopt}, title);
        });
  m.def("render", [](const std::string& dot, const std::string& format) {
    std::string out;
    {
      py::gil_scoped_release release;
      out = renderDot(dot, format);
    }
    return py::bytes(out);
  });
  m.def("save", [](const torch::jit::Module& module, const std::string& path) {
    py::gil_scoped_release release;
    checkOutputPaths({}, {{"the model's path", path}});
    saveModuleAtomic(module, path);
  });
  // Pictures and pages: as every output, through a staged file (no half-written file, no link
  // followed to a temporary name, nothing left on a full disk).
  m.def("load_module", [](const std::string& path) {
    py::gil_scoped_release release;
    return loadModule(path);
  });
  m.def("write_file", [](const std::string& path, const py::bytes& data) {
    std::string bytes = data;
    py::gil_scoped_release release;
    checkOutputPaths({}, {{"the file", path}});
    writeFileAtomic(path, bytes);
  });
}
