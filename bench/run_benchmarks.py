#!/usr/bin/python3
"""Runs tsopt_bench once per model (a fresh process each, so one model's allocations cannot
slow another's), with repetitions in random interleaved order, and prints a Markdown table of
medians (ms) and ratios.

Usage: run_benchmarks.py BENCH_BINARY MODEL_DIR [--repetitions N] [--min-time S] [--filter RE]
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys

PASSES = ["inline", "dce", "fold-conv-bn"]


def run_model(binary, model, args):
    cmd = [binary, model, "--benchmark_format=json",
           f"--benchmark_repetitions={args.repetitions}",
           f"--benchmark_min_time={args.min_time}",
           "--benchmark_enable_random_interleaving=true",
           "--benchmark_report_aggregates_only=true"]
    if args.filter:
        cmd.append(f"--benchmark_filter={args.filter}")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    medians = {}
    if not out.strip():  # the filter selected nothing for this model
        return medians
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            # "fold-conv-bn/tsopt/resnet18.traced" -> ("fold-conv-bn", "tsopt")
            pass_name, who, _ = b["run_name"].split("/", 2)
            scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
            medians[(pass_name, who)] = b["real_time"] * scale
    return medians


def fmt(ms):
    return "-" if ms is None else (f"{ms:.3g}" if ms < 100 else f"{ms:.0f}")


def ratio(a, b):
    return None if a is None or b is None or a == 0 else b / a


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("models")
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--filter", default="")
    args = p.parse_args()

    results = {}
    for model in sorted(glob.glob(os.path.join(args.models, "*.pt"))):
        name = os.path.basename(model)[:-3]
        print(f"running {name}", file=sys.stderr)
        medians = run_model(args.binary, model, args)
        if medians:
            results[name] = medians

    print("| model | inline ours | inline LibTorch | x | dce ours | dce LibTorch | x "
          "| fold ours | fold LibTorch | x | fold floor | ours / floor | edit floor |")
    print("| --- " * 14 + "|")
    fold_speedups = []
    for name, r in results.items():
        row = [name]
        for pass_name in PASSES:
            ours, theirs = r.get((pass_name, "tsopt")), r.get((pass_name, "torch"))
            x = ratio(ours, theirs)
            row += [fmt(ours), fmt(theirs), "-" if x is None else f"{x:.1f}"]
            if pass_name == "fold-conv-bn" and x is not None:
                fold_speedups.append(x)
        floor = r.get(("fold-conv-bn", "floor"))
        over = ratio(floor, r.get(("fold-conv-bn", "tsopt")))
        row += [fmt(floor), "-" if over is None else f"{over:.2f}",
                fmt(r.get(("fold-conv-bn", "edit-floor")))]
        print("| " + " | ".join(row) + " |")
    if fold_speedups:
        geo = math.exp(sum(math.log(x) for x in fold_speedups) / len(fold_speedups))
        print(f"\nfold-conv-bn against LibTorch, geometric mean: {geo:.1f}x faster "
              f"(slowest model {min(fold_speedups):.1f}x)")

    small, large = results.get("chain400.traced"), results.get("chain1600.traced")
    if small and large:
        print("\nGrowth from 400 to 1600 blocks (time at 1600 / time at 400):")
        for pass_name in PASSES + ["walk"]:
            for who in ("tsopt", "torch", "floor", "edit-floor"):
                a, b = small.get((pass_name, who)), large.get((pass_name, who))
                if a and b:
                    print(f"- {pass_name} {who}: {b / a:.1f}x")


if __name__ == "__main__":
    main()
