"""tsopt from Python: run pass pipelines over live TorchScript modules, look at their IR, verify
them, and write passes in Python that run among the C++ ones.

    import torch, tsopt
    m = torch.jit.trace(model, example)
    report = tsopt.run(m, "inline,fold-conv-bn,dce,strip", verify=True)
    optimized = report.module

Everything here is a thin layer over the same engine as the `tsopt` command line: the options,
their defaults and the error messages are the command line's. See docs/python.md.
"""

import html as _html
import inspect as _inspect
import json as _json
import os as _os
import tempfile as _tempfile

import torch  # first: the extension uses LibTorch's Python types

from . import _tsopt

__all__ = [
    "Error", "run", "Report", "verify", "Verification", "passes", "presets", "show", "diff",
    "dot", "Picture", "view", "View", "graph_pass", "load_plugin", "load_operators", "set_max_inflate_mb",
    "reduce", "check_rules",
]

Error = _tsopt.Error
Error.__doc__ = """A bad pipeline, model, input or option: the message is the command line's."""

_PICTURE_MAX_NODES = 5000  # as `tsopt dot`: larger pictures take Graphviz minutes


def _cpp_module(model, what="model"):
    """The torch._C.ScriptModule behind a ScriptModule, or the one saved at a path (loaded as
    `tsopt run` loads it), or an Error saying what to pass."""
    if isinstance(model, (str, _os.PathLike)):
        return _tsopt.load_module(_os.fspath(model))
    if isinstance(model, torch.jit.ScriptModule):
        return model._c
    if isinstance(model, torch._C.ScriptModule):
        return model
    if isinstance(model, torch.nn.Module):
        raise Error(f"the {what} is a torch.nn.Module, not TorchScript: "
                    "pass torch.jit.trace(model, example) or torch.jit.script(model)")
    raise Error(f"the {what} must be a torch.jit.ScriptModule or the path of a saved one, got "
                f"{type(model).__name__}")


def _graph(model, method, inline):
    """The torch._C.Graph to look at: a Graph as given, or a method's (a copy if inlined)."""
    if isinstance(model, torch._C.Graph):
        return model
    return _tsopt.module_graph(_cpp_module(model), method, inline)


def _tolerances(value, name):
    """rtol/atol as the command line types them: 1e-5, or {"float32": 1e-5, torch.float64: ...}."""
    if value is None:
        return None
    if isinstance(value, dict):  # keys: "float32" or torch.float32
        return [f"{str(dtype).removeprefix('torch.')}={float(v)!r}" for dtype, v in value.items()]
    if isinstance(value, (int, float)):
        return [repr(float(value))]
    raise Error(f"{name} must be a number or a dict of dtype to number, "
                f"got {type(value).__name__}")


def _check_dense(value, where):
    """Raises Error for a tensor verification cannot run a model on: a sparse, quantized-layout or
    meta tensor, or one on another device than the CPU."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.device.type != "cpu":
            raise Error(f"{where} is a {str(value.layout).removeprefix('torch.')} tensor on "
                        f"device '{value.device}': tsopt runs models on dense CPU tensors "
                        f"(.to_dense(), .cpu())")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_dense(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_dense(item, f"{where}[{key!r}]")


def _pipeline_text(pipeline):
    """A pipeline as text: given as text ("inline,dce") or as a list of pass names or specs
    (["inline", "fold-conv-bn", "dce"]). pybind11's TypeError for another type names no
    argument."""
    if isinstance(pipeline, (list, tuple)) and all(isinstance(p, str) for p in pipeline):
        pipeline = ",".join(pipeline)
    if not isinstance(pipeline, str):
        raise Error(f"pipeline must be a str or a list of pass specs, got "
                    f"{type(pipeline).__name__} ({pipeline!r:.60})")
    return pipeline


def _verify_options(inputs, input_specs, rtol, atol, trials, seed, dist, scale, rel_to_max,
                    rule=None):
    options = {"rtol": _tolerances(rtol, "rtol"), "atol": _tolerances(atol, "atol"),
               "trials": trials, "seed": seed, "dist": dist, "scale": scale,
               "rel_to_max": rel_to_max, "rule": rule}
    if isinstance(inputs, (str, _os.PathLike)):
        options["inputs_file"] = _os.fspath(inputs)
    elif isinstance(inputs, torch.Tensor):
        options["inputs"] = (inputs,)
    elif inputs is not None:
        options["inputs"] = tuple(inputs)
    if "inputs" in options:
        _check_dense(options["inputs"], "inputs")
    if input_specs is not None:
        options["input_specs"] = ([input_specs] if isinstance(input_specs, str)
                                  else list(input_specs))
    return options


def _path(value):
    return None if value is None else _os.fspath(value)


class Verification:
    """The verdict of comparing two models' outputs: true if they compute the same.

    passed: the verdict (also bool(v)); summary: the line the command line prints;
    max_abs_diff, max_rel_diff: the largest differences over every output; error_ratio: the
    largest error over what its rule accepts (above 1 differs); mismatch: the first output that
    differs, and how ("" if none); outputs: per output leaf, its errors, rule and tolerances;
    warnings: why the verdict says little (outputs all empty, tiny, or the same for any input).
    to_dict() and to_json() give the JSON report's "verify" object."""

    def __init__(self, report, summary):
        self._report = report
        self.summary = summary  #: the one line the command line prints
        self.passed = report["passed"]
        self.max_abs_diff = report["max_abs_diff"]
        self.max_rel_diff = report["max_rel_diff"]
        self.mismatch = report["mismatch"]  #: the first output that differs, and how
        self.outputs = report["outputs"]  #: per output leaf: its errors, rule and tolerances
        #: why the verdict says little: outputs all empty, tiny, or the same for any input
        self.warnings = report["warnings"]
        #: the largest error over what its rule accepts, over every output (above 1 differs)
        self.error_ratio = report["error_ratio"]

    def __bool__(self):
        return self.passed

    def to_dict(self):
        return self._report

    def to_json(self, indent=2):
        return _json.dumps(self._report, indent=indent)

    def __repr__(self):
        return f"<Verification: {self.summary}>"


class Report:
    """What tsopt.run() did: the result module, the passes, the phases, the verdict.

    module: the optimized torch.jit.ScriptModule; passed: False if verification found a
    difference or the golden files do not match; passes: one dict per pass run (index, name,
    spec, changed, ms, nodes_before, nodes_after, stats); nodes_before, nodes_after: nodes of
    the methods with every call inlined, in the input and in the result (like with like);
    operators: per node kind, {"before": N, "after": M} over the same inlined methods, and
    operator_changes() the kinds that changed; phases: where the time went, in ms (load,
    passes, verify, save, total_ms, ...); warnings: what the run warns of; input_bytes,
    output_bytes: the model's size before and after (its file, the result as saved; for a live
    module, and a result not saved, the bytes of its tensors); verification: a Verification,
    or None without verify=; first_failing_pass, divergence, reproducer: when a pass is blamed
    for a difference. to_dict() and to_json() give the JSON report (`tsopt run --report`);
    html() the HTML report when the run kept one."""

    def __init__(self, module, report, page, passed, summary):
        self.module = module  #: the optimized torch.jit.ScriptModule
        self._report = report
        self._page = page
        #: False if verification found a difference or the golden files do not match
        self.passed = passed
        self.passes = report["passes"]  #: one dict per pass run: name, changed, ms, nodes, stats
        self.phases = report["phases"]  #: where the time went, in ms
        self.warnings = report["warnings"]
        self.input_bytes = report["input_bytes"]
        self.output_bytes = report["output_bytes"]
        verdict = report.get("verify")
        self.verification = Verification(verdict, summary) if verdict else None

    @property
    def nodes_before(self):
        """Nodes of the input's methods with every call inlined (None if not counted)."""
        n = self._report["nodes_before"]
        return None if n < 0 else n

    @property
    def nodes_after(self):
        """Nodes of the result's methods with every call inlined (None if not counted)."""
        n = self._report["nodes_after"]
        return None if n < 0 else n

    @property
    def operators(self):
        """Per node kind ("aten::batch_norm"), its count in the input and in the result, inlined:
        {"before": N, "after": M}."""
        return self._report["operators"]

    def operator_changes(self):
        """[(kind, before, after)] for the kinds whose count the run changed, most changed
        first (the table onnx-simplifier prints)."""
        changed = [(k, c["before"], c["after"]) for k, c in self.operators.items()
                   if c["before"] != c["after"]]
        return sorted(changed, key=lambda c: (-abs(c[2] - c[1]), c[0]))

    @property
    def first_failing_pass(self):
        """The pass to blame (dict with index, name, spec) when verification found one."""
        return self._report.get("verify", {}).get("first_failing_pass")

    @property
    def divergence(self):
        """Where the blamed pass's output first parts from its input's (dict with method, value,
        node, mismatch, compared), when a pass is blamed and a value differs."""
        found = self._report.get("verify", {}).get("divergence")
        return found if found and "value" in found else None

    @property
    def reproducer(self):
        """The repro.sh of the pass to blame (dict with script, reproduces), when one was
        written."""
        return self._report.get("verify", {}).get("reproducer")

    def to_dict(self):
        return self._report

    def to_json(self, indent=2):
        """The report as `tsopt run --report` writes it."""
        return _json.dumps(self._report, indent=indent)

    def html(self):
        """The HTML report page, if the run kept one (html=True or a path)."""
        if not self._page:
            raise Error("the run kept no HTML report: run with html=True or html=PATH")
        return self._page

    def _repr_html_(self):
        if self._page:
            return _frame(self._page, 600)
        rows = "".join(
            f"<tr><td>{p['index'] + 1}</td><td><code>{_html.escape(p['spec'])}</code></td>"
            f"<td>{'yes' if p['changed'] else ''}</td><td>{p['nodes_before']}</td>"
            f"<td>{p['nodes_after']}</td><td>{p['ms']:.1f}</td></tr>" for p in self.passes)
        verdict = (f"<p>verify: {_html.escape(self.verification.summary)}</p>"
                   if self.verification is not None else "")
        ops = "".join(f"<tr><td><code>{_html.escape(kind)}</code></td><td>{before}</td>"
                      f"<td>{after}</td></tr>" for kind, before, after in self.operator_changes())
        size = (f"<p>size: {self.input_bytes / 2**20:.2f} MB &rarr; "
                f"{self.output_bytes / 2**20:.2f} MB</p>" if self.output_bytes else "")
        return (f"<p>{_html.escape(repr(self))}</p><table><tr><th>#</th><th>pass</th>"
                f"<th>changed</th><th>nodes before</th><th>nodes after</th><th>ms</th></tr>"
                f"{rows}</table>{verdict}{size}"
                + (f"<table><tr><th>operator</th><th>before</th><th>after</th></tr>{ops}</table>"
                   if ops else ""))

    def __repr__(self):
        changed = sum(p["changed"] for p in self.passes)
        line = f"<Report: {len(self.passes)} passes, {changed} changed the model, "
        if self.passes:
            line += f"nodes {self.nodes_before} -> {self.nodes_after}, "
        line += f"{self.phases['total_ms']:.0f} ms"
        if self.verification is not None:
            line += f"; verify: {self.verification.summary}"
        return line + ">"


def run(model, pipeline=None, *, preset=None, methods=("forward",), in_place=False,
        output=None, verify=False, bisect=False, inputs=None, input_specs=None, rtol=None,
        atol=None, trials=3, seed=0, dist="uniform", scale=1.0, rel_to_max=False, rule=None,
        lint="fast",
        keep_going=False, dump_dir=None, dump="ir,code,diff,dot", dump_all=False, report=None,
        html=None, golden_dir=None, update_golden=False, reproducer=True):
    """Runs a pass pipeline over `model` and returns a Report whose .module is the result.

    model: a torch.jit.ScriptModule (traced or scripted), or the path of a saved one.
    pipeline: pipeline text ("inline,fold-conv-bn,dce,strip", "@FILE") or a list of pass specs
        (["inline", "fold-conv-bn", "dce", "strip"]); or preset="O2". Neither: O1.
    in_place: make `model` itself the result (for a path: save the result over it); by default
        it is left as it was.
    output: also save the result here (never over the model's file unless in_place=True).
    verify: True (or "result") checks the result computes what the model computes; "strict"
        leaves `output` unwritten if it does not; "each" checks after every pass. bisect=True
        names the pass to blame when the result differs.
    inputs: the inputs to verify on (a tensor, a tuple of them, or a file saved with
        torch.save); input_specs: their shapes as the command line's --input takes them
        ("1x3x224x224"); neither: random inputs of shapes inferred from the model (a traced
        module's own traced shapes first).
    rule: "float64" (the default unless rtol/atol are given) holds float32 outputs to the
        float64 answer within a multiple of the original's own error; "tolerance" to rtol/atol.
    dump_dir, dump, dump_all, report, html, golden_dir, update_golden: as on the command line;
        html=True keeps the HTML report in memory only (Report.html(), and the notebook view).
    reproducer: where a failing pass's reproducer goes (a folder); True: a new temporary folder,
        which the error or Report.verification names; False: none (docs/reduce.md).
    """
    if pipeline is not None and preset is not None:
        raise Error("give either a pipeline or a preset, not both")
    if not (verify or bisect) and (inputs is not None or input_specs is not None):
        raise Error("inputs and input_specs are what verification runs the models on: "
                    "pass verify=True as well (verify=)")
    if isinstance(model, (str, _os.PathLike)):
        source = _os.fspath(model)
        if in_place and output is None:
            output = source
    else:
        source = _cpp_module(model)
    if verify is True:
        verify = "result"
    text = (_tsopt.preset(str(preset)) if preset is not None
            else _tsopt.parse_pipeline(_pipeline_text(pipeline)) if pipeline is not None
            else _tsopt.preset("O1"))
    options = {
        "output": _path(output), "pipeline": text,
        "methods": [methods] if isinstance(methods, str) else list(methods), "lint": lint,
        "keep_going": keep_going, "verify": verify or "none", "bisect": bisect,
        "dump_dir": _path(dump_dir), "dump": dump, "dump_all": dump_all,
        "report": _path(report), "html": None if html in (None, True, False) else _path(html),
        "keep_html": bool(html), "golden_dir": _path(golden_dir),
        "update_golden": update_golden,
        "overwrite": in_place, "reproducer": reproducer is not False,
        "reproducer_dir": "" if reproducer in (True, False, None) else _path(reproducer),
    }
    options.update(_verify_options(inputs, input_specs, rtol, atol, trials, seed, dist, scale,
                                   rel_to_max, rule))
    if not isinstance(source, str):
        options["name"] = f"<{getattr(model, 'original_name', type(model).__name__)}>"
    out = _tsopt.run(source, options)
    result = out["module"]
    # In place, like the file: not when strict verification found the result differs.
    if in_place and not isinstance(source, str) and (verify != "strict" or out["passed"]):
        _rebuild(model, result)
        result_module = model
    else:
        result_module = torch.jit._recursive.wrap_cpp_module(result)
    return Report(result_module, _json.loads(out["report"]), out["html"], out["passed"],
                  out["summary"])


def _rebuild(model, cpp):
    """Makes the Python object `model` the module `cpp`: the wrapper torch would make for `cpp`,
    moved into `model` (a traced module becomes a scripted one, as after torch.jit.freeze)."""
    wrapper = torch.jit._recursive.wrap_cpp_module(cpp)
    object.__setattr__(model, "__class__", type(wrapper))
    model.__dict__.clear()
    model.__dict__.update(wrapper.__dict__)


def verify(reference, candidate, *, methods=("forward",), inputs=None, input_specs=None,
           rtol=None, atol=None, trials=3, seed=0, dist="uniform", scale=1.0, rel_to_max=False,
           rule=None):
    """Do `reference` and `candidate` (ScriptModules) compute the same outputs? A Verification,
    true if they do; its .summary is the line `tsopt verify` prints."""
    options = _verify_options(inputs, input_specs, rtol, atol, trials, seed, dist, scale,
                              rel_to_max, rule)
    options["methods"] = [methods] if isinstance(methods, str) else list(methods)
    out = _tsopt.verify(_cpp_module(reference, "reference"),
                        _cpp_module(candidate, "candidate"), options)
    return Verification(_json.loads(out["report"]), out["summary"])


def reduce(model, pipeline, *, until, output, methods=("forward",), lint="fast", inputs=None,
           input_specs=None, rtol=None, atol=None, trials=3, seed=0, dist="uniform", scale=1.0,
           rel_to_max=False, rule=None, max_time=600):
    """Shrinks `model` (a path, or a ScriptModule) while `pipeline` still fails on it the same
    way, and saves the result at `output` (docs/reduce.md).

    until: "crash" (a pass throws), "invalid" (a pass leaves an invalid graph) or "differs" (the
        outputs differ after a pass; verified as with tsopt.run's inputs, rtol, ... keywords).
    Returns a dict: failure (kind, index, name, spec, message), input_nodes, start_nodes (of the
    model before the failing pass, where reduction starts), nodes_after, tests (candidates
    tried), stopped_early (max_time seconds passed first: the result is the smallest model
    found by then, and still fails; 0 for no limit) and command (the `tsopt run` that fails on
    the result).
    """
    options = _verify_options(inputs, input_specs, rtol, atol, trials, seed, dist, scale,
                              rel_to_max, rule)
    options["methods"] = [methods] if isinstance(methods, str) else list(methods)
    options["lint"] = lint
    options["max_time"] = float(max_time)
    text = _tsopt.parse_pipeline(_pipeline_text(pipeline))
    if isinstance(model, (str, _os.PathLike)):
        return _tsopt.reduce(_os.fspath(model), _path(output), text, until, options)
    with _tempfile.TemporaryDirectory(prefix="tsopt-reduce-") as folder:
        saved = _os.path.join(folder, "model.pt")
        torch.jit.save(model, saved)
        return _tsopt.reduce(saved, _path(output), text, until, options)


def check_rules(*files, trials=3):
    """Checks every rule of the rules `files` (paths, or names of the shipped ones) on `trials`
    random input sets and on edge values (zeros, infinities, NaN, each dtype's extremes), as
    `tsopt rules check` does. Returns a dict per rule: name, location,
    description, problem ("" if its replacement computes what its pattern computes). A file
    that does not parse raises tsopt.Error, with its line and column."""
    return _tsopt.check_rules([_os.fspath(f) for f in files], trials)


class Pass(dict):
    """A registered pass, as `tsopt passes --json` lists it: a dict (p["name"]) whose keys are
    also attributes (p.name).

    name, description; origin: "builtin", "python" or a plugin's path; kind: "graph" or
    "module"; options: one dict per option (name, kind, default, description)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self):
        return f"<Pass {self['name']}: {self['description']}>"


def passes():
    """Every pass a pipeline can name: built-in, from plugins, and written in Python."""
    return [Pass(p) for p in _json.loads(_tsopt.passes_json())["passes"]]


def presets():
    """The preset pipelines by name ("O0", "O1", "O2"), as run(preset=...) takes them."""
    return {p["name"]: p["pipeline"] for p in _json.loads(_tsopt.passes_json())["presets"]}


def load_plugin(path):
    """Loads passes from a plugin library, as --plugin does; returns the names it registered."""
    return _tsopt.load_plugin(_os.fspath(path))


def load_operators(path):
    """Loads an operator library (a .so registering operators outside LibTorch), as --ops does.
    Those of torchvision and torchaudio are loaded by themselves when a model needs them."""
    _tsopt.load_operators(_os.fspath(path))


def set_max_inflate_mb(mb):
    """How much a model's compressed records may unpack to (default 512 MB), as --max-inflate."""
    _tsopt.set_max_inflate_mb(int(mb))


def show(model, method="forward", *, inline=False, code=False, canonical=False):
    """A method's IR as text (or its TorchScript code with code=True), as `tsopt show` prints
    it. `model` is a ScriptModule (or a submodule of one) or a torch._C.Graph."""
    if isinstance(model, torch._C.Graph):
        if code or inline:
            raise Error("code= and inline= need a module, not a graph")
        return _tsopt.graph_ir(model, canonical)
    cpp = _cpp_module(model)
    if code:
        return _tsopt.module_code(cpp, method, inline)
    return _tsopt.module_ir(cpp, method, inline, canonical)


def _ir_of(x, method, inline):
    if isinstance(x, str):
        return x
    return show(x, method, inline=inline and not isinstance(x, torch._C.Graph), canonical=True)


def diff(a, b, method="forward", *, inline=False, names=("a", "b")):
    """The unified diff of the canonical IR of `a` and `b` (modules, graphs or IR text); ""
    when they are the same."""
    return _tsopt.diff(_ir_of(a, method, inline), _ir_of(b, method, inline), *names)


class Picture:
    """A graph drawn by Graphviz: shows itself in a notebook, saves as .dot, .svg or .png.

    dot: the DOT text; svg(): the picture as SVG (rendered once); save(path): writes it, the
    format from the path's extension."""

    def __init__(self, dot_text):
        self.dot = dot_text  #: the DOT text
        self._svg = None

    def svg(self):
        if self._svg is None:
            self._svg = _tsopt.render(self.dot, "svg").decode()
        return self._svg

    def _repr_svg_(self):
        return self.svg()

    def _repr_html_(self):
        """For front ends that show HTML only: the SVG inline, scrollable when large."""
        return f'<div style="overflow:auto;max-height:800px">{self.svg()}</div>'

    def save(self, path):
        """Writes the picture; the format is the path's extension (.dot, .svg or .png)."""
        path = _os.fspath(path)
        ext = _os.path.splitext(path)[1]
        if ext == ".dot":
            data = self.dot.encode()
        elif ext in (".svg", ".png"):
            data = _tsopt.render(self.dot, ext[1:])
        else:
            raise Error(f"cannot tell the format of '{path}': end it in .dot, .svg or .png")
        _tsopt.write_file(path, data)

    def __repr__(self):
        return f"<Picture: {self.dot.count(' -> ')} edges>"


def dot(model, method="forward", *, inline=False, max_nodes=_PICTURE_MAX_NODES, title=None):
    """The graph of `method` (or a torch._C.Graph) as a Picture, as `tsopt dot` draws it."""
    graph = _graph(model, method, inline)
    return Picture(_tsopt.dot(graph, title if title is not None else method, max_nodes))


def _frame(page, height):
    """A whole page shown in a notebook: in a frame of its own, so that its script and style
    stay in it."""
    return (f'<iframe style="width:100%;height:{height}px;border:0" '
            f'srcdoc="{_html.escape(page, quote=True)}"></iframe>')


class View:
    """The interactive viewer's page of a graph (as `tsopt view` writes it): shows itself in a
    notebook, saves as a self-contained .html file.

    html: the whole page; save(path): writes it."""

    def __init__(self, page):
        self.html = page  #: the whole page

    def _repr_html_(self):
        return _frame(self.html, 720)

    def save(self, path):
        """Writes the page (any name; .html is what a browser expects)."""
        _tsopt.write_file(_os.fspath(path), self.html.encode())

    def __repr__(self):
        return f"<View: {len(self.html)} bytes of HTML>"


def view(model, method="forward", *, inline=True, title=None):
    """The interactive viewer of `method` (a name, or a list of names the page can switch
    between) of a ScriptModule, or of a torch._C.Graph, as `tsopt view` writes it. Calls are
    inlined first unless inline=False, so that nodes group by the submodules they came from."""
    if isinstance(model, torch._C.Graph):
        return View(_tsopt.graph_viewer_page(model, title or "graph"))
    methods = [method] if isinstance(method, str) else list(method)
    return View(_tsopt.viewer_page(_cpp_module(model), methods, inline,
                                   title or f"tsopt view: {', '.join(methods)}"))


def graph_pass(name, *, description=None, on_module=None):
    """Registers the decorated function as a pass that pipelines can name.

    The function takes a torch._C.Graph (each method graph in turn) or, if its first parameter
    is annotated as a torch.jit.ScriptModule or on_module=True, the whole module. It changes
    what it is given in place and returns None (tsopt compares the IR to see whether it
    changed), a bool (whether it changed it) or, for a module, a new module.

        @tsopt.graph_pass("drop-dropout")
        def drop_dropout(graph):
            ...
        tsopt.run(m, "inline,drop-dropout,dce")
    """
    def register(fn):
        takes_module = on_module
        if takes_module is None:
            params = list(_inspect.signature(fn).parameters.values())
            annotation = params[0].annotation if params else None
            takes_module = (isinstance(annotation, type)
                            and issubclass(annotation, (torch.jit.ScriptModule,
                                                        torch._C.ScriptModule)))
        doc = description or (_inspect.getdoc(fn) or "").split("\n")[0] or "a pass in Python"
        _tsopt.register_pass(name, doc, fn, bool(takes_module))
        return fn
    return register
