"""Ctrl-C during tsopt's work, wherever it is: KeyboardInterrupt soon after, nothing written, no
reproducer, and the model as it was.

The signal comes from another process, as a terminal's or Jupyter's interrupt does. Each piece
of work would take at least 30 s uninterrupted; the bound on how long the interrupt took tells a
stop from a run to the end without timing the machine (bench/interrupt_latency.py measures it).
"""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import same_snapshot, snapshot

import tsopt

STOPPED_WITHIN = 5.0  # seconds; the work runs 30 s and more


class Slow(torch.nn.Module):
    """Each forward run takes a while (a hundred elementwise passes over a million values), and
    verifying it on many trials takes minutes."""

    def forward(self, x):
        for _ in range(100):
            x = torch.sin(x) * 1.0001
        return x


def interrupted(work, after=1.0):
    """Runs work() while another process sends this one SIGINT `after` seconds in, as a terminal
    or Jupyter's interrupt does (whether or not a thread here holds the GIL); returns the seconds
    from the signal to the KeyboardInterrupt."""
    # As in a terminal: under a script's background job SIGINT starts ignored, and Python then
    # leaves it so.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys, time\n"
         f"time.sleep({after})\n"
         "print(time.monotonic(), flush=True)\n"
         f"os.kill({os.getpid()}, signal.SIGINT)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(KeyboardInterrupt):
            work()
        caught = time.monotonic()
        sent = sender.stdout.read().strip()
        assert sent, "the work ended before it was interrupted"
        return caught - float(sent)
    finally:
        sender.kill()
        sender.wait()
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def slow():
    return torch.jit.script(Slow().eval())


@pytest.fixture(scope="module")
def resnet():
    torchvision = pytest.importorskip("torchvision")
    return torch.jit.trace(torchvision.models.resnet18().eval(), torch.rand(1, 3, 64, 64))


# 120,000 C++ passes over ResNet-18's inlined graph: about a minute.
MANY_CPP_PASSES = ["inline"] + ["dce", "torch-cse"] * 60000


def nothing_left(folder):
    return sorted(os.listdir(folder)) == []


def test_a_python_pass(tmp_path, traced):
    @tsopt.graph_pass("test-sleeps")
    def sleeps(graph):
        time.sleep(30)

    before = snapshot(traced)
    out, repro = tmp_path / "out", tmp_path / "repro"
    out.mkdir()
    took = interrupted(lambda: tsopt.run(traced, ["inline", "test-sleeps"],
                                         output=out / "m.pt", reproducer=repro))
    assert took < STOPPED_WITHIN
    assert nothing_left(out) and not repro.exists()
    assert same_snapshot(before, snapshot(traced))


def test_a_cpp_pass_pipeline(tmp_path, resnet):
    # The run stops between two C++ passes.
    out = tmp_path / "out"
    out.mkdir()
    took = interrupted(lambda: tsopt.run(resnet, MANY_CPP_PASSES, output=out / "m.pt",
                                         lint="full"))
    assert took < STOPPED_WITHIN
    assert nothing_left(out)


def test_verification(tmp_path, slow):
    out = tmp_path / "out"
    out.mkdir()
    took = interrupted(lambda: tsopt.run(slow, output=out / "m.pt", verify=True,
                                         input_specs=["1000x1000"], trials=1000))
    assert took < STOPPED_WITHIN
    assert nothing_left(out)


def test_verify_and_bisect(tmp_path, slow):
    @tsopt.graph_pass("test-breaks-sin")
    def breaks(graph):
        for node in graph.findAllNodes("aten::sin"):
            node.output().replaceAllUsesWith(node.input())  # the numbers change

    took = interrupted(lambda: tsopt.run(slow, ["test-breaks-sin"] * 50, verify=True, bisect=True,
                                         input_specs=["1000x1000"], trials=1000,
                                         reproducer=tmp_path / "repro"))
    assert took < STOPPED_WITHIN
    assert not (tmp_path / "repro").exists()


def test_verify_alone(slow):
    took = interrupted(lambda: tsopt.verify(slow, slow, input_specs=["1000x1000"], trials=1000))
    assert took < STOPPED_WITHIN


def test_reduce(tmp_path, slow):
    @tsopt.graph_pass("test-breaks-sin-too")
    def breaks(graph):
        for node in graph.findAllNodes("aten::sin"):
            node.output().replaceAllUsesWith(node.input())

    took = interrupted(lambda: tsopt.reduce(slow, ["test-breaks-sin-too"], until="differs",
                                            output=tmp_path / "small.pt",
                                            input_specs=["1000x1000"], trials=1000),
                       after=2.0)
    assert took < STOPPED_WITHIN
    assert not (tmp_path / "small.pt").exists()


def test_loading_a_library_that_never_loads():
    # Its constructor never returns: the library is probed in a child, which the interrupt ends.
    took = interrupted(lambda: tsopt.load_operators(os.environ["TSOPT_TEST_LIB_HANGS"]))
    assert took < STOPPED_WITHIN


def test_a_handler_of_the_users_own_raises_what_it_raises(resnet):
    # At a check between C++ passes, Python's SIGINT handler runs: what it raises is what the
    # run raises.
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop()

    previous = signal.signal(signal.SIGINT, handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(Stop):
            tsopt.run(resnet, MANY_CPP_PASSES, lint="full")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
