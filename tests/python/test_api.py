"""The API's shape: what each function takes (pipelines as text or lists, modules or their
paths), what it returns (passes as dicts) and says of itself (docstrings), and reports whose
numbers agree."""
import re

import pytest
import torch

import tsopt


def test_a_pipeline_may_be_a_list_of_pass_specs(traced, example):
    as_list = tsopt.run(traced, ["inline", "fold-conv-bn", "dce", "strip{debug-info=true}"])
    as_text = tsopt.run(traced, "inline,fold-conv-bn,dce,strip{debug-info=true}")
    assert [p["spec"] for p in as_list.passes] == [p["spec"] for p in as_text.passes]
    assert tsopt.show(as_list.module) == tsopt.show(as_text.module)
    assert torch.equal(as_list.module(example), as_text.module(example))
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, ["inline", 3])
    assert str(e.value) == ("pipeline must be a str or a list of pass specs, got list "
                            "(['inline', 3])")


def test_every_function_that_takes_a_module_takes_its_path(tmp_path, traced):
    path = tmp_path / "m.pt"
    traced.save(str(path))
    loaded = torch.jit.load(str(path))
    for as_path in (path, str(path)):
        assert tsopt.show(as_path) == tsopt.show(loaded)
        assert tsopt.show(as_path, code=True, inline=True) == tsopt.show(loaded, code=True,
                                                                        inline=True)
        assert tsopt.dot(as_path).dot == tsopt.dot(loaded).dot
        assert tsopt.view(as_path).html == tsopt.view(loaded).html
        assert tsopt.verify(as_path, traced).passed
        assert tsopt.verify(traced, as_path).passed
    # What the command line's loader refuses, the API refuses with the same line.
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(tsopt.Error) as e:
        tsopt.show(tmp_path / "junk.pt")
    assert str(e.value).startswith(f"cannot load model '{tmp_path / 'junk.pt'}': ")


def test_passes_are_the_dicts_the_docs_describe():
    by_name = {p["name"]: p for p in tsopt.passes()}
    dce = by_name["dce"]
    assert isinstance(dce, dict)
    assert set(dce) == {"name", "description", "origin", "kind", "options"}
    assert (dce["origin"], dce["kind"]) == ("builtin", "graph")
    assert dce.name == dce["name"] and dce.origin == "builtin"  # attributes too
    assert by_name["strip"]["kind"] == "module"
    with pytest.raises(AttributeError):
        dce.no_such_field  # noqa: B018


def test_inputs_without_verify_are_an_error_not_ignored(traced, example):
    for kwargs in ({"inputs": example}, {"input_specs": ["1x3x16x16"]}):
        with pytest.raises(tsopt.Error) as e:
            tsopt.run(traced, "dce", **kwargs)
        assert str(e.value) == ("inputs and input_specs are what verification runs the models "
                                "on: pass verify=True as well (verify=)")
    assert tsopt.run(traced, "dce", inputs=example, verify=True).verification.passed


@pytest.mark.parametrize("cls, fields", [
    (tsopt.Report, ["module", "passed", "passes", "nodes_before", "nodes_after", "phases",
                    "warnings", "input_bytes", "output_bytes", "verification", "reproducer"]),
    (tsopt.Verification, ["passed", "summary", "max_abs_diff", "max_rel_diff", "error_ratio",
                          "mismatch", "outputs", "warnings"]),
    (tsopt.Picture, ["dot", "svg()", "save(path)"]),
    (tsopt.View, ["html", "save(path)"]),
])
def test_help_lists_every_field(cls, fields):
    for field in fields:
        assert re.search(rf"(^|\W){re.escape(field)}\W", cls.__doc__), f"{cls.__name__}.{field}"


def test_the_html_reports_time_is_the_runs(traced):
    report = tsopt.run(traced, "inline,dce", html=True)
    total = report.phases["total_ms"]
    passes = sum(p["ms"] for p in report.passes)
    assert f"<th>time</th><td>{total:.1f} ms (passes " in report.html()
    assert total >= passes


def test_a_result_larger_than_its_input_warns_and_names_strip(tmp_path):
    # The folds keep the weights they replaced until strip drops them: 2 x 147 KB here.
    model = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3), torch.nn.BatchNorm2d(64),
                                torch.nn.Conv2d(64, 64, 3), torch.nn.BatchNorm2d(64)).eval()
    traced = torch.jit.trace(model, torch.rand(1, 64, 8, 8))
    small = tsopt.run(traced, ["inline", "dce"], output=tmp_path / "small.pt")
    assert not [w for w in small.warnings if "larger than the input" in w]  # a few bytes of code
    grown = tsopt.run(traced, ["inline", "fold-conv-bn", "dce"], output=tmp_path / "grown.pt")
    assert grown.output_bytes > grown.input_bytes
    assert [w for w in grown.warnings if "larger than the input" in w] == [
        f"the result ({grown.output_bytes / 2**20:.2f} MB) is larger than the input "
        f"({grown.input_bytes / 2**20:.2f} MB): end the pipeline with 'strip', which drops the "
        f"weights and submodules nothing uses any more (the presets end with it)"]
    stripped = tsopt.run(traced, ["inline", "fold-conv-bn", "dce", "strip"],
                         output=tmp_path / "stripped.pt")
    assert stripped.output_bytes <= stripped.input_bytes
    assert not [w for w in stripped.warnings if "larger than the input" in w]
    # Neither saved nor verified (the notebook's `tsopt.run(m, ...).module.save(...)`): both
    # sizes are the bytes of the tensors the modules hold, and the warning is the same.
    in_memory = tsopt.run(traced, ["inline", "fold-conv-bn", "dce"])
    assert in_memory.input_bytes == sum(t.numel() * t.element_size()
                                        for t in traced.state_dict().values())
    assert in_memory.output_bytes > in_memory.input_bytes
    assert [w for w in in_memory.warnings if "end the pipeline with 'strip'" in w]
    assert tsopt.run(traced).output_bytes < in_memory.input_bytes  # the default ends with strip


def test_the_report_counts_operators_like_with_like(traced):
    report = tsopt.run(traced, "inline,fold-conv-bn,dce,strip", verify=True)
    assert report.operators["aten::batch_norm"] == {"before": 2, "after": 0}
    assert "prim::CallMethod" not in report.operators  # the input is counted inlined too
    assert report.nodes_before == sum(c["before"] for c in report.operators.values())
    assert report.nodes_after == sum(c["after"] for c in report.operators.values())
    assert report.nodes_after < report.nodes_before
    assert ("aten::batch_norm", 2, 0) in report.operator_changes()
    assert f"nodes {report.nodes_before} -> {report.nodes_after}" in repr(report)
    page = report._repr_html_()
    assert "<th>operator</th><th>before</th><th>after</th>" in page
    assert "<code>aten::batch_norm</code></td><td>2</td><td>0</td>" in page
    assert f"size: {report.input_bytes / 2**20:.2f} MB" in page
