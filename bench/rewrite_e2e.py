#!/usr/bin/python3
"""Rules files on the user's path: each figure is one whole command in a fresh process (loading,
freezing, rewriting, saving), the commands interleaved round by round, medians reported.

For each model it times
  - tsopt:  tsopt run MODEL -o OUT -p 'torch-freeze,rewrite{rules=RULES}'
            (the rules parsed and checked on random inputs at every start, then applied);
  - script: the PyTorch script a user has without tsopt: torch.jit.load, torch.jit.freeze, then
            torch._C._jit_pass_custom_pattern_based_rewrite_graph for each rule's pattern and
            replacement (taken from the same rules file, without its conditions), save.
It also prints the operators each result still holds of those the rules replace, since LibTorch's
rewriter does not match a constant shared with the rest of the graph (tsopt lifts them).

Usage: rewrite_e2e.py TSOPT RULES MODEL... [--runs N]
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

SCRIPT = """import sys, torch
rules = {rules!r}
m = torch.jit.freeze(torch.jit.load(sys.argv[1]).eval())
for pattern, replacement in rules:
    torch._C._jit_pass_custom_pattern_based_rewrite_graph(pattern, replacement, m.graph)
torch.jit.save(m, sys.argv[2])
"""

COUNT = """import sys, collections, torch
g = torch.jit.load(sys.argv[1]).inlined_graph
kinds = collections.Counter(n.kind() for n in g.nodes())
print(" ".join(f"{k}={kinds[k]}" for k in sys.argv[2:]))
"""


def rule_graphs(path):
    """(pattern, replacement) IR texts of every rule in a rules file, and the operators the
    patterns hold."""
    rules, ops, block, current = [], set(), None, {}
    for line in open(path).read().splitlines() + ["rule end"]:
        if line.startswith("rule"):
            if current:
                rules.append((current["pattern"], current["replacement"]))
            current, block = {}, None
        elif line in ("pattern", "replacement"):
            block = line
            current[block] = ""
        elif block and (line.startswith(" ") or not line):
            current[block] += line[2:] + "\n"  # the block without its indentation
            if block == "pattern":
                ops.update(re.findall(r"aten::\w+", line))
        else:
            block = None
    return rules, sorted(ops)


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return (time.perf_counter() - start) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsopt")
    ap.add_argument("rules")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rules, ops = rule_graphs(args.rules)
    tmp = tempfile.mkdtemp(prefix="tsopt-rewrite-e2e-")
    script = os.path.join(tmp, "rewrite.py")
    with open(script, "w") as f:
        f.write(SCRIPT.format(rules=rules))
    py = "/usr/bin/python3"
    print(f"{'model':28} {'tsopt ms':>9} {'script ms':>10} {'ratio':>6}  left after tsopt | script")
    for model in args.models:
        outs = {k: os.path.join(tmp, f"{k}.pt") for k in ("tsopt", "script")}
        cmds = {
            "tsopt": [args.tsopt, "run", model, "-q", "-o", outs["tsopt"], "-p",
                      f"torch-freeze,rewrite{{rules={args.rules}}}"],
            "script": [py, script, model, outs["script"]],
        }
        times = {k: [] for k in cmds}
        for _ in range(args.runs):
            order = list(cmds)
            random.shuffle(order)
            for k in order:
                times[k].append(timed(cmds[k]))
        med = {k: statistics.median(v) for k, v in times.items()}
        left = [subprocess.run([py, "-c", COUNT, outs[k]] + ops, check=True, text=True,
                               capture_output=True).stdout.strip() for k in ("tsopt", "script")]
        print(f"{os.path.basename(model):28} {med['tsopt']:9.0f} {med['script']:10.0f} "
              f"{med['tsopt'] / med['script']:6.2f}  {left[0]} | {left[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
