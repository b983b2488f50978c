"""Every eval-mode fixture, optimised with `tsopt run -O<LEVEL>`, loads in plain PyTorch (not only
in LibTorch), takes Python's module calls (eval()) and computes what the original computes:
-O1's stripped modules keep what Python needs, -O2's prepacked convolutions rebuild themselves
when the model is loaded.

usage: preset_in_pytorch.py TSOPT FIXTURE_DIR OUT_DIR LEVEL
"""
import json
import os
import subprocess
import sys

import torch


def close(a, b):
    if isinstance(a, torch.Tensor):
        scale = max(a.abs().max().item() if a.numel() else 0.0, 1.0)
        return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-4 * scale)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b


def main():
    tsopt, fixtures, out_dir, level = sys.argv[1:5]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(fixtures, "manifest.json")) as f:
        manifest = json.load(f)
    checked, failures = 0, []
    for entry in manifest:
        if entry["training"]:
            continue
        src = os.path.join(fixtures, entry["file"])
        out = os.path.join(out_dir, entry["file"])
        if os.path.exists(out):
            os.remove(out)
        subprocess.run([tsopt, "run", src, "-O" + level, "-o", out, "-q"], check=True)
        torch.manual_seed(0)
        inputs = [torch.randn(shape) for shape in entry["inputs"]]
        with torch.no_grad():
            # Clones: a model may write to its inputs.
            want = torch.jit.load(src).eval()(*[x.clone() for x in inputs])
            got = torch.jit.load(out).eval()(*[x.clone() for x in inputs])
        if not close(want, got):
            failures.append(entry["file"])
        checked += 1
    print(f"{checked} models checked in PyTorch {torch.__version__}")
    if failures or checked < 40:
        sys.exit(f"outputs differ after -O{level}: {', '.join(failures)}" if failures
                 else f"only {checked} models checked")


if __name__ == "__main__":
    main()
