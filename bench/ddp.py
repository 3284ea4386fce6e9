"""Data-parallel training (torch DDP) on N CPU processes vs 1 process, same global batch.

Runs, one after the other, the real fastai Learner of ``make_learner`` over
a preloaded toy triplet dataset:

* ``1 proc``: one process, ``--threads-1`` torch threads (default: N), batch G
  (and ``1 proc, 1 thread``: the same with one thread);
* ``N procs``: N ranks (gloo, started here with the variables torchrun sets),
  1 thread each, batch G/N each, the library's default DDP set-up (gradient
  all-reduce overlapped with the backward pass, global-batch batch norm,
  negatives gathered across ranks);
* ``N procs, timed``: the same with a DDP communication hook that runs each
  gradient bucket's all-reduce blocking and times it: the all-reduce time per
  step and its share of the (then serialised) step;
* ``N procs, rank BN``: plain DDP batch norm (per-rank statistics, no
  batch-norm all-reduces), to show what the global-batch statistics cost.

and prints the median step time (ms), global triplets per second, the ratio
to one process and the communication share. On the shared 2-core
development machine expect little or no speed-up: both configurations use
the same two cores; DDP adds the all-reduce and the per-layer batch-norm
synchronisation. The figures in docs/benchmarks.md::

    .venv/bin/python bench/ddp.py --arch resnet18 --tile-pixels 32 --batch-size 32 --steps 12

On a GPU node the same comparison is ``torchrun --nproc_per_node N -m
convml_tt train ...`` against one process (see docs/gpu-node.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # toy dataset writer


def _worker(args) -> None:
    """One rank (or the single process): train ``--steps`` + warm-up batches, print a JSON line."""
    import numpy as np
    import torch
    import torch.distributed as dist

    from convml_tt.architectures import make_learner
    from convml_tt.architectures.training._fastai import Callback
    from convml_tt.architectures.training.distributed import DataParallel, init_distributed, is_distributed

    torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        init_distributed("cpu", timeout=120)
    comm = {"s": 0.0, "n": 0}

    def timed_allreduce(state, bucket):
        buf = bucket.buffer()
        t0 = time.perf_counter()
        dist.all_reduce(buf)
        comm["s"] += time.perf_counter() - t0
        comm["n"] += 1
        fut = torch.futures.Future()
        fut.set_result(buf.div_(world))
        return fut

    class Timer(Callback):
        order = 100  # after DataParallel (11) has wrapped the model

        def before_fit(self):
            self.steps, self.comm = [], []
            if args.timed and is_distributed():
                self.learn.model.register_comm_hook(None, timed_allreduce)

        def before_batch(self):
            self.t0, self.c0 = time.perf_counter(), comm["s"]

        def after_batch(self):
            if self.training:
                self.steps.append(time.perf_counter() - self.t0)
                self.comm.append(comm["s"] - self.c0)

        def before_validate(self):
            from fastai.callback.core import CancelValidException

            raise CancelValidException()

    learn = make_learner(args.data, arch=args.arch, emb_dim=args.emb_dim, batch_size=args.batch_size // world,
                         device="cpu", mixed_precision="no", preload=True, valid_pct=0.02, seed=0,
                         progress=False, num_workers=0)
    for cb in learn.cbs:
        if isinstance(cb, DataParallel) and args.rank_bn:
            cb.sync_batchnorm = False
    cb = Timer()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4, cbs=[cb])
    steps, comms = cb.steps[args.warmup:], cb.comm[args.warmup:]
    if world == 1 or dist.get_rank() == 0:
        print(json.dumps({"step": float(np.median(steps)), "comm": float(np.median(comms)), "n": len(steps)}),
              flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, world: int, threads: int, timed: bool, rank_bn: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--data", str(args.data), "--arch", args.arch,
           "--emb-dim", str(args.emb_dim), "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
           "--threads", str(threads)] + (["--timed"] if timed else []) + (["--rank-bn"] if rank_bn else [])
    port = _free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(threads))
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs):
        if p.returncode != 0:
            raise SystemExit(f"a rank failed ({p.returncode}): {err[-2000:]}")
    line = [ln for ln in outs[0][0].splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--emb-dim", type=int, default=100)
    p.add_argument("--tile-pixels", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (triplets), split over the ranks")
    p.add_argument("--procs", type=int, default=2, help="ranks of the data-parallel runs")
    p.add_argument("--steps", type=int, default=12, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads-1", type=int, default=None, help="torch threads of the 1-process run (default --procs)")
    p.add_argument("--data", type=Path, default=None, help="existing dataset folder to use instead")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rank-bn", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args)
        return
    if args.batch_size % args.procs:
        p.error(f"--batch-size {args.batch_size} must be a multiple of --procs {args.procs}")
    tmp = None
    if args.data is None:
        from triplet_fixtures import write_toy_triplets

        n = int((args.steps + args.warmup) * args.batch_size / 0.98) + 2
        tmp = Path(tempfile.mkdtemp(prefix="convml_tt_bench_ddp_"))
        t0 = time.perf_counter()
        args.data = write_toy_triplets(tmp / "ds", n_train=n, size=args.tile_pixels, seed=0)
        print(f"wrote {n} toy triplets of {args.tile_pixels} px in {time.perf_counter() - t0:.1f} s", flush=True)
    n = args.procs
    t1 = args.threads_1 or n
    runs = [("1 proc", 1, t1, False)] + ([("1 proc, 1 thread", 1, 1, False)] if t1 != 1 else []) + [
        (f"{n} procs", n, 1, False), (f"{n} procs, timed", n, 1, True), (f"{n} procs, rank BN", n, 1, False, True)]
    load0 = os.getloadavg()[0]
    rows = []
    try:
        for name, world, threads, timed, *rank_bn in runs:
            r = _run(args, world, threads, timed, *rank_bn)
            rows.append((name, world, threads, r))
            print(f"{name}: step {1e3 * r['step']:.1f} ms (median of {r['n']})", flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    base = min(r["step"] for _, world, _, r in rows if world == 1)  # the faster one-process run
    print(f"\n{args.arch}, {args.tile_pixels} px, global batch {args.batch_size} triplets, fp32, CPU (gloo), "
          f"{os.cpu_count()} cores visible, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"median step of {args.steps} after {args.warmup} warm-up; ratio: speed vs the faster 1-process run")
    print(f"{'run':<18}{'threads':>8}{'batch/rank':>11}{'step ms':>9}{'triplets/s':>12}{'ratio':>7}"
          f"{'allreduce ms':>14}{'comm share':>12}")
    for name, world, threads, r in rows:
        timed = "timed" in name
        ar = f"{1e3 * r['comm']:.1f}" if timed else "-"
        share = f"{r['comm'] / r['step']:.2f}" if timed else "-"
        print(f"{name:<18}{threads:>8}{args.batch_size // world:>11}{1e3 * r['step']:>9.1f}"
              f"{args.batch_size / r['step']:>12.1f}{base / r['step']:>7.2f}{ar:>14}{share:>12}")


if __name__ == "__main__":
    main()
