"""Cost of co-locating environment fields with tiles, against reading the fields once.

Writes ERA5 single- and pressure-level files in the CDS layout (0..360,
descending latitudes; ``tests/era5_fixtures.py``) over a 30 x 20 degree
domain at 0.25 degrees, hourly for a day, draws ``--tiles`` tiles of 200 km
at random places and at ``--scenes`` scan times, and times

* **read**: reading every variable the fields need, over the whole grid,
  at every field time the scans use, once (the least any co-location must do);
* **colocate**: :meth:`convml_tt.data.fields.Environment.tile_values` of the
  5 fields (EIS, LTS, WS10, RH700, SST) for every tile;

and prints their ratio (read / colocate: 1 = co-location costs no more
than reading) and the peak memory of the co-location (tracemalloc) for
``--scenes`` and twice as many scenes (the same tile count).

    python bench/env.py --tiles 10000 --scenes 10
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from era5_fixtures import T0, write_era5  # noqa: E402

from convml_tt.data.fields import Environment, open_era5  # noqa: E402
from convml_tt.data.fields.base import get_field, parse_need  # noqa: E402
from convml_tt.data.tiles import Tile  # noqa: E402

FIELDS = ("EIS", "LTS", "WS10", "RH700", "SST")


def run(files, n_tiles: int, n_scenes: int, seed: int = 0, memory: bool = False) -> tuple[float, float, float]:
    """``(read s, co-locate s, peak MiB)``; the peak (tracemalloc, which slows the run) only with ``memory``."""
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.choice(24, n_scenes, replace=n_scenes > 24))
    scans = T0 + (hours * 3600 + 300).astype("timedelta64[s]")  # 5 min after the field time
    lat = rng.uniform(3.0, 22.0, n_tiles)
    lon = rng.uniform(-68.0, -42.0, n_tiles)
    which = rng.integers(0, n_scenes, n_tiles)
    # read: each needed variable over the grid at each used time, once
    t = time.perf_counter()
    ds = open_era5(files)
    needs = sorted({n for f in FIELDS for n in get_field(f).needs})
    for k in np.unique(hours):
        for need in needs:
            var, level = parse_need(need)
            da = ds[var].isel(time=int(k))
            if level is not None:
                da = da.sel(level=level)
            np.asarray(da.values, np.float64)
    read = time.perf_counter() - t
    if memory:
        tracemalloc.start()
    t = time.perf_counter()
    env = Environment(files, FIELDS)
    order = np.argsort(which, kind="stable")  # tiles scene by scene, as the writer's tasks go
    for i in order:
        env.tile_values(Tile(lat[i], lon[i], 200e3), scans[which[i]])
    colocate = time.perf_counter() - t
    peak = float("nan")
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return read, colocate, peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiles", type=int, default=10000)
    p.add_argument("--scenes", type=int, default=10)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="convml_tt-bench-env-") as d:
        files = list(write_era5(Path(d), hours=np.arange(0, 24), lat_range=(0.0, 25.0),
                                lon_range=(-70.0, -40.0), layout="new").values())
        for scenes in (a.scenes, 2 * a.scenes):
            read, colocate, _ = run(files, a.tiles, scenes)
            peak = run(files, min(a.tiles, 2000), scenes, memory=True)[2]
            print(f"{a.tiles} tiles, {scenes} scenes, {len(FIELDS)} fields: read once {read:.2f} s, co-locate "
                  f"{colocate:.2f} s ({1e3 * colocate / a.tiles:.2f} ms/tile), read/co-locate "
                  f"{read / colocate:.2f}; peak memory of co-locating {min(a.tiles, 2000)} tiles {peak:.1f} MiB")


if __name__ == "__main__":
    main()
