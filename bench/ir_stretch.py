"""Grey levels of low cloud in C13 tiles: the fixed 200-320 K stretch against the per-dataset one.

The real GOES-17 night scan of 2019-12-01 10:27 UTC (shared goes_real
data) is composited to C13 (10.3 um brightness temperature) over the
domain of the tests (125.5-122 W, 33-36.5 N) at ``--resolution-km``. The
night scene is mostly high cloud (median 237 K), so its own adaptive cloud
threshold fails (it needs about half the scene clear); low cloud is taken
as the pixels from ``--low-min`` (270 K, tops below ~3 km) up to
``--low-max`` (283 K: the clear-ocean mode of the day scan, 286.5 K, less
the 3.5 K margin of the window cloud masks). For each stretch the number of
distinct 8-bit levels those pixels get is counted:

- fixed: 200 K white .. 320 K black;
- per-dataset, night only: the 1st-99th percentiles of a dataset of the
  night scan (:func:`convml_tt.data.composites.stretch.dataset_stretches`);
- per-dataset, day + night: of a dataset of both real scans (the test
  dataset of tests/test_recipe_tiles.py).

    .venv/bin/python bench/ir_stretch.py [--resolution-km 2] [--low-min 270]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY, NIGHT = "s20193002000275", "s20193351027275"
DOMAIN = (-125.5, 33.0, -122.0, 36.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution-km", type=float, default=2.0)
    ap.add_argument("--low-min", type=float, default=270.0, help="coldest low-cloud top, K")
    ap.add_argument("--low-max", type=float, default=283.0, help="warmest low-cloud top, K")
    ap.add_argument("--real", type=Path, default=REAL)
    a = ap.parse_args()

    from convml_tt.data.composites import make_composite
    from convml_tt.data.composites.enhance import display_stretch
    from convml_tt.data.composites.reader import close_composites
    from convml_tt.data.composites.stretch import dataset_stretches, grey_levels
    from convml_tt.data.dataset.writer import channels_meta

    work = Path(tempfile.mkdtemp(prefix="convml_tt-irstretch-"))
    try:
        paths = {}
        for scan in (DAY, NIGHT):
            (f,) = sorted(a.real.glob(f"OR_ABI-L1b-RadM1-M6C13_G17_{scan}_*.nc"))
            out = work / f"{scan}.nc"
            make_composite([str(f)], DOMAIN, kind="C13", resolution_km=a.resolution_km, out_path=out)
            paths[scan] = str(out)
        import netCDF4

        with netCDF4.Dataset(paths[NIGHT]) as nc:
            nc.set_auto_mask(False)
            bt = np.asarray(nc["C13"][:], np.float32)
        valid = bt[np.isfinite(bt)]
        low = valid[(valid < a.low_max) & (valid >= a.low_min)]
        print(f"night scan C13 at {a.resolution_km:g} km: {valid.size} valid pixels, "
              f"1/50/99th percentiles {np.percentile(valid, [1, 50, 99]).round(1).tolist()} K; "
              f"low cloud ({a.low_min:g} K <= BT < {a.low_max:g} K): {low.size} pixels ({low.size / valid.size:.0%})")
        ch = channels_meta("C13", 2.2)
        rows = [("fixed 200-320 K", display_stretch("K"))]
        for label, scans in (("per-dataset, night only", [NIGHT]), ("per-dataset, day + night", [DAY, NIGHT])):
            s = dataset_stretches(ch, "auto", [paths[k] for k in scans])[0]["stretch"]
            rows.append((f"{label} {s['white']:g}-{s['black']:g} K", s))
        print("| stretch | grey levels of low cloud | grey levels of all pixels |")
        print("| --- | --- | --- |")
        for label, s in rows:
            print(f"| {label} | {grey_levels(low, s)} | {grey_levels(valid, s)} |")
    finally:
        close_composites()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
