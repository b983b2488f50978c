#!/usr/bin/python3
"""Checks backported models on this Python's LibTorch (1.13): each MODEL.backported.pt must load
and compute what MODEL.pt computed on PyTorch 2.x, by tsopt's float64 rule (docs/verify.md):
|out - x| <= 4 R + 16 eps M + FLT_MIN, elementwise, where x is the float64 answer saved beside the
model, R the 2.x output's own largest error against it and M the largest |x|.

    compare.py DIR    (the folder tests/backport/make_models.py wrote, after the backport)

Prints one line per model and exits 1 if any fails.
"""
import glob
import os
import sys

import torch

EPS = torch.finfo(torch.float32).eps
TINY = torch.finfo(torch.float32).tiny


def check(path):
    base = path[: -len(".backported.pt")]
    saved = torch.load(base + ".expected.pt")
    model = torch.jit.load(path)
    with torch.no_grad():
        out = model(*torch.load(base + ".inputs.pt"))
    x = saved["exact"]
    reference_error = (saved["expected"].double() - x).abs().max().item()
    bound = 4 * reference_error + 16 * EPS * x.abs().max().item() + TINY
    error = (out.double() - x).abs().max().item()
    return error <= bound, f"error {error:.3g}, allowed {bound:.3g}"


def main():
    paths = sorted(glob.glob(os.path.join(sys.argv[1], "*.backported.pt")))
    if not paths:
        print("compare.py: no backported models in " + sys.argv[1], file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            ok, how = check(path)
        except Exception as e:  # a model that does not load or run here fails
            ok, how = False, str(e).strip().splitlines()[0]
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(path)} on LibTorch "
              f"{torch.__version__}: {how}")
    print(f"backport: {len(paths) - failed} of {len(paths)} backported models compute the same "
          f"on LibTorch {torch.__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
