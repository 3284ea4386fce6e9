"""Benchmark: organisation indices of a tile's cloud mask, convml_tt vs cloudmetrics.

The same masks (``--pixels`` square, default 256, the triplet writer's tile
size), one core:

- synthetic: true-colour tiles of one synthetic 1600 km scene at 1 km
  (:func:`convml_tt.data.synthetic.make_scene_fields`, bands 1-3, regime
  regions of 800 km so that whole tiles fit in them), masked with the
  ``truecolor`` recipe's cloud mask (red > 0.10), two tiles per regime
  (the first ones wholly inside a region of it);
- real: C01 tiles of the real GOES-17 daytime scan (2019-10-27 20:00 UTC,
  marine stratocumulus off California) at 1 km, masked with the ``C01``
  recipe's mask, when /work/shared/data/goes_real (or ``--real``) has it;
- smoothed noise (Gaussian filter of white noise, sigma 1-8 px, cloud
  fraction 30-50 %), white noise at 50 % and 5 %, a lattice of 2 x 2 px
  objects every 8 px, all clear, all cloudy.

Sides (CPU time per mask, ``process_time``, which other processes on a
shared machine disturb less than wall time, after a warm-up call; convml_tt:
best of ``--repeat`` rounds of the mean of ``--calls`` calls; cloudmetrics:
one round of ``--ref-calls`` calls):

- convml_tt: ``organisation.indices(mask, pixel_size_m)``: all 8 indices;
- cloudmetrics 0.3.0, the same 8 quantities, each a separate call as its
  API offers them: ``cloud_fraction``, ``iorg_objects``, ``scai_objects``,
  ``cop_objects``, ``num_objects``, ``mean_object_length_scale``,
  ``max_object_length_scale`` (non-periodic, 4-connected) and
  ``open_sky`` (numba, compiled in the warm-up; ``NUMBA_NUM_THREADS=1``).
  ``np.trapz`` (gone in numpy 2) is aliased to ``np.trapezoid`` for it.

Agreement: the largest difference of each index over the masks (relative
for ``scai`` and ``cop``). Left out: values cloudmetrics does not define
(NaN or an error for fewer than two objects; ours are the documented
conventions), and ``scai``/``cop`` of masks with more than
``MAX_EXACT_OBJECTS`` objects (ours then come from a subset of objects).

    .venv/bin/python bench/organisation.py [--pixels 256] [--repeat 3] [--calls 20] [--ref-calls 1]
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
REAL_DOMAIN = (-126.69, 30.72, -118.19, 36.37)


def synthetic_masks(px: int, per_regime: int = 2) -> list[tuple[str, np.ndarray, float]]:
    from convml_tt.data.organisation import cloud_mask
    from convml_tt.data.synthetic import REGIMES, make_scene_fields

    # regions of 800 km (default ~350 km, warped) so that whole 256 km tiles fit in them
    f = make_scene_fields(dt.datetime(2020, 1, 1, 14), seed=3, bands=(1, 2, 3), resolution_km=1.0, size_km=1600,
                          region_km=800)
    rgb = np.stack([f.reflectance[2], f.reflectance[3], f.reflectance[1]], -1)
    lab = f.labels
    out, taken = [], {}
    for i in range(0, lab.shape[0] - px + 1, px // 4):
        for j in range(0, lab.shape[1] - px + 1, px):
            window = lab[i:i + px, j:j + px]
            k = int(window[0, 0])
            if k >= 0 and taken.get(k, 0) < per_regime and (window == k).all():
                taken[k] = taken.get(k, 0) + 1
                out.append((f"synthetic {REGIMES[k]} {taken[k]}", cloud_mask(rgb[i:i + px, j:j + px], "truecolor"),
                            1000.0))
    out.sort(key=lambda item: item[0])
    return out


def real_masks(px: int, folder: Path) -> list[tuple[str, np.ndarray, float]]:
    from convml_tt.data.composites import make_composite
    from convml_tt.data.organisation import cloud_mask

    files = sorted(folder.glob("OR_ABI-L1b-RadM1-M6C01_G17_s20193002000275_*.nc"))
    if not files:
        return []
    values = make_composite({1: files[0]}, REAL_DOMAIN, kind="C01", resolution_km=1.0)["C01"].values
    out = []
    ny, nx = values.shape
    for name, (i, j) in (("real C01 SW Sc", (ny - px, 0)), ("real C01 S Sc", (ny - px, px)),
                         ("real C01 NW", (0, 0))):
        if i >= 0 and j + px <= nx:
            out.append((name, cloud_mask(values[i:i + px, j:j + px], "C01"), 1000.0))
    return out


def noise_masks(px: int) -> list[tuple[str, np.ndarray, float]]:
    rng = np.random.default_rng(0)
    out = []
    for sigma, q in ((1, 0.7), (2, 0.6), (4, 0.5), (8, 0.5)):
        f = ndimage.gaussian_filter(rng.standard_normal((px, px)), sigma)
        out.append((f"smoothed noise s={sigma} cf={1 - q:.1f}", f > np.quantile(f, q), 1000.0))
    out.append(("white noise cf=0.5", rng.random((px, px)) < 0.5, 1000.0))
    out.append(("white noise cf=0.05", rng.random((px, px)) < 0.05, 1000.0))
    lattice = np.zeros((px, px), bool)
    for di in (2, 3):
        for dj in (2, 3):
            lattice[di::8, dj::8] = True
    out.append(("lattice 2x2 px every 8 px", lattice, 1000.0))
    out.append(("all clear", np.zeros((px, px), bool), 1000.0))
    out.append(("all cloudy", np.ones((px, px), bool), 1000.0))
    return out


def _or_nan(fn, *args, **kwargs) -> float:
    try:
        return float(fn(*args, **kwargs))
    except ValueError:  # e.g. max_object_length_scale of a mask without objects
        return float("nan")


def cloudmetrics_indices(cm, mask: np.ndarray, pixel_size_m: float) -> dict[str, float]:
    m = cm.mask
    kw = dict(periodic_domain=False, object_connectivity=1)
    return {
        "cloud_fraction": m.cloud_fraction(mask),
        "iorg": _or_nan(m.iorg_objects, mask, **kw),
        "scai": _or_nan(m.scai_objects, mask, reference_lengthscale=math.sqrt(mask.size), **kw),
        "cop": _or_nan(m.cop_objects, mask, **kw),
        "n_objects": m.num_objects(mask, **kw),
        "mean_object_size_m": _or_nan(m.mean_object_length_scale, mask, **kw) * pixel_size_m,
        "max_object_size_m": _or_nan(m.max_object_length_scale, mask, **kw) * pixel_size_m,
        "open_sky": m.open_sky(mask.astype(np.int64), summary_measure="max", periodic_domain=False),
    }


def per_call(fn, repeat: int, calls: int) -> float:
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - t0) / calls)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--ref-calls", type=int, default=2, help="calls per round for cloudmetrics")
    p.add_argument("--real", type=Path, default=REAL)
    a = p.parse_args()

    np.trapz = np.trapezoid  # cloudmetrics 0.3.0 calls np.trapz
    import cloudmetrics

    from convml_tt.data.organisation import INDEX_NAMES, MAX_EXACT_OBJECTS, indices

    masks = synthetic_masks(a.pixels) + real_masks(a.pixels, a.real) + noise_masks(a.pixels)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {a.pixels} x {a.pixels} px masks; "
          f"CPU time per mask, best of {a.repeat} rounds")
    print(f"{'mask':30s} {'cf':>5s} {'N':>6s} {'ours ms':>8s} {'cm ms':>9s} {'speed-up':>9s}   iorg ours/cm")
    diffs = {k: 0.0 for k in INDEX_NAMES}
    ours_all = []
    for name, mask, px in masks:
        ours = indices(mask, px)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cloudmetrics_indices(cloudmetrics, mask, px)
            t_ref = per_call(lambda: cloudmetrics_indices(cloudmetrics, mask, px), 1, a.ref_calls)
        t_ours = per_call(lambda: indices(mask, px), a.repeat, a.calls)
        ours_all.append(t_ours)
        for k in INDEX_NAMES:
            if not math.isfinite(float(ref[k])):
                continue
            if ours["n_objects"] >= 2 or k not in ("iorg", "scai", "cop"):
                if k in ("scai", "cop") and ours["n_objects"] > MAX_EXACT_OBJECTS:
                    continue  # subset estimate; reported apart
                scale = abs(float(ref[k])) if k in ("scai", "cop") else 1.0
                diffs[k] = max(diffs[k], abs(float(ours[k]) - float(ref[k])) / scale)
        print(f"{name:30s} {ours['cloud_fraction']:5.2f} {ours['n_objects']:6d} {t_ours * 1e3:8.3f} "
              f"{t_ref * 1e3:9.2f} {t_ref / t_ours:8.0f}x   {ours['iorg']:.3f}/{float(ref['iorg']):.3f}")
    print(f"\nconvml_tt: median {np.median(ours_all) * 1e3:.3f} ms, max {max(ours_all) * 1e3:.3f} ms per mask")
    print(f"max |ours - cloudmetrics| (scai, cop relative; masks with >= 2 objects, <= {MAX_EXACT_OBJECTS} "
          f"for scai/cop):")
    print("  " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))


if __name__ == "__main__":
    main()
