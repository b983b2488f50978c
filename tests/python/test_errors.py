"""Bad input: one tsopt.Error (a ValueError) with the command line's message, nothing changed."""
import os

import pytest
import torch
from conftest import ConvBnRelu, same_snapshot, snapshot

import tsopt


def cli_error(cli, *args):
    """The CLI's one-line message for the same mistake, without its "tsopt: error: " prefix."""
    done = cli(*args, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    return done.stderr.removeprefix("tsopt: error: ").rstrip("\n")


def test_bad_pipeline_is_the_clis_message(tmp_path, cli, traced):
    traced.save(str(tmp_path / "m.pt"))
    before = snapshot(traced)
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, "inline,fold-conv-bm")
    assert isinstance(e.value, ValueError)
    assert str(e.value) == cli_error(cli, "run", tmp_path / "m.pt", "-p", "inline,fold-conv-bm",
                                     "-o", tmp_path / "o.pt")
    assert str(e.value).startswith("bad pipeline at column 8: unknown pass 'fold-conv-bm' "
                                   "(did you mean 'fold-conv-bn'?)")
    assert same_snapshot(before, snapshot(traced))
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"preset": "O9"}, "unknown preset 'O9' (known: O0, O1, O2, backport)"),
    ({"pipeline": "dce", "preset": "O1"}, "give either a pipeline or a preset, not both"),
    ({"verify": "sometimes"}, "unknown verification 'sometimes' (known: none, result, strict, "
                              "each)"),
    ({"verify": True, "inputs": (torch.ones(2, 3, 16, 16), torch.ones(1))},
     "forward(x: Tensor) takes 1 input, got 2 (inputs given) (input_specs=)"),
    ({"verify": True, "rtol": -1.0},
     "bad rtol '-1.0': expected a non-negative number, optionally after DTYPE= (rtol=)"),
    ({"verify": True, "rtol": "1e-3"}, "rtol must be a number or a dict of dtype to number, "
                                       "got str"),
    ({"verify": True, "scale": 0}, "the scale of random inputs must be positive (scale=)"),
    ({"verify": True, "trials": 0}, "trials must be 1 to 10000, not 0 (trials=)"),
    ({"verify": True, "trials": 2_000_000_000},
     "trials must be 1 to 10000, not 2000000000 (trials=)"),
    ({"pipeline": 5}, "pipeline must be a str or a list of pass specs, got int (5)"),
    ({"verify": True, "inputs": torch.ones(1, 3, 16, 16).to_sparse()},
     "inputs[0] is a sparse_coo tensor on device 'cpu': tsopt runs models on dense CPU tensors "
     "(.to_dense(), .cpu())"),
    ({"verify": True, "inputs": [torch.ones(1, 3, 16, 16, device="meta")]},
     "inputs[0] is a strided tensor on device 'meta': tsopt runs models on dense CPU tensors "
     "(.to_dense(), .cpu())"),
    ({"verify": True, "inputs": torch.ones(1), "input_specs": ["1"]},
     "give either saved inputs or input specs, not both (input_specs=)"),
    ({"dump": "ir,pdf", "dump_dir": "/tmp/tsopt-test-unused"},
     "unknown dump kind 'pdf' (known: ir, code, diff, dot) (dump=)"),
    ({"update_golden": True}, "update_golden needs golden_dir (update_golden=)"),
    ({"methods": ["predict"]}, "the model has no method 'predict' (it has: forward)"),
    ({"lint": "sometimes"}, "unknown lint 'sometimes' (known: fast, full, none)"),
])
def test_bad_options(traced, kwargs, message):
    before = snapshot(traced)
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, **kwargs)
    assert str(e.value) == message
    assert same_snapshot(before, snapshot(traced))


def test_not_torchscript():
    with pytest.raises(tsopt.Error, match="torch.nn.Module, not TorchScript: pass "
                                          r"torch.jit.trace\(model, example\)"):
        tsopt.run(ConvBnRelu())
    with pytest.raises(tsopt.Error, match="must be a torch.jit.ScriptModule or the path of a saved one, got int"):
        tsopt.show(3)


def test_missing_file_and_unwritable_output(tmp_path, traced):
    with pytest.raises(tsopt.Error, match="no such file"):
        tsopt.run(tmp_path / "none.pt")
    with pytest.raises(tsopt.Error):
        tsopt.run(traced, "dce", output=tmp_path / "no" / "such" / "dir" / "o.pt")


def test_output_never_overwrites_the_input(tmp_path, traced):
    path = tmp_path / "m.pt"
    traced.save(str(path))
    data = path.read_bytes()
    with pytest.raises(tsopt.Error, match=r"is the input model; allow overwriting it "
                                          r"\(in_place=True\)"):
        tsopt.run(path, "inline,dce", output=path)
    assert path.read_bytes() == data
    example = torch.rand(2, 3, 16, 16)
    report = tsopt.run(path, "inline,dce", in_place=True)
    assert path.read_bytes() != data
    assert torch.equal(torch.jit.load(str(path))(example), report.module(example))


def test_strict_verification_writes_nothing_when_it_differs(tmp_path, traced):
    @tsopt.graph_pass("test-zero-output")
    def zero(graph):
        out = graph.return_node().inputsAt(0)
        zero = graph.insertConstant(0)
        mul = graph.create("aten::mul", [out, zero])
        mul.output().setType(out.type())
        mul.insertBefore(graph.return_node())
        graph.return_node().replaceInput(0, mul.output())

    before = snapshot(traced)
    report = tsopt.run(traced, "test-zero-output", verify="strict", output=tmp_path / "o.pt",
                       in_place=True)
    assert not report.passed and not (tmp_path / "o.pt").exists()
    assert report.verification.summary.startswith("outputs differ")
    assert report.module is not traced and same_snapshot(before, snapshot(traced))


def test_operator_libraries_and_archive_limits(cli):
    """Settings outside run()'s keywords: the message names the function that changes them."""
    model = os.path.join(os.environ["TSOPT_FIXTURE_DIR"], "uses_test_op.pt")
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(model, "dce")
    assert str(e.value).endswith("(tsopt.load_operators(LIB.so))")
    tsopt.load_operators(os.environ["TSOPT_TEST_OPS"])
    assert tsopt.run(model, "dce").passes[0]["name"] == "dce"

    bomb = os.path.join(os.environ["TSOPT_HOSTILE_DIR"], "bomb_small.pt")
    tsopt.set_max_inflate_mb(4)
    try:
        with pytest.raises(tsopt.Error) as e:
            tsopt.run(bomb, "dce")
        assert "raise the limit (tsopt.set_max_inflate_mb(MB))" in str(e.value)
    finally:
        tsopt.set_max_inflate_mb(512)


def test_a_reproducer_never_goes_into_the_input_models_folder(tmp_path, traced):
    traced.save(str(tmp_path / "model.pt"))
    (tmp_path / "sub").mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(tmp_path / "model.pt", "dce", output=tmp_path / "sub" / "out.pt",
                  reproducer=tmp_path)
    assert str(e.value).startswith(f"the reproducer folder '{tmp_path}' is the folder of the "
                                   f"input model")
    assert sorted(os.listdir(tmp_path)) == before


def test_pictures_and_pages_are_saved_as_every_output(tmp_path, traced):
    """Through a staged file: a FIFO is refused (not waited on), and a link planted at a
    temporary name beside the target is never written through."""
    os.mkfifo(tmp_path / "fifo.html")
    with pytest.raises(tsopt.Error) as e:
        tsopt.view(traced).save(tmp_path / "fifo.html")
    assert "is a FIFO, not a regular file" in str(e.value)
    victim = tmp_path / "victim"
    victim.write_text("the user's")
    for pid in range(os.getpid() - 2, os.getpid() + 3):
        os.symlink(victim, tmp_path / f"page.html.tmp{pid}")
    tsopt.view(traced).save(tmp_path / "page.html")
    tsopt.dot(traced).save(tmp_path / "graph.dot")
    assert victim.read_text() == "the user's"
    assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
