"""Shared fixtures of the Python API's tests: small models made here, and the CLI to compare with.

ctest runs these with PYTHONPATH=build/python and TSOPT_CLI=<the tsopt binary>."""
import os
import subprocess

import pytest
import torch

import tsopt  # noqa: F401  (imported first so a broken build fails every test the same way)


class ConvBnRelu(torch.nn.Module):
    """Two conv-bn-relu blocks and a linear head: folds, inlines, and has relus to break."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        self.head = torch.nn.Linear(8, 4)
        for bn in (self.features[1], self.features[4]):  # statistics that make folding matter
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(0.5, 2)
            bn.bias.data.uniform_(-1, 1)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_in_the_session(tmp_path_factory):
    """Reproducers that runs write to a new temporary folder land in one removed with the rest."""
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmp"))


@pytest.fixture
def example():
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def traced(example):
    return torch.jit.trace(ConvBnRelu().eval(), example)


@pytest.fixture
def scripted():
    return torch.jit.script(ConvBnRelu().eval())


@pytest.fixture
def cli():
    """Runs the tsopt command line; returns the completed process."""
    binary = os.environ["TSOPT_CLI"]

    def run(*args, check=True):
        return subprocess.run([binary, *map(str, args)], capture_output=True, text=True,
                              check=check)
    return run


def snapshot(module):
    """Everything of a module a run must leave alone: the IR and code of it and every submodule,
    and its tensors (bit for bit)."""
    return ([(name, sub.graph.str(), sub.code) for name, sub in module.named_modules()],
            repr(module),
            {k: v.clone() for k, v in module.state_dict().items()})


def same_snapshot(a, b):
    return a[:2] == b[:2] and a[2].keys() == b[2].keys() and all(
        torch.equal(a[2][k], b[2][k]) for k in a[2])
