"""Benchmark: tile resampling, convml_tt vs pyresample (kd-tree nearest and bilinear).

Same composite (one synthetic 1000 km scene of bands 1-3 at 15N 50W, 1 km
true-colour composite over the domain below), same tiles (``--n`` tiles of
``--pixels`` px / ``--size`` m, centres drawn with a fixed seed uniformly in
the domain with the whole tile inside), one core:

- convml_tt, per tile: analytic mapping of the tile's pixels to fractional
  composite indices (17 x 17 exact points + cubic spline) and bilinear or
  nearest interpolation, on the composite image held as float32 planes
  (the triplet writer's path: ``ScanGrid.indices`` + ``interpolate_planes``).
  One-time setup (reported apart): the composite read into planes. The
  public ``tiles.resample(composite, tile)`` (xarray in, windowed) is timed
  too.
- pyresample 1.35, per tile: an ``AreaDefinition`` of the tile's LAEA grid
  (same PROJ string, extent +-size/2, so the same pixel centres) and the
  composite as a ``SwathDefinition`` of its lat/lon;
  nearest: ``kd_tree.get_neighbour_info`` + ``get_sample_from_neighbour_info``
  (what ``resample_nearest`` does); bilinear: ``NumpyBilinearResampler``
  ``get_bil_info`` + ``get_sample_from_bil_info`` (what ``.resample`` does).
  The neighbour/weight search depends on the target grid, so it is redone for
  every tile, as a user cutting tiles must; it is also reported apart
  ("search") from applying the precomputed weights ("apply"). One-time setup
  (reported apart): the SwathDefinition.

Pixel differences are in reflectance over the pixels both produce, with the
share of pixels whose 8-bit PNG values (gamma 2.2 stretch) are identical.

    .venv/bin/python bench/tiles.py [--n 200] [--ref-n 200] [--pixels 256] [--size 200e3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import warnings

import numpy as np

DOMAIN = (-53.5, 11.5, -46.5, 18.5)


def _centres(n: int, size: float, seed: int = 0):
    from convml_tt.data.tiles import Tile
    from convml_tt.data.sampling.triplets import _inside, _uniform_centre

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        lat, lon = _uniform_centre(rng, DOMAIN, size)
        if _inside(Tile(lat, lon, size), DOMAIN):
            out.append((lat, lon))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--ref-n", type=int, default=None, help="tiles for pyresample (default: all --n)")
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--size", type=float, default=200e3)
    p.add_argument("--radius", type=float, default=5e3, help="pyresample radius_of_influence, m")
    a = p.parse_args()
    ref_n = a.ref_n or a.n
    warnings.filterwarnings("ignore")
    from pyresample import kd_tree
    from pyresample.bilinear import NumpyBilinearResampler
    from pyresample.geometry import AreaDefinition, SwathDefinition
    from threadpoolctl import threadpool_limits

    from convml_tt.data.composites import load_composite, make_composite, to_uint8
    from convml_tt.data.synthetic import write_synthetic_scenes
    from convml_tt.data.tiles import ScanGrid, Tile, image_planes, index_window, interpolate_planes, resample, serial_blas

    with tempfile.TemporaryDirectory() as tmp:
        sc = write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=1, size_km=1000, progress=False)[0]
        make_composite(sc.files, DOMAIN, out_path=f"{tmp}/c.nc")
        comp = load_composite(f"{tmp}/c.nc", load=True)
    centres = _centres(a.n, a.size)
    tiles = [Tile(lat, lon, a.size, a.pixels) for lat, lon in centres]
    img = comp["rgb"].values.astype(np.float32)
    sg = ScanGrid.from_dataset(comp)

    res: dict[str, dict] = {}
    outs: dict[str, list] = {}
    with threadpool_limits(1):
        # ---- convml_tt -------------------------------------------------
        t = time.perf_counter()
        planes = image_planes(img)
        setup_ours = time.perf_counter() - t
        for method in ("bilinear", "nearest"):
            with serial_blas():
                # warm-up (spline matrix, PROJ) on the first tile
                interpolate_planes(planes, sg.shape, *sg.indices(tiles[0]), method)
                o, t = [], time.perf_counter()
                for tile in tiles:
                    r, c = sg.indices(tile)
                    win = index_window(r, c, sg.shape)
                    o.append(None if win is None else interpolate_planes(planes, sg.shape, r, c, method))
                el = time.perf_counter() - t
            outs[f"ours {method}"] = [None if x is None else np.moveaxis(x, 0, -1) for x in o]
            res[f"ours {method}"] = {"tile": el / len(tiles), "setup": setup_ours}
        resample(comp, tiles[0])
        t = time.perf_counter()
        for tile in tiles:
            resample(comp, tile, raise_invalid=False)
        res["ours resample() bilinear"] = {"tile": (time.perf_counter() - t) / len(tiles), "setup": 0.0}

        # ---- pyresample ------------------------------------------------
        t = time.perf_counter()
        swath = SwathDefinition(lons=comp["lon"].values.astype(np.float64), lats=comp["lat"].values.astype(np.float64))
        setup_ref = time.perf_counter() - t

        def area(tile):
            h = tile.size / 2
            return AreaDefinition("tile", "tile", "laea", tile.proj4, tile.n, tile.n, (-h, -h, h, h))

        ref_tiles = tiles[:ref_n]
        o, search, apply_ = [], 0.0, 0.0
        for tile in ref_tiles:
            t0 = time.perf_counter()
            tgt = area(tile)
            vi, vo, idx, _ = kd_tree.get_neighbour_info(swath, tgt, a.radius, neighbours=1, nprocs=1)
            t1 = time.perf_counter()
            out = kd_tree.get_sample_from_neighbour_info("nn", tgt.shape, img, vi, vo, idx, fill_value=np.nan)
            t2 = time.perf_counter()
            search += t1 - t0
            apply_ += t2 - t1
            o.append(out)
        outs["pyresample nearest"] = o
        res["pyresample nearest"] = {"tile": (search + apply_) / len(ref_tiles), "search": search / len(ref_tiles),
                                     "apply": apply_ / len(ref_tiles), "setup": setup_ref}
        o, search, apply_ = [], 0.0, 0.0
        for tile in ref_tiles:
            t0 = time.perf_counter()
            rs = NumpyBilinearResampler(swath, area(tile), a.radius, neighbours=32)
            rs.get_bil_info()
            t1 = time.perf_counter()
            out = rs.get_sample_from_bil_info(img, fill_value=np.nan)
            t2 = time.perf_counter()
            search += t1 - t0
            apply_ += t2 - t1
            o.append(np.asarray(out, np.float32))
        outs["pyresample bilinear"] = o
        res["pyresample bilinear"] = {"tile": (search + apply_) / len(ref_tiles), "search": search / len(ref_tiles),
                                      "apply": apply_ / len(ref_tiles), "setup": setup_ref}

    def diff(ours, ref):
        d, same, n_ok, n_all = [], 0, 0, 0
        for x, y in zip(ours, ref):
            n_all += 1
            if x is None or y is None:
                continue
            ok = np.isfinite(x).all(-1) & np.isfinite(y).all(-1)
            n_ok += 1
            dd = np.abs(x[ok] - y[ok])
            d.append(dd)
            same += int((to_uint8(x[ok]) == to_uint8(y[ok])).all(-1).sum())
        d = np.concatenate(d)
        return d.max(), d.mean(), same / (d.shape[0]), d.shape[0] / (n_ok * a.pixels ** 2)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; composite {img.shape[0]} x "
          f"{img.shape[1]} px (1 km), {a.n} tiles of {a.pixels} px / {a.size / 1e3:g} km "
          f"(pyresample: first {ref_n}), one thread")
    print(f"{'':28s} {'ms/tile':>9s} {'search':>9s} {'apply':>9s} {'setup ms':>9s} {'x faster':>9s}")
    for k in ("ours bilinear", "ours nearest", "ours resample() bilinear", "pyresample bilinear", "pyresample nearest"):
        r = res[k]
        m = k.split()[-1]
        ratio = res[f"pyresample {m}"]["tile"] / r["tile"] if k.startswith("ours") else 1.0
        print(f"{k:28s} {r['tile'] * 1e3:9.2f} {r.get('search', np.nan) * 1e3:9.2f} "
              f"{r.get('apply', np.nan) * 1e3:9.2f} {r['setup'] * 1e3:9.1f} {ratio:9.1f}")
    for m in ("bilinear", "nearest"):
        mx, mean, same, cover = diff(outs[f"ours {m}"][:ref_n], outs[f"pyresample {m}"])
        print(f"{m:8s} ours vs pyresample: max |diff| {mx:.2e}, mean {mean:.2e} (reflectance), "
              f"same 8-bit RGB on {100 * same:.2f}% of pixels; compared {100 * cover:.1f}% of pixels")
    print("target: >= 20x faster than pyresample with the same pixels")


if __name__ == "__main__":
    main()
