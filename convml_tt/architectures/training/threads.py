"""Torch's CPU threads on a machine shared with other work: as many as make a step fastest, chosen per epoch."""
from __future__ import annotations

import os
import time

import torch

from ._fastai import Callback

__all__ = ["CPUThreads"]


def _others_running(samples: int = 7, interval_s: float = 0.01) -> float:
    """Tasks running or runnable on the machine now besides this process's calling thread: the median
    of ``samples`` reads of ``procs_running`` in ``/proc/stat`` (Linux), less one; the 1-minute load
    average less one where that file is missing. Read between steps, when torch's threads sleep."""
    counts = []
    try:
        for k in range(samples):
            with open("/proc/stat") as fh:
                counts += [int(line.split()[1]) for line in fh if line.startswith("procs_running")]
            if k + 1 < samples:
                time.sleep(interval_s)
    except OSError:
        counts = []
    if not counts:
        return os.getloadavg()[0] - 1.0
    counts.sort()
    return counts[len(counts) // 2] - 1.0


class CPUThreads(Callback):
    """Choose torch's intra-op thread count on the CPU by timing real training steps, epoch by epoch.

    Torch splits every operator over its threads and waits for all of them
    at the end; when other processes keep the cores busy, one of those
    threads is often descheduled and the others wait for it. Measured on the
    demo's training (ResNet-18, 96 tiles of 64 px a step) on a 2-core CPU
    with two busy processes beside it: 2 threads took 1.5-5.4 s a step
    (CPU time inflated as much), 1 thread 1.3-1.8 s; idle, 2 threads take
    0.5 s (docs/benchmarks.md).

    Before each training epoch, when the machine has other work (at least
    ``min_others`` runnable tasks besides this one, the median of a few
    reads of the kernel's count of running tasks, :func:`_others_running`),
    the first ``2 * trial`` steps alternate between 1
    thread and the thread count torch started with, and the faster (least
    wall time per step of each) runs the rest of the epoch. On an idle
    machine nothing changes (the steps, and so the numbers, are those of
    torch's default). The count torch started with is restored after the
    fit. Steps on another device than the CPU are left alone.

    ``chosen``: the thread count of each epoch (None: not tuned, torch's default; -1: the epoch ended
    within its trial steps).
    """

    order = -5  # before the other callbacks' before_batch: the whole step runs with the chosen count

    def __init__(self, trial: int = 2, min_others: float = 0.5) -> None:
        self.trial = int(trial)
        self.min_others = float(min_others)
        self.chosen: list[int | None] = []
        self._start = 0
        self._plan: list[int] = []
        self._times: dict[int, list[float]] = {}
        self._t0 = 0.0

    def _on_cpu(self) -> bool:
        p = next(iter(self.learn.model.parameters()), None)
        return p is not None and p.device.type == "cpu"

    def before_fit(self) -> None:
        self._start = torch.get_num_threads()
        self.chosen = []

    def before_epoch(self) -> None:
        torch.set_num_threads(self._start)
        self._plan, self._times = [], {}
        others = _others_running()
        if self._start > 1 and self._on_cpu() and others >= self.min_others:
            self._plan = [1, self._start] * self.trial
            self.chosen.append(-1)  # to be decided by the trial steps
        else:
            self.chosen.append(None)

    def before_batch(self) -> None:
        if self.training and self._plan:
            torch.set_num_threads(self._plan[0])
            self._t0 = time.perf_counter()

    def after_batch(self) -> None:
        if not (self.training and self._plan):
            return
        n = self._plan.pop(0)
        self._times.setdefault(n, []).append(time.perf_counter() - self._t0)
        if not self._plan:
            best = min(self._times, key=lambda k: min(self._times[k]))
            self.chosen[-1] = best
            torch.set_num_threads(best)

    def after_fit(self) -> None:
        torch.set_num_threads(self._start)
