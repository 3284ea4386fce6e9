"""Benchmark: domain composite from three band files, convml_tt vs satpy.

Same synthetic L1b files (one 1000 km scene of bands 1-3 at 15N 50W, written
by convml_tt.data.synthetic), same domain (a 6 x 6 degree box inside it):

- convml_tt: ``make_composite(files, domain)`` (windowed reads, 1 km)
- satpy 0.60: ``Scene(reader="abi_l1b")``, ``load(["true_color_nocorr"])``,
  ``resample(scn.coarsest_area(), resampler="native")`` (1 km; band 2
  averaged 2x2), ``crop(ll_bbox=domain)``, values computed.

Each side runs in its own subprocess; wall time is the best of ``--repeat``
runs after one warm-up in that process, peak memory is the process's
``ru_maxrss`` (and the increase over its size after imports). Reflectance
agreement is the largest difference over the pixels both produce.

    .venv/bin/python bench/composite.py [--size-km 1000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOMAIN = (-53.0, 12.0, -47.0, 18.0)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_convml(files: dict, repeat: int, out: str) -> dict:
    import numpy as np

    from convml_tt.data.composite import make_composite

    base = _rss_mb()
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        ds = make_composite(files, DOMAIN)
        times.append(time.perf_counter() - t)
    np.savez(out, rgb=ds.rgb.values, x=ds.x.values, y=ds.y.values)
    return {"time_s": min(times[1:]), "peak_mb": _rss_mb(), "base_mb": base, "shape": list(ds.rgb.shape)}


def run_satpy(files: dict, repeat: int, out: str) -> dict:
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    import dask

    dask.config.set(scheduler="threads")
    from satpy import Scene

    base = _rss_mb()
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        scn = Scene(reader="abi_l1b", filenames=[str(p) for p in files.values()])
        scn.load(["true_color_nocorr"])
        lr = scn.resample(scn.coarsest_area(), resampler="native")
        crop = lr.crop(ll_bbox=DOMAIN)
        arr = crop["true_color_nocorr"].values
        times.append(time.perf_counter() - t)
    area = crop["true_color_nocorr"].attrs["area"]
    x, y = area.get_proj_vectors()
    h = area.crs.to_dict()["h"]
    np.savez(out, rgb=np.moveaxis(arr, 0, -1) / 100.0, x=x / h, y=y / h)
    return {"time_s": min(times[1:]), "peak_mb": _rss_mb(), "base_mb": base, "shape": list(arr.shape)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size-km", type=float, default=1000.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--worker", choices=["convml", "satpy"])
    p.add_argument("--files")
    p.add_argument("--out")
    a = p.parse_args()
    if a.worker:
        files = {int(k): v for k, v in json.loads(a.files).items()}
        fn = run_convml if a.worker == "convml" else run_satpy
        print(json.dumps(fn(files, a.repeat, a.out)))
        return
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        # files written in a child process, so that this process (whose peak RSS
        # the measuring children inherit at fork) stays small
        gen = (
            "import datetime as dt, json, sys; from convml_tt.data.synthetic import write_synthetic_scenes;"
            f"sc = write_synthetic_scenes({tmp!r}, dt.datetime(2020, 1, 2, 14), count=1, size_km={a.size_km},"
            " center=(15.0, -50.0), sector='F', progress=False)[0];"
            "print(json.dumps({b: str(p) for b, p in sc.files.items()}))"
        )
        files = subprocess.run([sys.executable, "-c", gen], capture_output=True, text=True,
                               check=True).stdout.strip().splitlines()[-1]
        res = {}
        for w in ("convml", "satpy"):
            out = f"{tmp}/{w}.npz"
            r = subprocess.run([sys.executable, __file__, "--worker", w, "--files", files, "--out", out,
                                "--repeat", str(a.repeat)], capture_output=True, text=True, check=True)
            res[w] = json.loads(r.stdout.strip().splitlines()[-1])
            res[w]["arrays"] = dict(np.load(out))
        c, s = res["convml"]["arrays"], res["satpy"]["arrays"]
        # match pixels by scan angle (1 km grid: 28 urad)
        ic = {round(v / 28e-6 * 2): i for i, v in enumerate(c["x"])}
        jc = {round(v / 28e-6 * 2): i for i, v in enumerate(c["y"])}
        xs = [(ic[round(v / 28e-6 * 2)], i) for i, v in enumerate(s["x"]) if round(v / 28e-6 * 2) in ic]
        ys = [(jc[round(v / 28e-6 * 2)], i) for i, v in enumerate(s["y"]) if round(v / 28e-6 * 2) in jc]
        cx, sx = map(list, zip(*xs))
        cy, sy = map(list, zip(*ys))
        diff = np.abs(c["rgb"][np.ix_(cy, cx)] - s["rgb"][np.ix_(sy, sx)])
    cm, sm = res["convml"], res["satpy"]
    print(f"domain {DOMAIN}, scene {a.size_km:g} km (bands 1-3), 1 km output")
    print(f"{'':10s} {'time s':>8s} {'peak MB':>8s} {'+MB':>8s} shape")
    for k, r in (("convml_tt", cm), ("satpy", sm)):
        print(f"{k:10s} {r['time_s']:8.3f} {r['peak_mb']:8.0f} {r['peak_mb'] - r['base_mb']:8.0f} {r['shape']}")
    print(f"speed-up (satpy / convml_tt time): {sm['time_s'] / cm['time_s']:.1f}x  (target >= 5x)")
    print(f"peak memory ratio convml_tt/satpy: {cm['peak_mb'] / sm['peak_mb']:.2f} total, "
          f"{(cm['peak_mb'] - cm['base_mb']) / max(sm['peak_mb'] - sm['base_mb'], 1e-9):.2f} above imports "
          "(target <= 0.2)")
    print(f"reflectance agreement on {diff.shape[0]}x{diff.shape[1]} common pixels: max |diff| "
          f"{np.nanmax(diff):.2e}, mean {np.nanmean(diff):.2e}")


if __name__ == "__main__":
    main()
