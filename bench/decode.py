"""Benchmark: how many 256 px triplets per second one loader worker reads from the PNG folder
and from the packed tile store (the same dataset converted by `convml_tt pack`).

    .venv/bin/python bench/decode.py [--n 96] [--pixels 256] [--size 200e3] [--repeat 3] [--shard-size 32]

A training loader worker only reads and decodes (``TripletDataset.load_batch``:
three PNG files per triplet into one uint8 tensor); conversion, augmentation
and normalisation run on the training device (``TripletBatchTransform``).
So the per-worker rate is the decode rate, measured here in CPU time of
this process (``time.process_time``: what one worker costs one core, the
same on a loaded machine) and in wall time, on triplets written by the real
writer from synthetic scenes (cloud fields compress and decode like real
composites, unlike noise). The first read of each file is not timed (page
cache warm, as from a local disk after the first epoch).

The packed store (:mod:`convml_tt.data.dataset.packed`) holds the same
bytes undecoded in memory-mapped uint8 shards: ``load_batch`` copies each
triplet out of the page cache. Both are timed on the same batches,
alternating, and checked to give the same tensors.

Prints triplets per CPU-second of one worker, PNG and packed side by side,
and what 16 workers would supply against the 5000 triplets/s an H100 trains
ResNet-18 at 256 px in bf16 on (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convml_tt.data.composites import make_composites  # noqa: E402
from convml_tt.data.dataset import make_triplets  # noqa: E402
import torch  # noqa: E402

from convml_tt.data.dataset.convert import convert_dataset  # noqa: E402
from convml_tt.data.dataset.torch import TripletDataset, read_tile  # noqa: E402
from convml_tt.data.synthetic import write_synthetic_scenes  # noqa: E402

DOMAIN = (-53.5, 11.5, -46.5, 18.5)
GPU_RATE = 5000.0  # triplets/s: ResNet-18, 256 px, bf16 on an H100
WORKERS = 16


class Batches(torch.utils.data.Dataset):
    """``dataset.load_batch`` of each batch: what a training loader worker does."""

    def __init__(self, dataset, batches):
        self.dataset, self.batches = dataset, batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, k):
        return self.dataset.load_batch(self.batches[k])


def worker_rate(dataset, batches, passes: int = 2) -> float:
    """Triplets per second (wall) that one DataLoader worker process delivers to this one
    (reading, and handing each batch over through shared memory), after a warm-up pass."""
    loader = torch.utils.data.DataLoader(Batches(dataset, batches), batch_size=None, num_workers=1,
                                         persistent_workers=True)
    best = float("inf")
    for k in range(passes + 1):
        t = time.perf_counter()
        for _ in loader:
            pass
        if k:  # the first pass starts the worker
            best = min(best, time.perf_counter() - t)
    return sum(map(len, batches)) / best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=96)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--size", type=float, default=200e3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--shard-size", type=int, default=32, help="triplets per shard of the packed copy")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=3, interval=dt.timedelta(hours=1),
                               size_km=1000, progress=False)
        comps = make_composites(tmp, DOMAIN, progress=False)
        make_triplets(tmp, DOMAIN, Path(tmp) / "ds", n_train=a.n, composites=comps, progress=False,
                      tile_size_m=a.size, tile_pixels=a.pixels, seed=1)
        ds = TripletDataset(Path(tmp) / "ds", "train", progress=False)
        convert_dataset(Path(tmp) / "ds", Path(tmp) / "packed", "packed", a.shard_size, progress=False)
        pk = TripletDataset(Path(tmp) / "packed", "train", progress=False)
        batches = [list(range(i, min(i + a.batch, len(ds)))) for i in range(0, len(ds), a.batch)]
        for b in batches:  # page cache; the same tensors from both
            assert torch.equal(ds.load_batch(b), pk.load_batch(b))
        # the decoder alone: the same PNG files' bytes already in memory (no file system, no tensors)
        blobs = [Path(f).read_bytes() for i in range(len(ds)) for f in ds.files(i).values()]
        mem = []
        for _ in range(a.repeat):
            c = time.process_time()
            for blob in blobs:
                with Image.open(io.BytesIO(blob)) as im:
                    np.asarray(im)
            mem.append(time.process_time() - c)
        def stacked(b):  # the loader before issue 25: torch.stack of per-tile tensors
            return torch.stack([torch.stack([read_tile(p) for p in ds.files(i).values()]) for i in b])

        walls, cpus, old, pwalls, pcpus = [], [], [], [], []
        for _ in range(a.repeat):  # alternating, so that load hits both alike
            c = time.process_time()
            for b in batches:
                stacked(b)
            old.append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            for b in batches:
                ds.load_batch(b)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            for b in batches:
                pk.load_batch(b)
            pwalls.append(time.perf_counter() - t)
            pcpus.append(time.process_time() - c)
        # a real loader worker process, batches handed to this process (wall time: the machine's load counts)
        workers = {"PNG": worker_rate(ds, batches * 2), "packed": worker_rate(pk, batches * 20)}
        sizes = {name: sum(f.stat().st_size for f in (Path(tmp) / name / "train").iterdir()
                           if not f.name.endswith("_meta.yaml")) for name in ("ds", "packed")}
    n = len(ds)
    per_cpu, per_wall = n / min(cpus), n / min(walls)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; best of {a.repeat}; "
          f"{n} triplets of {a.pixels} px, batches of {a.batch}")
    print(f"one worker: {per_cpu:.0f} triplets per CPU-second ({1e3 / per_cpu:.2f} ms CPU per triplet), "
          f"{per_wall:.0f} triplets/s wall")
    print(f"before (torch.stack of tile tensors): {n / min(old):.0f} triplets per CPU-second "
          f"({1e3 * min(old) / n:.2f} ms CPU per triplet)")
    print(f"Pillow's decode alone (bytes in memory): {1e3 * min(mem) / len(blobs):.2f} ms CPU per tile, "
          f"{len(blobs) / 3 / min(mem):.0f} triplets per CPU-second")
    pk_cpu, pk_wall = n / min(pcpus), n / min(pwalls)
    print(f"packed store (memory-mapped shards of {a.shard_size}): {pk_cpu:.0f} triplets per CPU-second "
          f"({1e3 / pk_cpu:.3f} ms CPU per triplet), {pk_wall:.0f} triplets/s wall")
    print(f"on disk (tiles, without metadata): PNG {sizes['ds'] / n / 1e3:.0f} kB per triplet, packed "
          f"{sizes['packed'] / n / 1e3:.0f} kB per triplet; at {GPU_RATE:.0f} triplets/s from outside the page cache "
          f"the packed store reads {GPU_RATE * sizes['packed'] / n / 1e9:.1f} GB/s")
    print(f"one DataLoader worker process, batches handed over (wall): PNG {workers['PNG']:.0f}, packed "
          f"{workers['packed']:.0f} triplets/s")
    for name, rate in (("PNG", per_cpu), ("packed", pk_cpu)):
        print(f"{name}: {WORKERS} workers supply {WORKERS * rate:.0f} triplets/s against {GPU_RATE:.0f} needed: "
              f"{'enough' if WORKERS * rate >= GPU_RATE else 'NOT enough'} "
              f"({GPU_RATE / rate:.1f} workers needed)")


if __name__ == "__main__":
    main()
