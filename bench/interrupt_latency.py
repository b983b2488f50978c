#!/usr/bin/python3
"""How long Ctrl-C takes to stop tsopt in Python: from SIGINT to KeyboardInterrupt, on a
torchvision model, for each place a run can be (a Python pass, a C++ pass pipeline, verification,
bisection, tsopt.verify, tsopt.reduce). Each figure is one fresh process that loads the model,
starts the work and is sent SIGINT `--after` seconds in by a timer thread, as a terminal or
Jupyter's interrupt button sends it; medians of --runs. The goal is under a second.

Usage: interrupt_latency.py PYTHONPATH [--model resnet50] [--runs 5] [--after 2]
"""
import argparse
import statistics
import subprocess
import sys

SCENARIO = r'''
import os, signal, sys, threading, time
import torch, torchvision, tsopt
model = torch.jit.trace(getattr(torchvision.models, sys.argv[2])().eval(),
                        torch.rand(1, 3, 224, 224))
where, after = sys.argv[1], float(sys.argv[3])
# As in a terminal: a process started in the background of a script has SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

@tsopt.graph_pass("bench-sleeps")
def sleeps(graph):
    time.sleep(600)

@tsopt.graph_pass("bench-breaks")
def breaks(graph):
    for node in graph.findAllNodes("aten::relu"):
        node.output().replaceAllUsesWith(node.input())

work = {
    "python pass": lambda: tsopt.run(model, ["inline", "bench-sleeps"]),
    "C++ passes": lambda: tsopt.run(model, ["inline"] + ["dce", "torch-cse"] * 20000, lint="full"),
    "verification": lambda: tsopt.run(model, verify=True, trials=10000),
    "bisection": lambda: tsopt.run(model, ["inline"] + ["bench-breaks", "dce"] * 200, verify=True,
                                   bisect=True, trials=10000, reproducer=False),
    "tsopt.verify": lambda: tsopt.verify(model, model, trials=10000),
    "tsopt.reduce": lambda: tsopt.reduce(model, ["inline", "bench-breaks"], until="differs",
                                         output=os.devnull + ".never", trials=10000),
}[where]
sent = []
def send():
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)
threading.Timer(after, send).start()
try:
    work()
    print("finished before the interrupt", file=sys.stderr)
    sys.exit(1)
except KeyboardInterrupt:
    print((time.monotonic() - sent[0]) * 1000)
'''
WHERE = ["python pass", "C++ passes", "verification", "bisection", "tsopt.verify", "tsopt.reduce"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pythonpath")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--after", type=float, default=2.0)
    args = ap.parse_args()
    env = {"PYTHONPATH": args.pythonpath, "PATH": "/usr/bin:/bin"}
    took = {w: [] for w in WHERE}
    for r in range(args.runs):
        for where in WHERE:  # interleaved, round by round
            done = subprocess.run([sys.executable, "-c", SCENARIO, where, args.model,
                                   str(args.after)], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"{where}: exit {done.returncode}\n{done.stderr}", file=sys.stderr)
                return 1
            took[where].append(float(done.stdout.strip().splitlines()[-1]))
        print(f"interrupt_latency: round {r + 1} of {args.runs} done", file=sys.stderr)
    print(f"| where ({args.model}) | SIGINT to KeyboardInterrupt, median ms | slowest ms |")
    print("| --- | ---: | ---: |")
    for where in WHERE:
        print(f"| {where} | {statistics.median(took[where]):.0f} | {max(took[where]):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
