#!/usr/bin/python3
"""End-to-end benchmark on the user's path: every figure is one whole command in a fresh process
on a freshly loaded model, the commands interleaved round by round, medians reported.

For each model it times
  - `tsopt run MODEL -o OUT` (the default pipeline) and `tsopt run MODEL -O0 -o OUT`;
  - the anchor a user has without tsopt, a Python script: torch.jit.load, torch.jit.freeze, save;
and reports the output sizes, the share of the default run spent outside load, passes and save
(from the timed run's own report), and our inline and dce against LibTorch's: the passes' own
times in `tsopt run -p inline,dce`, against `-p torch-inline` and `-p inline,torch-dce` (so both
dce run on the graph our inline made), each a fresh process.

Usage: run_e2e.py TSOPT MODEL_DIR [--runs N] [--filter RE] [--python /usr/bin/python3]
Models are made by make_bench_models.py.
"""
import argparse
import glob
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

FREEZE = ("import sys, torch\n"
          "m = torch.jit.load(sys.argv[1])\n"
          "torch.jit.save(torch.jit.freeze(m.eval()), sys.argv[2])\n")


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return (time.perf_counter() - start) * 1000


def report(cmd, path):
    subprocess.run(cmd + ["--report", path, "-q"], check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        return json.load(f)


def pass_ms(rep, name):
    return sum(p["ms"] for p in rep["passes"] if p["name"] == name)


def geomean(xs):
    xs = [x for x in xs if x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsopt")
    ap.add_argument("model_dir")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--filter", default="")
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    models = sorted(m for m in glob.glob(os.path.join(args.model_dir, "*.pt"))
                    if re.search(args.filter, os.path.basename(m)))
    if not models:
        print(f"run_e2e: no models matching '{args.filter}' in {args.model_dir}", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tsopt-e2e-")
    script = os.path.join(tmp, "freeze.py")
    with open(script, "w") as f:
        f.write(FREEZE)

    def out(name, tag):
        return os.path.join(tmp, f"{os.path.basename(name)}.{tag}.pt")

    variants = {
        "default": lambda m: [args.tsopt, "run", m, "-o", out(m, "default"), "-q", "--report",
                              out(m, "default") + ".json"],
        "O0": lambda m: [args.tsopt, "run", m, "-O0", "-o", out(m, "O0"), "-q"],
        "freeze.py": lambda m: [args.python, script, m, out(m, "freeze")],
    }
    # Which runs give which pass's time: ours both come from one run.
    passes = {"ours": ["-p", "inline,dce"], "torch-inline": ["-p", "torch-inline"],
              "torch-dce": ["-p", "inline,torch-dce"]}
    measured = {"ours": ["inline", "dce"], "torch-inline": ["torch-inline"],
                "torch-dce": ["torch-dce"]}
    wall = {(m, v): [] for m in models for v in variants}
    pms = {(m, p): [] for m in models for run in measured.values() for p in run}
    outside = {m: [] for m in models}
    startup = {m: [] for m in models}  # the command's wall time before and after its phases
    rng = random.Random(0)
    for r in range(args.runs):
        jobs = [(m, v) for m in models for v in variants] + [(m, p) for m in models for p in passes]
        rng.shuffle(jobs)
        for m, what in jobs:
            if what in variants:
                wall[(m, what)].append(timed(variants[what](m)))
            else:
                rep = report([args.tsopt, "run", m, "-o", out(m, "pass")] + passes[what],
                             os.path.join(tmp, "pass.json"))
                for p in measured[what]:
                    pms[(m, p)].append(pass_ms(rep, p))
            if what == "default":  # the phases of the run just timed, from its own report
                with open(out(m, "default") + ".json") as f:
                    ph = json.load(f)["phases"]
                core = ph["load_ms"] + ph["passes_ms"] + ph["save_ms"]
                outside[m].append((ph["total_ms"] - core) / ph["total_ms"])
                startup[m].append(wall[(m, what)][-1] - ph["total_ms"])
        print(f"run_e2e: round {r + 1} of {args.runs} done", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in wall.items()}
    print("| model | input MB | default MB | freeze.py MB | default ms | -O0 ms | freeze.py ms "
          "| freeze.py / default | outside load+passes+save | process start and exit ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    speedups, sizes = [], []
    for m in models:
        size = os.path.getsize(m) / 1e6
        dsize = os.path.getsize(out(m, "default")) / 1e6
        fsize = os.path.getsize(out(m, "freeze")) / 1e6
        sizes.append(dsize / size)
        s = med[(m, "freeze.py")] / med[(m, "default")]
        speedups.append(s)
        print(f"| {os.path.basename(m)} | {size:.1f} | {dsize:.1f} | {fsize:.1f} "
              f"| {med[(m, 'default')]:.0f} | {med[(m, 'O0')]:.0f} | {med[(m, 'freeze.py')]:.0f} "
              f"| {s:.2f}x | {100 * statistics.median(outside[m]):.1f}% "
              f"| {statistics.median(startup[m]):.0f} |")
    print(f"\ngeomean freeze.py / default: {geomean(speedups):.2f}x; largest default output / "
          f"input: {max(sizes):.3f}x")
    chains = {os.path.basename(m): m for m in models if "chain" in m}
    for kind in ("traced", "scripted"):
        small, large = chains.get(f"chain400.{kind}.pt"), chains.get(f"chain1600.{kind}.pt")
        if small and large:
            growth = med[(large, "default")] / med[(small, "default")]
            print(f"default run, {kind} chain of 400 -> 1600 blocks: {growth:.2f}x the wall time")
    print()
    print("| model | inline ms | torch-inline ms | ratio | dce ms | torch-dce ms | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {"inline": [], "dce": []}
    for m in models:
        row = [os.path.basename(m)]
        for p in ("inline", "dce"):
            ours, theirs = (statistics.median(pms[(m, p)]),
                            statistics.median(pms[(m, "torch-" + p)]))
            ratios[p].append(theirs / ours if ours > 0 else float("nan"))
            row += [f"{ours:.2f}", f"{theirs:.2f}", f"{ratios[p][-1]:.2f}x"]
        print("| " + " | ".join(row) + " |")
    print(f"\ngeomean LibTorch / tsopt: inline {geomean(ratios['inline']):.2f}x, "
          f"dce {geomean(ratios['dce']):.2f}x ({args.runs} runs, medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
