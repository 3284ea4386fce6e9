"""Benchmark: triplet writing end to end (sampling, resampling, PNG, YAML), triplets/s per core.

    .venv/bin/python bench/triplets.py [--n 200] [--pixels 256] [--size 200e3] [--repeat 2]

Uses three 1000 km synthetic scenes (same date: 2 train, 1 study), their
1 km composites made first (not timed), one worker (in this process). Each
repeat writes a fresh dataset; the best repeat is reported, as wall time
and as CPU time of this process (``time.process_time``: on a shared,
loaded machine the CPU time is the per-core cost, the wall time includes
waiting for a core).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from convml_tt.data.composites import make_composites
from convml_tt.data.dataset import make_triplets
from convml_tt.data.synthetic import RegimeLabeler, write_synthetic_scenes

DOMAIN = (-53.5, 11.5, -46.5, 18.5)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--size", type=float, default=200e3)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=3, interval=dt.timedelta(hours=1),
                               size_km=1000, progress=False)
        comps = make_composites(tmp, DOMAIN, progress=False)
        make_triplets(tmp, DOMAIN, Path(tmp) / "warm", n_train=2, composites=comps, progress=False,
                      tile_size_m=a.size, tile_pixels=a.pixels)
        for k in range(a.repeat):
            t, c = time.perf_counter(), time.process_time()
            make_triplets(tmp, DOMAIN, Path(tmp) / f"ds{k}", n_train=a.n, composites=comps, progress=False,
                          tile_size_m=a.size, tile_pixels=a.pixels, seed=1, labeler=RegimeLabeler())
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
    el, cpu = min(walls), min(cpus)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; best of {a.repeat}")
    print(f"{a.n} triplets of {a.pixels} px / {a.size / 1e3:g} km on 1 core: wall {el:.2f} s = "
          f"{a.n / el:.1f} triplets/s ({3 * a.n / el:.0f} tiles/s); CPU {cpu:.2f} s = "
          f"{a.n / cpu:.1f} triplets per CPU-second; target >= 50 triplets/s")


if __name__ == "__main__":
    main()
