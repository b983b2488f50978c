"""tsopt.run(): the same engine as `tsopt run`, on live modules."""
import json

import pytest
import torch
from conftest import same_snapshot, snapshot

import tsopt

PIPELINE = "inline,fold-conv-bn,dce"


@pytest.mark.parametrize("pipeline", [PIPELINE, None])  # None: the default, -O1
def test_result_is_the_clis_bit_for_bit(tmp_path, cli, traced, example, pipeline):
    saved = tmp_path / "model.pt"
    traced.save(str(saved))
    args = ["-p", pipeline] if pipeline else []
    cli("run", saved, *args, "-o", tmp_path / "cli.pt", "-q")
    by_cli = torch.jit.load(str(tmp_path / "cli.pt"))

    report = tsopt.run(torch.jit.load(str(saved)), pipeline)

    assert torch.equal(report.module(example), by_cli(example))
    # The same archive when saved (loading compiles the saved code: compare loaded with loaded).
    report.module.save(str(tmp_path / "py.pt"))
    reloaded = torch.jit.load(str(tmp_path / "py.pt"))
    assert tsopt.show(reloaded, canonical=True) == tsopt.show(by_cli, canonical=True)
    assert [p["spec"] for p in report.passes] == (
        PIPELINE.split(",") if pipeline else tsopt.presets()["O1"].split(","))


def test_a_path_runs_like_a_module(tmp_path, traced, example):
    saved = tmp_path / "model.pt"
    traced.save(str(saved))
    from_path = tsopt.run(saved, PIPELINE)
    from_module = tsopt.run(traced, PIPELINE)
    assert torch.equal(from_path.module(example), from_module.module(example))
    # The live module's IR is its own (a trace's constants where it used them, its scopes), the
    # saved model's is compiled from its code: saved, the results are the same model.
    for report, name in ((from_path, "path.pt"), (from_module, "module.pt")):
        report.module.save(str(tmp_path / name))
    assert tsopt.show(torch.jit.load(str(tmp_path / "path.pt")), canonical=True) == \
        tsopt.show(torch.jit.load(str(tmp_path / "module.pt")), canonical=True)
    # Run on the module loaded from the file, the run is the path's exactly.
    assert tsopt.diff(from_path.module, tsopt.run(torch.jit.load(str(saved)), PIPELINE).module) == ""


def test_runs_again_give_the_same_ir_with_the_models_class_names(scripted):
    first = tsopt.show(tsopt.run(scripted, PIPELINE).module, canonical=True)
    assert tsopt.show(tsopt.run(scripted, PIPELINE).module, canonical=True) == first
    # Scripting the class again in this process mangled its name: the result keeps that name.
    assert first.splitlines()[0] == tsopt.show(scripted, canonical=True).splitlines()[0]
    assert "__torch__.conftest." in first.splitlines()[0]


def test_model_is_left_as_it_was(traced, scripted):
    for model in (traced, scripted):
        before = snapshot(model)
        report = tsopt.run(model, PIPELINE)
        assert same_snapshot(before, snapshot(model))
        assert report.module is not model
        assert tsopt.diff(model, report.module, inline=True) != ""


def _storages(module):
    return {t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage")
            else t.storage().data_ptr() for t in module.state_dict().values()}


@pytest.mark.parametrize("pipeline", [[], PIPELINE, "inline,fold-conv-bn,dce,strip"])
def test_the_result_owns_its_tensors(traced, scripted, example, pipeline):
    # The passes may work on the model's own tensors, but the result shares none of them: running
    # it, or changing its weights, leaves the model alone.
    for model in (traced, scripted):
        before = snapshot(model)
        result = tsopt.run(model, pipeline).module
        assert not _storages(result) & _storages(model)
        with torch.no_grad():
            for t in result.state_dict().values():
                t.zero_()
        result.train()(example)
        assert same_snapshot(before, snapshot(model))


def test_tensors_that_share_a_storage_still_do(example):
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    model = torch.jit.script(Tied().eval())
    result = tsopt.run(model, []).module
    assert result.a.weight.data_ptr() == result.b.weight.data_ptr()
    assert result.a.weight.data_ptr() != model.a.weight.data_ptr()
    assert result.a.weight.requires_grad
    x = torch.rand(2, 4)
    assert torch.equal(result(x), model(x))


@pytest.mark.parametrize("kind", ["traced", "scripted"])
def test_in_place_makes_the_model_the_result(kind, request, example):
    model = request.getfixturevalue(kind)
    expected = model(example)
    report = tsopt.run(model, PIPELINE, in_place=True, verify=True, inputs=example)
    assert report.module is model
    assert report.verification.passed
    assert "prim::CallMethod" not in model.graph.str()
    assert "aten::batch_norm" not in model.graph.str()
    assert isinstance(model, torch.jit.ScriptModule)
    # Folding changes the arithmetic: within float32 rounding of a few operations.
    torch.testing.assert_close(model(example), expected, rtol=1e-5, atol=1e-5)


def test_preset(traced, example):
    report = tsopt.run(traced, preset="O2")
    assert [p["spec"] for p in report.passes] == tsopt.presets()["O2"].split(",")
    torch.testing.assert_close(report.module(example), traced(example), rtol=1e-5, atol=1e-5)


def test_no_pass(traced, example):
    report = tsopt.run(traced, preset="O0")
    assert report.passes == [] and report.nodes_before == report.nodes_after > 0
    assert repr(report).startswith("<Report: 0 passes, 0 changed the model, ")
    assert torch.equal(report.module(example), traced(example))


def test_report(tmp_path, traced):
    report = tsopt.run(traced, PIPELINE, verify=True, report=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == report.to_dict()
    assert json.loads(report.to_json()) == report.to_dict()
    assert [p["name"] for p in report.passes] == ["inline", "fold-conv-bn", "dce"]
    assert all(p["changed"] for p in report.passes)
    assert report.passes[1]["stats"]["folded"] == 2
    # The run's counts are of the inlined input and result; the passes' of what each saw.
    assert report.nodes_before == report.passes[1]["nodes_before"] > report.passes[0]["nodes_before"]
    assert report.nodes_after == report.passes[-1]["nodes_after"]
    assert report.nodes_after < report.passes[1]["nodes_before"]  # dce removed the batch norms
    assert report.phases["total_ms"] >= report.phases["passes_ms"] > 0
    assert report.verification and report.passed and report.first_failing_pass is None
    assert report.output_bytes > 0 and report.input_bytes > 0
    assert "outputs equal over 3 trials" in repr(report)


def test_report_in_a_notebook(traced):
    table = tsopt.run(traced, PIPELINE)._repr_html_()
    # Three passes, and the operator kinds they changed (batch_norm 2 -> 0, ...).
    assert table.count("<tr>") == 4 + 1 + len(tsopt.run(traced, PIPELINE).operator_changes())
    assert "fold-conv-bn" in table and "<code>aten::batch_norm</code>" in table
    page = tsopt.run(traced, PIPELINE, html=True)
    assert page.html().startswith("<!DOCTYPE html>")
    assert "<iframe" in page._repr_html_() and "fold-conv-bn" in page._repr_html_()
    with pytest.raises(tsopt.Error, match="kept no HTML report"):
        tsopt.run(traced, "dce").html()


def test_output_file_and_dumps(tmp_path, traced, example):
    report = tsopt.run(traced, PIPELINE, output=tmp_path / "o.pt", dump_dir=tmp_path / "d",
                       html=tmp_path / "r.html")
    saved = torch.jit.load(str(tmp_path / "o.pt"))
    assert torch.equal(saved(example), report.module(example))
    dumps = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert "00-input.ir" in dumps and "02-fold-conv-bn.diff" in dumps
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_golden_files_record_and_compare(tmp_path, traced):
    recorded = tsopt.run(traced, PIPELINE, golden_dir=tmp_path / "g", update_golden=True)
    assert recorded.passed
    assert tsopt.run(traced, PIPELINE, golden_dir=tmp_path / "g").passed
    assert not tsopt.run(traced, "inline,dce", golden_dir=tmp_path / "g").passed


def test_verify_each_and_methods(scripted, example):
    report = tsopt.run(scripted, PIPELINE, verify="each", methods=["forward"])
    assert all(p["verify"]["passed"] for p in report.passes)
    assert report.verification.passed
