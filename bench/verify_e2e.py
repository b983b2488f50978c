#!/usr/bin/python3
"""What verification costs on the user's path: `tsopt run MODEL -o OUT --verify` in a fresh
process on a freshly loaded model, for each tsopt binary given (the build before a change and
after it, say), the commands interleaved round by round, medians reported: the whole command,
and the verify phase from the run's own report.

Usage: verify_e2e.py MODEL... --tsopt LABEL=BINARY [--tsopt LABEL=BINARY ...] [--runs N]
Prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time


def run(binary, model, folder):
    out, rep = os.path.join(folder, "out.pt"), os.path.join(folder, "report.json")
    start = time.perf_counter()
    done = subprocess.run([binary, "run", model, "-o", out, "--verify", "--report", rep, "-q"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    total = (time.perf_counter() - start) * 1000
    if done.returncode not in (0, 1):  # 1: the outputs differ, a verdict like any other
        raise SystemExit(f"{binary} run {model} exited {done.returncode}: {done.stderr}")
    with open(rep) as f:
        report = json.load(f)
    return total, report["phases"]["verify_ms"], report["verify"]["passed"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--tsopt", action="append", required=True, help="LABEL=BINARY")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    binaries = [b.split("=", 1) for b in args.tsopt]
    times = {(m, label): [] for m in args.models for label, _ in binaries}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.runs):
            for model in args.models:
                for label, binary in binaries:
                    times[(model, label)].append(run(binary, model, folder))
    print("| model | tsopt | `run --verify`, whole command | verify phase | verdict |")
    print("| --- | --- | ---: | ---: | --- |")
    for model in args.models:
        for label, _ in binaries:
            runs = times[(model, label)]
            total = statistics.median(t for t, _, _ in runs)
            verify = statistics.median(v for _, v, _ in runs)
            verdicts = {"equal" if p else "differs" for _, _, p in runs}
            print(f"| {os.path.basename(model)} | {label} | {total / 1000:.2f} s | "
                  f"{verify / 1000:.2f} s | {', '.join(sorted(verdicts))} |")


if __name__ == "__main__":
    main()
