"""Benchmark: torch's CPU training step with OpenMP's default (spinning) wait policy vs passive waiting,
on an idle machine or with busy processes beside it.

    .venv/bin/python bench/threads.py                 # idle machine
    .venv/bin/python bench/threads.py --busy 2        # two CPU-bound processes beside it (issue 25's "load")

One step: ResNet-18 (torchvision, 100 outputs) forward and backward and an
Adam update on ``--batch`` random 64 px RGB tiles (the demo's 32 triplets),
torch's default threads. Each policy runs in its own process
(``OMP_WAIT_POLICY`` is read when torch loads OpenMP), ``--rounds`` times,
alternating, ``--steps`` timed steps after one warm-up step; medians of
wall and CPU seconds per step. ``--busy N`` starts N ``while True: pass``
processes for the whole run and stops them at the end. Prints a markdown
table and the ratio ACTIVE / PASSIVE (> 1: passive is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, os, sys, time, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=100)
opt = torch.optim.Adam(m.parameters())
x = torch.randn(int(sys.argv[1]), 3, 64, 64)
def step():
    opt.zero_grad(); m(x).pow(2).mean().backward(); opt.step()
step()
t, c = time.perf_counter(), time.process_time()
for _ in range(int(sys.argv[2])):
    step()
n = int(sys.argv[2])
print(json.dumps({"wall": (time.perf_counter() - t) / n, "cpu": (time.process_time() - c) / n,
                  "threads": torch.get_num_threads()}))
"""


def run(policy: str, batch: int, steps: int) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(steps)], env=env, capture_output=True,
                         text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--busy", type=int, default=0, help="CPU-bound processes to run beside it (default 0)")
    p.add_argument("--batch", type=int, default=96, help="tiles per step (default 96: 32 triplets)")
    p.add_argument("--steps", type=int, default=6, help="timed steps per run (default 6)")
    p.add_argument("--rounds", type=int, default=2, help="runs per policy, alternating (default 2)")
    a = p.parse_args(argv)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        got: dict[str, list[dict]] = {"ACTIVE": [], "PASSIVE": []}
        for _ in range(a.rounds):
            for policy in got:
                got[policy].append(run(policy, a.batch, a.steps))
    finally:
        for b in busy:
            b.kill()
            b.wait()
    med = {k: {q: statistics.median(r[q] for r in v) for q in ("wall", "cpu")} for k, v in got.items()}
    threads = got["ACTIVE"][0]["threads"]
    print(f"ResNet-18 training step, {a.batch} tiles of 64 px, {threads} torch threads, {a.busy} busy "
          f"process(es) beside it, {os.cpu_count()} cores; median of {a.rounds} runs x {a.steps} steps\n")
    print("| OMP_WAIT_POLICY | wall s per step | CPU s per step |")
    print("|---|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {v['wall']:.3f} | {v['cpu']:.3f} |")
    print(f"\n**ACTIVE / PASSIVE wall time: {med['ACTIVE']['wall'] / med['PASSIVE']['wall']:.2f}x** "
          f"(CPU time {med['ACTIVE']['cpu'] / med['PASSIVE']['cpu']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
