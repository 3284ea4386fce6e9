"""Training throughput through the real data pipeline vs. the bare model step.

Measures, in one run and on one device, triplets per second of

* ``bare``: a hand-written torch loop (forward of 3B tiles, triplet loss,
  backward, ``torch.optim.Adam`` step) on random tensors already on the
  device, same model, shapes, precision and memory format;
* ``png``: ``make_learner(...)`` + fastai training over the PNG folder
  (decoding every batch);
* ``preload``: the same with the stage preloaded as uint8 in memory
  (``--preload-device`` adds a run with the tiles kept on the device);
* ``packed`` (with ``--packed``): the same over the dataset converted to
  the packed tile store (memory-mapped uint8 shards, no decoding);

and prints each pipeline's rate divided by the bare rate (target >= 0.9 on
CPU). One bare step runs right after each batch of the Learner, and both are
timed separately, so that load from other processes (the development
machine is shared) hits both alike.

CPU (the figures in docs/benchmarks.md)::

    .venv/bin/python bench/train.py --tile-pixels 64 --batch-size 32 --steps 8
    .venv/bin/python bench/train.py --precision fp32 --channels-last off  # the old default

GPU::

    python bench/train.py --device cuda --tile-pixels 256 --precision bf16 \
        --batch-size 256 --steps 30 --triplets 9000 --preload-device
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # toy dataset writer

from convml_tt.architectures import (  # noqa: E402
    TripletEncoder,
    TripletLoss,
    TripletModel,
    make_learner,
    resolve_device,
)
from fastai.callback.core import Callback  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class _BareStep:
    """A hand-written training step (no fastai, no data pipeline) on random tensors."""

    def __init__(self, args, dev: torch.device, channels: int) -> None:
        torch.manual_seed(0)
        self.dev = dev
        cl = args.channels_last
        self.model = TripletModel(TripletEncoder(args.arch, channels, args.emb_dim)).to(dev)
        if cl:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.loss_f = TripletLoss()
        shape = (args.batch_size, channels, args.tile_pixels, args.tile_pixels)
        mf = torch.channels_last if cl else torch.contiguous_format
        self.xs = [torch.randn(shape, device=dev).contiguous(memory_format=mf) for _ in range(3)]
        self.amp = args.precision == "bf16" or (args.precision == "fp16" and dev.type == "cuda")
        self.dtype = torch.bfloat16 if args.precision == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and args.precision == "fp16")

    def __call__(self) -> None:
        with torch.autocast(self.dev.type, dtype=self.dtype, enabled=self.amp):
            pred = self.model(*self.xs)
        loss = self.loss_f(pred.float())
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad()
        _sync(self.dev)


class _Interleaved(Callback):
    """After each training batch of the Learner, run one bare step; time both.

    The pipeline interval runs from the end of the previous bare step to the
    end of this batch, so it holds data loading (PNG decoding or indexing),
    the transfer and batch transform, and fastai's own step. Interleaving
    step by step exposes both to the same load from other processes.
    """

    order = 100

    def __init__(self, bare: _BareStep, warmup: int) -> None:
        self.bare, self.warmup = bare, warmup
        self.pipe, self.ref = [], []

    def before_train(self) -> None:
        _sync(self.dls.device)
        self.last = time.perf_counter()

    def after_batch(self) -> None:
        if not self.training:
            return
        _sync(self.dls.device)
        now = time.perf_counter()
        self.pipe.append(now - self.last)
        self.bare()
        self.last = time.perf_counter()
        self.ref.append(self.last - now)

    def before_validate(self) -> None:
        from fastai.callback.core import CancelValidException

        raise CancelValidException()


def measure(args, dev: torch.device, data: Path, preload, bare: _BareStep) -> tuple[float, float]:
    """(pipeline triplets/s, bare triplets/s), interleaved step by step."""
    learn = make_learner(
        data, arch=args.arch, emb_dim=args.emb_dim, batch_size=args.batch_size, device=dev,
        mixed_precision="no" if args.precision == "fp32" else args.precision, preload=preload,
        channels_last=args.channels_last,
        valid_pct=0.02, seed=0, progress=False, num_workers=args.workers,
    )
    cb = _Interleaved(bare, args.warmup)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4, cbs=[cb])
    pipe, ref = cb.pipe[args.warmup:], cb.ref[args.warmup:]
    if len(pipe) < 2:
        raise SystemExit(f"only {len(cb.pipe)} batches; write more triplets (--triplets)")
    return len(pipe) * args.batch_size / sum(pipe), len(ref) * args.batch_size / sum(ref)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--emb-dim", type=int, default=100)
    p.add_argument("--tile-pixels", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32"],
                   help="autocast precision (bf16 on CUDA or CPU; fp16 on CUDA only)")
    p.add_argument("--channels-last", default="on", choices=["on", "off"],
                   help="channels-last memory format for model and batches")
    p.add_argument("--triplets", type=int, default=None, help="triplets in the generated dataset")
    p.add_argument("--data", type=Path, default=None, help="existing dataset folder to use instead")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=None, help="data loading processes (default: auto)")
    p.add_argument("--preload-device", action="store_true", help="also time tiles kept on the device")
    p.add_argument("--packed", action="store_true", help="also time the dataset converted to packed shards")
    args = p.parse_args()
    args.channels_last = args.channels_last == "on"
    if args.precision == "fp16" and args.device.startswith("cpu"):
        p.error("--precision fp16 needs CUDA; use bf16 or fp32 on CPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    tmp = None
    data = args.data
    if data is None:
        from triplet_fixtures import write_toy_triplets

        n = args.triplets or int((args.steps + args.warmup + 2) * args.batch_size / 0.98) + 1
        tmp = Path(tempfile.mkdtemp(prefix="convml_tt_bench_"))
        t0 = time.perf_counter()
        data = write_toy_triplets(tmp / "ds", n_train=n, size=args.tile_pixels, seed=0)
        print(f"wrote {n} toy triplets of {args.tile_pixels} px in {time.perf_counter() - t0:.1f} s")
    steps_needed = args.steps + args.warmup + 1

    variants = [("png", False), ("preload", True)] + ([("preload-device", "device")] if args.preload_device else [])
    folders = {name: data for name, _ in variants}
    if args.packed:  # the same tiles in memory-mapped shards (convml_tt pack)
        from convml_tt.data.dataset.convert import convert_dataset

        tmp = tmp or Path(tempfile.mkdtemp(prefix="convml_tt_bench_"))
        folders["packed"] = convert_dataset(data, tmp / "packed", "packed", progress=False)
        variants.append(("packed", False))
    bare = _BareStep(args, dev, 3)
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    try:
        for r in range(args.rounds):
            for name, pre in variants:
                rows[name].append(measure(args, dev, folders[name], pre, bare))
            print(f"round {r + 1}: " + ", ".join(
                f"{k} {v[-1][0]:.1f} (bare {v[-1][1]:.1f})" for k, v in rows.items()), flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    prec = args.precision + (", channels-last" if args.channels_last else "")
    print(f"\n{args.arch}, {args.tile_pixels} px, batch {args.batch_size} triplets, {prec}, {where}; "
          f"{args.rounds} round(s) x {steps_needed - 1}+ steps, bare step interleaved with each batch")
    print(f"{'variant':<16}{'triplets/s':>12}{'bare triplets/s':>17}{'ratio':>8}")
    for name, _ in variants:
        p_all = sum(1 / v[0] for v in rows[name])
        b_all = sum(1 / v[1] for v in rows[name])
        pv, bv = len(rows[name]) / p_all, len(rows[name]) / b_all
        print(f"{name:<16}{pv:>12.1f}{bv:>17.1f}{pv / bv:>8.3f}")


if __name__ == "__main__":
    main()
