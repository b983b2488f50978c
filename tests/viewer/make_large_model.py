"""Writes a scripted model whose inlined forward has about 20,000 nodes in nested submodules
(stages of blocks of elementwise ops, an `if` in each stage), for the viewer's browser tests and
its benchmark: python3 make_large_model.py OUT.pt [--stages S --blocks B]."""
import argparse

import torch
from torch import nn


class Block(nn.Module):
    """48 elementwise ops: cheap to script, many nodes once inlined."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        y = x * self.scale
        for_sum = torch.relu(y) + x
        y = torch.sigmoid(for_sum) * y
        y = torch.tanh(y) - for_sum
        y = y * 0.5 + x
        y = torch.relu(y) * self.scale
        y = torch.sigmoid(y) + for_sum
        y = torch.tanh(y) * 0.25 - x
        y = y + self.scale * 2.0
        y = torch.relu(y) - torch.sigmoid(y)
        y = torch.tanh(y) + y * 0.5
        y = y * self.scale - for_sum
        y = torch.relu(y) + torch.tanh(y)
        y = torch.sigmoid(y) * 0.75 + x
        y = y - self.scale * 0.5
        y = torch.relu(y) * torch.sigmoid(y)
        y = torch.tanh(y) + for_sum * 0.1
        y = y * self.scale + x
        y = torch.relu(y) - y * 0.5
        y = torch.sigmoid(y) + torch.tanh(y)
        return y * 0.5 + x


class Stage(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(blocks)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        if bool(x.sum() > 0):
            x = x - 1.0
        else:
            x = x + 1.0
        return x


class Large(nn.Module):
    def __init__(self, stages, blocks):
        super().__init__()
        self.stages = nn.Sequential(*[Stage(blocks) for _ in range(stages)])

    def forward(self, x):
        return self.stages(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--stages", type=int, default=12)
    parser.add_argument("--blocks", type=int, default=36)
    args = parser.parse_args()
    torch.jit.script(Large(args.stages, args.blocks).eval()).save(args.out)


if __name__ == "__main__":
    main()
