#!/usr/bin/python3
"""Makes the benchmark models: torchvision classics (random weights, randomised BatchNorm
statistics, traced and scripted) and synthetic chains of N conv-bn-relu blocks (traced and
scripted); with --extra, larger models whose output sizes are checked too (ViT-B/16 traced and
scripted, torchaudio's Conformer scripted).

Usage: make_bench_models.py OUT_DIR [--models resnet18,...] [--chains 100,400,1600] [--extra]
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
from make_models import randomise  # noqa: E402

MODELS = {
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "densenet121": torchvision.models.densenet121,
    "vgg11_bn": torchvision.models.vgg11_bn,
    "efficientnet_b0": torchvision.models.efficientnet_b0,
}


def make_extra(out_dir):
    torch.manual_seed(0)
    vit = torchvision.models.vit_b_16(weights=None).eval()
    image = torch.randn(1, 3, 224, 224)
    for kind in ("traced", "scripted"):
        save(vit, image, os.path.join(out_dir, f"vit_b_16.{kind}.pt"), kind == "scripted")
    import torchaudio
    conformer = torchaudio.models.Conformer(input_dim=80, num_heads=4, ffn_dim=256, num_layers=4,
                                            depthwise_conv_kernel_size=31).eval()
    save(conformer, None, os.path.join(out_dir, "conformer.scripted.pt"), True)


def chain(n):
    layers = []
    for _ in range(n):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()]
    return nn.Sequential(*layers)


def save(model, example, path, script):
    if os.path.exists(path):
        return
    module = (torch.jit.script(model) if script
              else torch.jit.trace(model, example, check_trace=False))
    module.save(path + ".tmp")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--chains", default="100,400,1600")
    ap.add_argument("--extra", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(0)
    image = torch.randn(1, 3, 224, 224)
    for name in filter(None, args.models.split(",")):
        model = randomise(MODELS[name](weights=None)).eval()
        for kind in ("traced", "scripted"):
            save(model, image, os.path.join(args.out_dir, f"{name}.{kind}.pt"), kind == "scripted")
    for n in filter(None, args.chains.split(",")):
        model = randomise(chain(int(n))).eval()
        for kind in ("traced", "scripted"):
            save(model, torch.randn(1, 8, 16, 16),
                 os.path.join(args.out_dir, f"chain{n}.{kind}.pt"), kind == "scripted")
    if args.extra:
        make_extra(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
