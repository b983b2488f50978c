#!/usr/bin/python3
"""One zoo model through what a user runs on it, checked as a user would check it:

1. `tsopt run MODEL --verify --html --report` (the default pipeline): exit 0, verified on the
   inputs saved beside the model, an HTML report with the model's graph;
2. `tsopt run MODEL -O2 --verify`: exit 0, on the machine's own CPU code path and again on
   another (LibTorch's and oneDNN's kernels for an older instruction set, which round
   differently: the verdict must not depend on them);
3. `tsopt dot` of the default output to SVG: exit 0, an SVG;
4. both outputs load and run in plain PyTorch (with torchvision's and torchaudio's operators
   imported, as a user's program has them, and tsopt not yet), and compute what the input model
   computes by the one definition of equal tsopt verify uses (tsopt.verify, imported after);
5. every foldable BatchNorm is folded: no aten::batch_norm is left whose input is a convolution's
   or linear layer's output that nothing else reads;
6. every preset (-O0, the default, -O2, -O backport) writes a model no larger than its input;
7. loaded in Python, the model runs as a live module: tsopt.run without passes gives a copy
   that saves to the model's archive byte for byte, the default run saves what the CLI saved,
   and the module is left as it was.

Usage: check_zoo_model.py TSOPT ZOO_DIR NAME WORK_DIR
"""
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
import zlib

import torch
import torchaudio  # noqa: F401  (registers torchaudio's operators, as a user's program does)
import torchvision  # noqa: F401  (registers torchvision::nms, roi_align, ...)

# Other CPU code paths than the machine's own: LibTorch's kernels (ATEN_CPU_CAPABILITY) and
# oneDNN's (ONEDNN_MAX_CPU_ISA), each model on one of them.
CODE_PATHS = [{"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
              {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}]
CONVS = {"aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d",
         "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d",
         "aten::linear"}


def tsopt(binary, *args, env=None):
    r = subprocess.run([binary, *args], capture_output=True, text=True,
                       env=None if env is None else {**os.environ, **env})
    if r.returncode != 0:
        sys.exit(f"{env or ''} tsopt {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


SHAPE_QUERIES = {"aten::dim", "aten::size", "aten::len", "prim::shape"}


def foldable_batch_norms(module):
    """aten::batch_norm nodes fed by a convolution or linear output that nothing else reads
    (apart from its shape: scripted BatchNorm checks the input's dim())."""
    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    count = 0
    for node in graph.findAllNodes("aten::batch_norm"):
        value = node.inputsAt(0)
        readers = [u.user for u in value.uses() if u.user.kind() not in SHAPE_QUERIES]
        if value.node().kind() in CONVS and len(readers) == 1:
            count += 1
    return count


def archive_records(path):
    """The records of a saved model by name, without the archive's top folder (named after the
    file it was written to)."""
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def saved_bytes(module):
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    return buffer.getvalue()


def main():
    binary, zoo, name, work = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model = os.path.join(zoo, name + ".pt")
    default, o2 = os.path.join(work, "default.pt"), os.path.join(work, "o2.pt")
    html, report = os.path.join(work, "report.html"), os.path.join(work, "report.json")

    tsopt(binary, "run", model, "-o", default, "--verify", "--html", html, "--report", report)
    verdict = json.load(open(report))["verify"]
    assert verdict["passed"], verdict
    assert "saved beside the model" in json.dumps(verdict["inputs"]), verdict["inputs"]
    page = open(html).read()
    assert 'class="tsopt-viewer"' in page and "fold-conv-bn" in page, "the HTML report shows no graph"
    tsopt(binary, "run", model, "-O2", "-o", o2, "--verify")
    code_path = CODE_PATHS[zlib.crc32(name.encode()) % len(CODE_PATHS)]
    tsopt(binary, "run", model, "-O2", "-o", os.path.join(work, "o2-other-cpu.pt"), "--verify",
          env=code_path)
    # Every preset writes a model no larger than its input.
    written = {"default": default, "-O2": o2}
    for preset in ("0", "backport"):
        written["-O" + preset] = os.path.join(work, f"O{preset}.pt")
        tsopt(binary, "run", model, "-O", preset, "-o", written["-O" + preset], "-q")
    size = os.path.getsize(model)
    for label, path in written.items():
        assert os.path.getsize(path) <= size, \
            f"{label}: wrote {os.path.getsize(path)} bytes for an input of {size}"
    svg = os.path.join(work, "default.svg")
    tsopt(binary, "dot", default, "-o", svg)
    assert open(svg).read(4096).find("<svg") >= 0, "tsopt dot wrote no SVG"

    inputs = torch.load(os.path.join(zoo, name + ".inputs.pt"))
    reference = torch.jit.load(model)
    before = foldable_batch_norms(reference)
    outputs = {"default": torch.jit.load(default), "-O2": torch.jit.load(o2)}
    with torch.no_grad():
        for label, out in outputs.items():
            out(*inputs)  # runs in plain PyTorch
            left = foldable_batch_norms(out)
            assert left == 0, f"{label}: {left} of {before} foldable BatchNorms left"
    import tsopt as api  # only now: the outputs loaded and ran without it
    for label, out in outputs.items():
        verdict = api.verify(reference, out, inputs=inputs)
        assert verdict, f"{label}: {verdict.summary}"
    live = torch.jit.load(model)
    archive = saved_bytes(live)
    assert saved_bytes(api.run(live, preset="O0").module) == archive, "the copy saves otherwise"
    live_default = os.path.join(work, "live-default.pt")
    api.run(live, output=live_default)
    assert archive_records(live_default) == archive_records(default), \
        "the default run of the live module saved another model than the CLI's"
    assert saved_bytes(live) == archive, "the run changed the live module"
    print(f"{name}: verified, equal in PyTorch, {before} foldable BatchNorms folded")
    return before


if __name__ == "__main__":
    main()
