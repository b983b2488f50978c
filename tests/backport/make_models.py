#!/usr/bin/python3
"""Makes models that call LibTorch 2.x operators (scaled_dot_product_attention in each of its
forms, the encoder layer of nn.TransformerEncoder, rms_norm, squeeze with a list of dims), traced
and scripted, with PyTorch 2.x. Beside each MODEL.pt, MODEL.inputs.pt holds its inputs (tsopt's
verification takes them) and MODEL.expected.pt its outputs and those of a float64 copy, for
tests/backport/compare.py to check a backported copy against on LibTorch 1.13.

    make_models.py OUTDIR
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """SDPA with a mask, causal flag and scale of the case's."""

    def __init__(self, mask=None, causal=False, scale=None):
        super().__init__()
        self.mask, self.causal, self.scale = mask, causal, scale

    def forward(self, q, k, v):
        mask = None if self.mask is None else self.mask.to(q.dtype) if self.mask.dtype != torch.bool else self.mask
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal,
                                              scale=self.scale)


class RmsSqueeze(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8))

    def forward(self, x):
        return F.rms_norm(x, [8], self.weight).squeeze((0, 2))


def cases():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=g), torch.randn(2, 3, 5, 8, generator=g),
               torch.randn(2, 3, 5, 6, generator=g))
    bool_mask = torch.rand(4, 5, generator=g) > 0.3
    bool_mask[1] = False  # a row hidden entirely: LibTorch 2.x gives 0 there
    float_mask = torch.randn(4, 5, generator=g)
    qkv = (q, k, v)
    square = (q, torch.randn(2, 3, 4, 8, generator=g), torch.randn(2, 3, 4, 6, generator=g))
    yield "sdpa", Attention(), qkv, ("trace", "script")
    yield "sdpa_bool_mask", Attention(mask=bool_mask), qkv, ("trace",)
    yield "sdpa_float_mask", Attention(mask=float_mask), qkv, ("trace",)
    yield "sdpa_causal_scale", Attention(causal=True, scale=0.3), square, ("trace",)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2)
    yield "encoder", encoder.eval(), (torch.randn(2, 5, 16, generator=g),), ("trace", "script")
    yield "rms_squeeze", RmsSqueeze(), (torch.randn(1, 3, 1, 8, generator=g),), ("trace", "script")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name, model, inputs, kinds in cases():
        model.eval()
        with torch.no_grad():
            expected = model(*inputs)
            exact = copy.deepcopy(model).double()
            if isinstance(exact, Attention) and exact.mask is not None and exact.mask.dtype != torch.bool:
                exact.mask = exact.mask.double()
            exact = exact(*[x.double() for x in inputs])
        for kind in kinds:
            with torch.no_grad():
                m = torch.jit.trace(model, inputs) if kind == "trace" else torch.jit.script(model)
            path = os.path.join(out, name + (".traced" if kind == "trace" else ".scripted"))
            m.save(path + ".pt")
            torch.save(tuple(inputs), path + ".inputs.pt")  # what tsopt verifies with
            torch.save({"expected": expected, "exact": exact}, path + ".expected.pt")
            print(path + ".pt")


if __name__ == "__main__":
    main()
