"""Verdicts on a notebook's live modules: the traced shapes are used, a wrong pass is caught and
blamed at any input scale, and a model left in training mode is said to be one."""
import torch

import tsopt
from conftest import ConvBnRelu


@tsopt.graph_pass("test-relu-to-relu6")
def relu_to_relu6(graph):
    """Turns relu into hardtanh(x, 0, 6): equal only while no activation exceeds 6."""
    changed = False
    for node in list(graph.nodes()):
        if node.kind() not in ("aten::relu", "aten::relu_"):
            continue
        with graph.insert_point_guard(node):
            low, high = graph.insertConstant(0.0), graph.insertConstant(6.0)
            clamp = graph.create("aten::hardtanh", [node.input(), low, high])
            graph.insertNode(clamp)
        clamp.output().setType(node.output().type())
        node.output().replaceAllUsesWith(clamp.output())
        node.destroy()
        changed = True
    return changed


PIPELINE = "inline,fold-conv-bn,test-relu-to-relu6,dce"


def test_a_live_traced_module_is_verified_on_its_traced_shape():
    example = torch.rand(1, 3, 40, 40)
    traced = torch.jit.trace(ConvBnRelu().eval(), example)
    report = tsopt.run(traced, "inline,fold-conv-bn,dce", verify=True)
    assert report.passed, report.verification.summary
    assert report.to_dict()["verify"]["inputs"]["forward"] == [
        "1x3x40x40 (traced, from the live module)"]


def test_relu6_is_caught_and_blamed_at_every_input_scale():
    traced = torch.jit.trace(ConvBnRelu().eval(), torch.rand(1, 3, 40, 40))
    for scale in (1.0, 255.0):
        report = tsopt.run(traced, PIPELINE, verify=True, bisect=True, scale=scale,
                           reproducer=False)
        assert not report.passed, (scale, report.verification.summary)
        assert report.first_failing_pass["name"] == "test-relu-to-relu6", scale
        # Where it parts: the convolution after the first relu, now fed by hardtanh.
        where = report.divergence
        assert where and "its inputs from aten::hardtanh" in where["node"], where
        assert "aten::_convolution" in where["node"], where
        # fold-conv-bn's own rounding stays within what the float64 rule allows.
        steps = report.to_dict()["verify"]["bisect"]["steps"]
        folded = [s for s in steps if s["passes"] == 2]
        assert all(s["passed"] and s["error_ratio"] < 1 for s in folded), steps


def test_the_verdict_says_which_rule_decided():
    traced = torch.jit.trace(ConvBnRelu().eval(), torch.rand(1, 3, 40, 40))
    verdict = tsopt.verify(traced, tsopt.run(traced, "inline,fold-conv-bn,dce").module)
    assert verdict, verdict.summary
    assert [o["rule"] for o in verdict.outputs] == ["float64"]
    assert 0 < verdict.error_ratio < 1
    assert "held to the float64 answer" in verdict.summary
    assert verdict.warnings == []
    loose = tsopt.verify(traced, traced, rtol=1e-3)
    assert [o["rule"] for o in loose.outputs] == ["tolerance"]


def test_a_model_in_training_mode_warns_once():
    traced = torch.jit.trace(ConvBnRelu().train(), torch.rand(2, 3, 16, 16))
    report = tsopt.run(traced, "inline,fold-conv-bn,dce")
    training = [w for w in report.warnings if "training mode" in w]
    assert len(training) == 1, report.warnings
    assert "fold-conv-bn skipped 2" in training[0]
