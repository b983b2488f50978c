#!/usr/bin/python3
"""One zoo model through what a user runs on it, checked as a user would check it:

1. `tsopt run MODEL --verify --html --report` (the default pipeline): exit 0, verified on the
   inputs saved beside the model, an HTML report with the model's graph;
2. `tsopt run MODEL -O2 --verify`: exit 0;
3. `tsopt dot` of the default output to SVG: exit 0, an SVG;
4. both outputs load in plain PyTorch (with torchvision's and torchaudio's operators imported, as
   a user's program has them) and compute what the input model computes there from the same
   random-number state, within float32's default tolerance of tsopt verify (rtol 1e-4,
   atol 1e-5);
5. every foldable BatchNorm is folded: no aten::batch_norm is left whose input is a convolution's
   or linear layer's output that nothing else reads.

Usage: check_zoo_model.py TSOPT ZOO_DIR NAME WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import torch
import torchaudio  # noqa: F401  (registers torchaudio's operators, as a user's program does)
import torchvision  # noqa: F401  (registers torchvision::nms, roi_align, ...)

RTOL, ATOL = 1e-4, 1e-5
CONVS = {"aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d",
         "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d",
         "aten::linear"}


def tsopt(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tsopt {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
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


def compare(expected, actual, path="out"):
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), f"{path}: expected a tensor, got {type(actual)}"
        if expected.is_quantized:
            expected, actual = expected.dequantize(), actual.dequantize()
        assert expected.shape == actual.shape, f"{path}: shape {actual.shape}, expected {expected.shape}"
        if expected.is_floating_point():
            torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL, equal_nan=True,
                                       msg=lambda m: f"{path}: {m}")
        else:
            assert torch.equal(expected, actual), f"{path}: values differ"
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), f"{path}: {len(actual)} elements, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            compare(e, a, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert expected.keys() == actual.keys(), f"{path}: keys {actual.keys()}"
        for k in expected:
            compare(expected[k], actual[k], f"{path}[{k!r}]")
    else:
        assert expected == actual, f"{path}: {actual!r}, expected {expected!r}"


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
    svg = os.path.join(work, "default.svg")
    tsopt(binary, "dot", default, "-o", svg)
    assert open(svg).read(4096).find("<svg") >= 0, "tsopt dot wrote no SVG"

    inputs = torch.load(os.path.join(zoo, name + ".inputs.pt"))
    reference = torch.jit.load(model)
    before = foldable_batch_norms(reference)
    with torch.no_grad():
        # Tacotron2 draws random numbers at inference (dropout in its prenet): every run starts
        # from the same random-number state, as tsopt verify's do.
        torch.manual_seed(0)
        expected = reference(*inputs)
        for label, path in (("default", default), ("-O2", o2)):
            out = torch.jit.load(path)
            torch.manual_seed(0)
            compare(expected, out(*inputs))
            left = foldable_batch_norms(out)
            assert left == 0, f"{label}: {left} of {before} foldable BatchNorms left"
    print(f"{name}: verified, equal in PyTorch, {before} foldable BatchNorms folded")
    return before


if __name__ == "__main__":
    main()
