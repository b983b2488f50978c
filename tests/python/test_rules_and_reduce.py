"""Rules files and reduction from Python: tsopt.check_rules, rewrite{rules=...} in tsopt.run, and
tsopt.reduce with passes that fail on purpose."""
import pytest
import torch

import tsopt


@tsopt.graph_pass("test-raise-on-batch-norm")
def raise_on_batch_norm(graph):
    """Raises on a graph that holds a batch norm."""
    if graph.findNode("aten::batch_norm") is not None:
        raise RuntimeError("found a batch norm")
    return False


@tsopt.graph_pass("test-drop-first-relu")
def drop_first_relu(graph):
    """Removes the first relu: computes something else."""
    relu = graph.findNode("aten::relu")
    if relu is None:
        return False
    relu.output().replaceAllUsesWith(relu.input())
    relu.destroy()
    return True


def count(module, kind):
    return sum(1 for n in module.inlined_graph.nodes() if n.kind() == kind)


def test_the_shipped_rules_check_and_a_wrong_one_does_not(tmp_path):
    checked = tsopt.check_rules("decompose", "cleanup")
    assert [r["problem"] for r in checked] == [""] * len(checked)
    assert {"silu-as-sigmoid-mul", "dropout-in-eval"} <= {r["name"] for r in checked}

    wrong = tmp_path / "wrong.rules"
    wrong.write_text("rule relu-is-neg\npattern\n  graph(%x : Tensor):\n"
                     "    %y : Tensor = aten::relu(%x)\n    return (%y)\nreplacement\n"
                     "  graph(%x : Tensor):\n    %y : Tensor = aten::neg(%x)\n    return (%y)\n")
    [r] = tsopt.check_rules(wrong)
    assert r["location"] == f"{wrong}:1"
    assert r["problem"].startswith("the replacement computes something else: output 0 (%y)")
    with pytest.raises(tsopt.Error, match=r"relu-is-neg' is refused: the replacement computes"):
        tsopt.run(torch.jit.script(torch.nn.ReLU()), f"rewrite{{rules={wrong}}}")

    wrong.write_text("rule broken\npattern\n  graph(%x : Tensor):\n    %y = aten::relu(%x\n"
                     "    return (%y)\nreplacement\n  graph(%x : Tensor):\n    return (%x)\n")
    with pytest.raises(tsopt.Error, match=r"wrong.rules:5:5: in the IR: expected \) but found 'return'"):
        tsopt.check_rules(wrong)


def test_rules_rewrite_a_model_from_python(traced, example):
    report = tsopt.run(traced, "torch-freeze,rewrite{rules=decompose}", verify=True)
    assert report.passed
    assert report.passes[1]["stats"]["rule.linear-as-matmul-add"] == 1
    assert count(report.module, "aten::linear") == 0
    torch.testing.assert_close(report.module(example), traced(example), rtol=1e-5, atol=1e-5)


def test_reduce_keeps_the_batch_norm_the_failing_pass_needs(tmp_path, traced):
    out = tsopt.reduce(traced, "inline,test-raise-on-batch-norm", until="crash",
                       output=tmp_path / "small.pt")
    assert out["failure"]["kind"] == "crash"
    assert out["failure"]["spec"] == "test-raise-on-batch-norm"
    assert out["failure"]["message"].endswith("RuntimeError: found a batch norm")
    small = torch.jit.load(tmp_path / "small.pt")
    assert count(small, "aten::batch_norm") == 1
    assert out["nodes_after"] * 4 <= out["start_nodes"]
    with pytest.raises(tsopt.Error, match="found a batch norm"):
        tsopt.run(small, "test-raise-on-batch-norm", reproducer=False)


def test_reduce_keeps_a_difference(tmp_path, traced):
    out = tsopt.reduce(traced, "inline,fold-conv-bn,test-drop-first-relu,dce", until="differs",
                       output=tmp_path / "small.pt", seed=1)
    assert out["failure"]["index"] == 2
    small = torch.jit.load(tmp_path / "small.pt")
    assert count(small, "aten::relu") == 1
    assert not tsopt.run(small, "test-drop-first-relu", verify=True, seed=1).passed
    with pytest.raises(tsopt.Error, match=r"does not fail on .* \(--until crash\)"):
        tsopt.reduce(traced, "inline,fold-conv-bn,test-drop-first-relu", until="crash",
                     output=tmp_path / "other.pt")
