#!/usr/bin/python3
"""The Python front end on the user's path: each figure is one whole command in a fresh process
(interpreter start, `import torch`, loading the model, the run, saving), the commands interleaved
round by round, medians reported.

For each model it times
  - tsopt.py:  import tsopt; tsopt.run(torch.jit.load(MODEL), output=OUT)  (the default pipeline);
  - tsopt CLI: tsopt run MODEL -o OUT  (the same run from the command line);
  - freeze.py: the script a user has without tsopt: torch.jit.load, torch.jit.freeze, save;
and, from two more fresh processes per round, the cost inside Python of the call itself on a
module already in memory (what a notebook pays), timed around the one call, without saving:
tsopt.run(m) (the default pipeline) and torch.jit.freeze(m), the goal being at most 1.5x freeze.

Usage: python_e2e.py TSOPT PYTHONPATH MODEL_DIR [--runs N] [--filter RE]
Models are made by make_bench_models.py; PYTHONPATH is build/python.
"""
import argparse
import glob
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

TSOPT_PY = ("import sys, torch, tsopt\n"
            "tsopt.run(torch.jit.load(sys.argv[1]), output=sys.argv[2])\n")
FREEZE_PY = ("import sys, torch\n"
             "m = torch.jit.load(sys.argv[1])\n"
             "torch.jit.save(torch.jit.freeze(m.eval()), sys.argv[2])\n")
IN_MEMORY_PY = ("import sys, time, torch, tsopt\n"
                "m = torch.jit.load(sys.argv[1]).eval()\n"
                "call = tsopt.run if sys.argv[2] == 'tsopt' else torch.jit.freeze\n"
                "start = time.perf_counter()\n"
                "call(m)\n"
                "print((time.perf_counter() - start) * 1000)\n")
IN_MEMORY = ("tsopt", "freeze")


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return (time.perf_counter() - start) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsopt")
    ap.add_argument("pythonpath")
    ap.add_argument("model_dir")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    models = sorted(m for m in glob.glob(os.path.join(args.model_dir, "*.pt"))
                    if re.search(args.filter, os.path.basename(m)))
    if not models:
        print(f"python_e2e: no models matching '{args.filter}' in {args.model_dir}",
              file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.pythonpath))
    tmp = tempfile.mkdtemp(prefix="tsopt-py-e2e-")
    scripts = {}  # not named tsopt.py: the script's folder comes first on sys.path
    for name, text in (("run_tsopt.py", TSOPT_PY), ("freeze.py", FREEZE_PY),
                       ("in_memory.py", IN_MEMORY_PY)):
        scripts[name] = os.path.join(tmp, name)
        with open(scripts[name], "w") as f:
            f.write(text)

    def out(m, tag):
        return os.path.join(tmp, f"{os.path.basename(m)}.{tag}.pt")

    py = sys.executable
    variants = {
        "tsopt.py": lambda m: [py, scripts["run_tsopt.py"], m, out(m, "py")],
        "tsopt CLI": lambda m: [args.tsopt, "run", m, "-o", out(m, "cli"), "-q"],
        "freeze.py": lambda m: [py, scripts["freeze.py"], m, out(m, "freeze")],
    }
    wall = {(m, v): [] for m in models for v in variants}
    in_memory = {(m, call): [] for m in models for call in IN_MEMORY}
    rng = random.Random(0)
    for r in range(args.runs):
        jobs = [(m, v) for m in models for v in list(variants) + list(IN_MEMORY)]
        rng.shuffle(jobs)
        for m, what in jobs:
            if what in IN_MEMORY:
                done = subprocess.run([py, scripts["in_memory.py"], m, what], check=True, env=env,
                                      capture_output=True, text=True)
                in_memory[(m, what)].append(float(done.stdout.strip().splitlines()[-1]))
            else:
                wall[(m, what)].append(timed(variants[what](m), env))
        print(f"python_e2e: round {r + 1} of {args.runs} done", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in wall.items()}
    live = {k: statistics.median(v) for k, v in in_memory.items()}
    print("| model | tsopt.py ms | tsopt CLI ms | freeze.py ms | tsopt.py / CLI "
          "| freeze.py / tsopt.py | on a loaded module: tsopt.run ms | torch.jit.freeze ms "
          "| run / freeze |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in models:
        p, c, f = med[(m, "tsopt.py")], med[(m, "tsopt CLI")], med[(m, "freeze.py")]
        lr, lf = live[(m, "tsopt")], live[(m, "freeze")]
        print(f"| {os.path.basename(m)} | {p:.0f} | {c:.0f} | {f:.0f} | {p / c:.2f}x "
              f"| {f / p:.2f}x | {lr:.0f} | {lf:.0f} | {lr / lf:.2f}x |")
    print(f"\n({args.runs} rounds, medians; each figure a fresh process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
