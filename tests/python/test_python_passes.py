"""Passes written in Python, run among the C++ ones with the same checks, dumps and bisection."""
import pytest
import torch

import tsopt
from conftest import ConvBnRelu


def relu_nodes(graph):
    return [n for n in graph.nodes() if n.kind() in ("aten::relu", "aten::relu_")]


@tsopt.graph_pass("test-drop-relu")
def drop_relu(graph):
    """Removes every relu: computes something else (for bisection to find)."""
    nodes = relu_nodes(graph)
    for n in nodes:
        n.output().replaceAllUsesWith(n.input())
        n.destroy()
    return bool(nodes)


@tsopt.graph_pass("test-no-op")
def no_op(graph):
    pass  # returns None: tsopt compares the IR to tell nothing changed


@tsopt.graph_pass("test-cse")
def cse(graph):
    torch._C._jit_pass_cse(graph)  # LibTorch's own Python-bound passes work on the graph


@tsopt.graph_pass("test-freeze")
def freeze(module: torch.jit.ScriptModule):
    """A module pass: gets the module, returns a new one."""
    return torch.jit.freeze(module.eval(), optimize_numerics=False)


def test_listed_with_their_origin():
    by_name = {p.name: p for p in tsopt.passes()}
    assert by_name["test-drop-relu"].origin == "python"
    assert by_name["test-drop-relu"].kind == "graph"
    assert by_name["test-drop-relu"].description.startswith("Removes every relu")
    assert by_name["test-freeze"].kind == "module"
    assert by_name["dce"].origin == "builtin"


def test_runs_among_cpp_passes(traced, example):
    report = tsopt.run(traced, "inline,test-drop-relu,dce")
    assert [p["changed"] for p in report.passes] == [True, True, True]
    assert relu_nodes(report.module.graph) == []
    without_relus = ConvBnRelu().eval()  # the same weights: the model seeds its own
    without_relus.features[2] = without_relus.features[5] = torch.nn.Identity()
    assert torch.equal(report.module(example), without_relus(example))


def test_unchanged_is_detected(traced):
    # The traced graph repeats constants: the first CSE merges them, the second finds nothing.
    report = tsopt.run(traced, "inline,test-no-op,test-cse,test-cse")
    assert [p["changed"] for p in report.passes] == [True, False, True, False]


def test_bisection_blames_the_python_pass(traced):
    report = tsopt.run(traced, "inline,fold-conv-bn,test-drop-relu,dce", bisect=True)
    assert not report.passed
    assert report.first_failing_pass["name"] == "test-drop-relu"
    assert report.first_failing_pass["index"] == 2


def test_verify_each_blames_the_python_pass(traced):
    report = tsopt.run(traced, "inline,test-drop-relu,dce", verify="each")
    assert report.first_failing_pass["name"] == "test-drop-relu"
    assert [p["verify"]["passed"] for p in report.passes] == [True, False, False]


def test_dumped_like_any_pass(tmp_path, traced):
    tsopt.run(traced, "inline,test-drop-relu", dump_dir=tmp_path)
    assert (tmp_path / "02-test-drop-relu.diff").read_text().count("-  ") >= 2


def test_module_pass(scripted, example):
    report = tsopt.run(scripted, "test-freeze,dce")
    assert report.passes[0]["changed"]
    assert "prim::GetAttr" not in report.module.graph.str()
    torch.testing.assert_close(report.module(example), scripted(example), rtol=0, atol=0)


def test_a_failing_python_pass_is_one_error(tmp_path, traced):
    @tsopt.graph_pass("test-raises")
    def raises(graph):
        return 1 / 0

    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, "inline,test-raises", reproducer=tmp_path / "repro")
    assert str(e.value) == ("pass 'test-raises' failed on method 'forward': "
                            "ZeroDivisionError: division by zero; reproducer: "
                            + str(tmp_path / "repro" / "repro.sh"))
    # The model before the pass, and a script that says the pass must be defined again.
    tsopt.run(traced, "inline", output=tmp_path / "inlined.pt")
    assert (torch.jit.load(tmp_path / "repro" / "model.pt").graph.str()
            == torch.jit.load(tmp_path / "inlined.pt").graph.str())
    assert "The pass is defined in Python" in (tmp_path / "repro" / "repro.sh").read_text()
    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, "inline,test-raises", reproducer=False)
    assert str(e.value).endswith("division by zero")
    report = tsopt.run(traced, "inline,test-raises,dce", keep_going=True)
    assert [p["failed"] for p in report.passes] == [False, True, False]


def test_an_ir_breaking_python_pass_is_caught(traced):
    @tsopt.graph_pass("test-breaks-ir")
    def breaks(graph):
        # The returned value's producer moved first: it uses values defined after it.
        graph.return_node().inputsAt(0).node().moveBefore(graph.findNode("prim::GetAttr"))

    with pytest.raises(tsopt.Error, match="test-breaks-ir") as e:
        tsopt.run(traced, "inline,test-breaks-ir")
    assert "\n" not in str(e.value)


def test_defined_again_replaces_it(traced):
    @tsopt.graph_pass("test-again")
    def first(graph):
        return True

    @tsopt.graph_pass("test-again", description="the second")
    def second(graph):
        return False

    assert {p.name: p.description for p in tsopt.passes()}["test-again"] == "the second"
    assert not tsopt.run(traced, "test-again").passes[0]["changed"]


def test_cannot_take_a_cpp_pass_name():
    with pytest.raises(tsopt.Error, match="pass 'dce' from python is already registered by "
                                          "builtin"):
        tsopt.graph_pass("dce")(lambda graph: None)
    with pytest.raises(tsopt.Error, match="not kebab-case"):
        tsopt.graph_pass("My_Pass")(lambda graph: None)


def test_a_reproducer_that_does_not_fail_alone_says_so(tmp_path, traced):
    calls = []

    @tsopt.graph_pass("test-raises-once")
    def raises_once(graph):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("only the first time")
        return False

    with pytest.raises(tsopt.Error) as e:
        tsopt.run(traced, "inline,test-raises-once", reproducer=tmp_path)
    assert str(e.value).endswith("only the first time; reproducer (it does not fail alone): "
                                 + str(tmp_path / "repro.sh"))
    assert len(calls) == 2  # the run, then the pass alone on the reproducer's model
