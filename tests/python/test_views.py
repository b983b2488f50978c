"""tsopt.show, diff, dot, view, verify and passes: what `tsopt show`, `dot`, `view`, `verify` and
`passes` do."""
import html
import json
import re

import pytest
import torch

import tsopt
from conftest import ConvBnRelu


def test_show_is_the_clis(tmp_path, cli, traced):
    traced.save(str(tmp_path / "m.pt"))
    for flags, kwargs in [([], {}), (["--inline"], {"inline": True}),
                          (["--code"], {"code": True}), (["--canonical"], {"canonical": True}),
                          (["--inline", "--code"], {"inline": True, "code": True})]:
        shown = tsopt.show(torch.jit.load(str(tmp_path / "m.pt")), **kwargs)
        assert cli("show", tmp_path / "m.pt", *flags).stdout == shown.rstrip("\n") + "\n", flags


def test_show_a_submodule_and_a_graph(traced):
    assert "aten::_convolution" in tsopt.show(traced.features, inline=True)
    assert tsopt.show(traced.features.graph, canonical=True) == tsopt.show(
        traced.features, canonical=True)
    before = traced.graph.str()
    assert "prim::CallMethod" not in tsopt.show(traced, inline=True)
    assert traced.graph.str() == before  # inlining showed a copy


def test_diff(traced):
    assert tsopt.diff(traced, traced) == ""
    folded = tsopt.run(traced, "inline,fold-conv-bn,dce").module
    d = tsopt.diff(traced, folded, inline=True, names=("before", "after"))
    assert d.startswith("--- before\n+++ after\n")
    lines = d.splitlines()
    assert sum(line.startswith("-") and "aten::batch_norm" in line for line in lines) == 2
    assert not any(line.startswith("+") and "aten::batch_norm" in line for line in lines)
    assert tsopt.diff("a\nb\n", "a\nc\n") == "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"


def test_dot(tmp_path, traced):
    picture = tsopt.dot(traced, inline=True)
    assert picture.dot.startswith("digraph")
    assert "aten::_convolution" in picture.dot
    svg = picture._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert picture._repr_html_().endswith(svg + "</div>")
    picture.save(tmp_path / "g.svg")
    picture.save(tmp_path / "g.dot")
    picture.save(tmp_path / "g.png")
    assert (tmp_path / "g.dot").read_text() == picture.dot
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(tsopt.Error, match="end it in .dot, .svg or .png"):
        picture.save(tmp_path / "g.jpg")
    assert tsopt.dot(traced.graph).dot == tsopt.dot(traced).dot
    assert "more nodes not drawn (drawn up to 3)" in tsopt.dot(traced, inline=True,
                                                               max_nodes=3).dot


def _viewer_data(page):
    return json.loads(re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>',
                                page, re.S).group(1))


def test_view_is_the_clis(tmp_path, cli, traced):
    traced.save(str(tmp_path / "m.pt"))
    page = tsopt.view(torch.jit.load(str(tmp_path / "m.pt")))
    cli("view", tmp_path / "m.pt", "-o", tmp_path / "m.html", "-q")
    cli_page = (tmp_path / "m.html").read_text()
    assert _viewer_data(page.html) == _viewer_data(cli_page)
    # Grouped by submodule: the Sequential's modules (a single node each, shown as the node).
    graph = _viewer_data(page.html)["stages"][0]["graph"]
    assert [(g["key"], g["type"]) for g in graph["groups"]] == [("", ""), ("features", "Sequential")]
    features = [n["kind"] for n in graph["nodes"] if n["g"] == 1]
    assert features == ["aten::_convolution", "aten::batch_norm", "aten::relu"] * 2
    page.save(tmp_path / "v.html")
    assert (tmp_path / "v.html").read_text() == page.html
    frame = page._repr_html_()
    prefix = '<iframe style="width:100%;height:720px;border:0" srcdoc="'
    assert frame.startswith(prefix) and html.unescape(frame[len(prefix):]).startswith(page.html)


def test_view_methods_graphs_and_bad_names(traced):
    not_inlined = _viewer_data(tsopt.view(traced, inline=False).html)["stages"][0]["graph"]
    assert [n["kind"] for n in not_inlined["nodes"]].count("prim::CallMethod") == 2
    of_graph = _viewer_data(tsopt.view(traced.graph).html)["stages"][0]["graph"]
    assert of_graph == not_inlined
    scripted = torch.jit.script(ConvBnRelu().eval())
    stages = _viewer_data(tsopt.view(scripted, ["forward", "forward"]).html)["stages"]
    assert [s["name"] for s in stages] == ["forward", "forward"]
    with pytest.raises(tsopt.Error, match="no method 'nope'"):
        tsopt.view(traced, "nope")


def test_verify(traced, example):
    same = tsopt.verify(traced, tsopt.run(traced, "inline,dce").module)
    assert same and same.passed and same.max_abs_diff == 0
    assert same.summary.startswith("outputs equal over 3 trials")
    tolerances = tsopt.verify(traced, traced, rtol={torch.float32: 1e-4, "float64": 1e-9},
                              atol=0.5).to_dict()["tolerances"]
    assert tolerances["float32"] == {"rtol": 1e-4, "atol": 0.5}
    assert tolerances["float64"]["rtol"] == 1e-9
    given = tsopt.verify(traced, traced, inputs=example)
    assert given.to_dict()["inputs"]["forward"][0].endswith("(from given)")
    model = ConvBnRelu().eval()  # the same weights, but for one bias
    with torch.no_grad():
        model.head.bias.add_(1)
    differs = tsopt.verify(traced, torch.jit.trace(model, example), input_specs="2x3x16x16",
                           trials=1)
    assert not differs and differs.summary == "outputs differ: " + differs.mismatch


def test_verify_matches_the_cli(tmp_path, cli, traced):
    traced.save(str(tmp_path / "a.pt"))
    changed = tsopt.run(traced, "inline,fold-conv-bn,dce").module
    changed.save(str(tmp_path / "b.pt"))
    line = cli("verify", tmp_path / "a.pt", tmp_path / "b.pt", "-q").stdout
    verification = tsopt.verify(torch.jit.load(str(tmp_path / "a.pt")),
                                torch.jit.load(str(tmp_path / "b.pt")))
    assert line == "tsopt: verify: " + verification.summary + "\n"


def test_passes_and_presets(cli):
    listed = {p.name for p in tsopt.passes()}
    assert {"inline", "fold-conv-bn", "dce", "torch-freeze"} <= listed
    assert tsopt.presets()["O0"] == ""
    assert tsopt.presets()["O1"].startswith("inline,")
