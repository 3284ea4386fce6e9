"""Benchmark: embedding maps (``interpretation.maps.embed_domain``), three ratios measured side by side.

    .venv/bin/python bench/maps.py                     # CPU, resnet18, 64 px / 64 km tiles, stride 32 km
    .venv/bin/python bench/maps.py --threads 1 --num-workers 1
    .venv/bin/python bench/maps.py --device cuda --num-workers 8

Synthetic scenes (``write_synthetic_scenes``, 1800 km sector at 15 N 50 W,
hourly) with their 1 km true-colour composites over two domains, a small
one and one of 4x its area, are written to a temporary folder first (not
timed). A resnet18 encoder (random weights, emb_dim 100, 64 px, as the
demo's) embeds them.

1. *throughput*: tiles/s of ``embed_domain`` on ``--scenes`` scenes of the
   small domain (sampler, 8-bit conversion, model, part files, the map
   file) / tiles/s of the bare model, ``embed_tiles`` on the same tiles
   already cut, in memory. Trials alternate; medians of wall time, and of
   CPU time (this process and its finished workers: the per-core cost,
   what a loaded shared machine still measures). Target >= 0.9. Beside
   it, in the same alternation, the map without the organisation indices
   (``indices=False``, ``map --no-indices``): what the indices cost.
2. *time per km2*: ``embed_domain`` on two scenes of the large domain vs
   the small one, seconds per km2 of the domain's extent (and per cell),
   alternating. Target: within 10 %.
3. *peak memory*: ``embed_domain(..., out=...)`` on 8 scenes vs 2 scenes,
   each in a fresh subprocess, peak resident memory of that process
   (``VmHWM``; ``ru_maxrss`` would count the parent's pages from before
   ``exec``). Target: within 10 %.

``--threads`` sets torch's intra-op threads (default: torch's own choice).
``--quick`` measures (i) alone, without a warm-up, on ``--scenes`` scenes of
half the size with a domain of a quarter of the small one's area (GPU
readiness's dry run: a check that the step runs, in seconds).

``--compare-commit REF`` measures ratio (i) with the code of commit ``REF``
(a temporary git worktree) and with this checkout's, each in its own
subprocess on the same scenes, composites and model file (made once by this
checkout), sides alternating ``--rounds`` times (``--trials`` trials in
each subprocess, after a short warm-up), and prints both; then it checks
that the two sides' last maps (with and without indices) hold the same
values (exit status 1 when they differ).

Prints a markdown table; exit status 0 when all three meet their targets.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# --code DIR (a --compare-commit subprocess): import convml_tt from DIR, the other commit's checkout
sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv else str(ROOT))

CENTER = (15.0, -50.0)
SCENE_KM = 1800.0
#: half sides (degrees of latitude) of the small and large domains: 4x the area
HALF_SMALL, HALF_LARGE = 3.75, 7.5
TILE, PIXELS, STRIDE = 64e3, 64, 32e3


def domain(half_lat: float) -> tuple[float, float, float, float]:
    lat, lon = CENTER
    half_lon = half_lat / math.cos(math.radians(lat))
    return (lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat)


def build(root: Path, n_scenes: int, large: bool = True) -> dict:
    """Scenes and composites for both domains (the small one only unless ``large``);
    their paths as JSON-able lists."""
    from convml_tt.data.composites import make_composites
    from convml_tt.data.synthetic import write_synthetic_scenes

    write_synthetic_scenes(root, dt.datetime(2020, 1, 2, 13), count=n_scenes, interval=dt.timedelta(hours=1),
                           center=CENTER, size_km=SCENE_KM, progress=False)
    small = [str(p) for p in make_composites(root, domain(HALF_SMALL), progress=False)]
    big = [str(p) for p in make_composites(root, domain(HALF_LARGE), progress=False)[:2]] if large else []
    return {"small": small, "large": big}


def model_file(root: Path) -> Path:
    import torch

    from convml_tt.architectures import TripletEncoder, save_model

    torch.manual_seed(0)
    enc = TripletEncoder("resnet18", 3, 100, config={"tile_pixels": PIXELS})
    return save_model(enc, root / "model.pt")


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have finished (seconds)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, device: str) -> tuple[float, float, object]:
    """``(wall s, CPU s, result)`` of ``fn()``."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), cpu_seconds()
    res = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, cpu_seconds() - c0, res


def run_map(model, comps, device, num_workers, out=None, batch_size=256, indices=True):
    from convml_tt.interpretation.maps import embed_domain

    # max_sza=180: every cell of the grid, as cut_tiles cuts them (the recipe's 80 degrees would leave
    # out the north-east corner of the 20 UTC scene, and the two would not embed the same tiles)
    return timed(lambda: embed_domain(model, comps, TILE, STRIDE, tile_pixels=PIXELS, out=out, device=device,
                                      progress=False, num_workers=num_workers, batch_size=batch_size,
                                      indices=indices, max_sza=180.0), device)


def peak_rss_mib() -> float:
    """Peak resident memory of this process since its ``exec`` (``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cut_tiles(comps) -> "np.ndarray":  # noqa: F821
    """Every valid tile of the small-domain grid in ``comps``, 8-bit, channel first, in memory."""
    import numpy as np

    from convml_tt.data.composites.enhance import to_display
    from convml_tt.data.composites.reader import open_composite
    from convml_tt.data.sampling import GridSampler

    g = GridSampler(domain(HALF_SMALL), TILE, PIXELS, STRIDE, {"map": comps})
    out = []
    for k, p in enumerate(comps):
        units = open_composite(p).units
        out += [to_display(im, units) for _, im in g.scene_tiles("map", k) if im is not None]
    return np.stack(out)


def child_memory(args) -> int:
    """Subprocess: embed ``--child`` scenes of the small domain with out=; print peak RSS (MiB)."""
    comps = json.loads(Path(args.paths).read_text())["small"][: args.child]
    with tempfile.TemporaryDirectory() as tmp:
        run_map(args.model, comps, args.device, args.num_workers, out=Path(tmp) / "map.nc")[2].close()
    print(json.dumps({"peak_mib": peak_rss_mib()}))
    return 0


def ratio_child(args) -> int:
    """Subprocess: ratio (i) on ``--scenes`` scenes with the code imported here; print the
    timings as JSON, save the last maps (``map.nc``, ``plain.nc``: without indices) in ``--ratio-child``."""
    from convml_tt.architectures import load_model
    from convml_tt.architectures.inference import embed_tiles

    out = Path(args.ratio_child)
    out.mkdir(parents=True, exist_ok=True)
    comps = json.loads(Path(args.paths).read_text())["small"][: args.scenes]
    model = load_model(args.model, device=args.device)
    tiles = cut_tiles(comps)
    embed_tiles(model, tiles[: args.batch_size], batch_size=args.batch_size, device=args.device)  # warm-up
    run_map(model, comps[:1], args.device, args.num_workers, batch_size=args.batch_size)
    res: dict = {"n_tiles": len(tiles), "bare": [], "map": [], "plain": []}
    for _ in range(args.trials):
        res["bare"].append(timed(lambda: embed_tiles(model, tiles, batch_size=args.batch_size, device=args.device),
                                 args.device)[:2])
        for key, ind in (("map", True), ("plain", False)):
            wall, cpu, ds = run_map(model, comps, args.device, args.num_workers, batch_size=args.batch_size,
                                    indices=ind)
            assert int(ds["valid"].sum()) == len(tiles)
            res[key].append((wall, cpu))
            ds.to_netcdf(out / f"{key}.nc")
    print(json.dumps(res))
    return 0


def same_maps(old: Path, new: Path) -> tuple[bool, str]:
    """Whether two map files hold the same variables, values and attributes (but ``composite`` paths' folder)."""
    import numpy as np
    import xarray as xr
    from _compare import same_attrs

    with xr.open_dataset(old) as a, xr.open_dataset(new) as b:
        if set(a.variables) != set(b.variables):
            return False, f"variables differ: {sorted(set(a.variables) ^ set(b.variables))}"
        for name in a.variables:
            x, y = a[name].values, b[name].values
            same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f") and same_attrs(a[name].attrs, b[name].attrs)
            if not same:
                return False, f"{name} differs"
        if not same_attrs(a.attrs, b.attrs):
            return False, f"attributes differ: {[k for k in a.attrs if a.attrs.get(k) != b.attrs.get(k)]}"
        return True, f"{len(a.data_vars)} variables, {int(a['valid'].sum())} cells: identical"


def compare(args) -> int:
    """Ratio (i) of the code at ``--compare-commit`` and of this checkout, alternating subprocesses."""
    from _compare import old_checkout, this_code

    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp, \
            old_checkout(args.compare_commit, Path(tmp) / "old") as old_code:
        tmp = Path(tmp)
        paths = tmp / "paths.json"
        paths.write_text(json.dumps(build(tmp, args.scenes, large=False)))
        mfile = model_file(tmp)
        res: dict = {"old": [], "new": []}
        for k in range(args.rounds):
            for side in (("old", "new") if k % 2 == 0 else ("new", "old")):
                code = old_code if side == "old" else ROOT
                cmd = [sys.executable, str(Path(__file__).resolve()), "--code", str(code), "--ratio-child",
                       str(tmp / side), "--paths", str(paths), "--model", str(mfile), "--scenes",
                       str(args.scenes), "--trials", str(args.trials), "--device", args.device,
                       "--num-workers", str(args.num_workers), "--batch-size", str(args.batch_size),
                       "--threads", str(args.threads)]
                r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(code)})
                if r.returncode:
                    sys.stderr.write(r.stderr)
                    return 2
                res[side].append(json.loads(r.stdout.strip().splitlines()[-1]))
        checks = [same_maps(tmp / "old" / f, tmp / "new" / f) for f in ("map.nc", "plain.nc")]
    print(f"embedding maps, resnet18, {PIXELS} px / {TILE / 1e3:g} km tiles, stride {STRIDE / 1e3:g} km, "
          f"{args.scenes} scenes, batch {args.batch_size}, {args.device}, num_workers {args.num_workers}; "
          f"{args.rounds} subprocess(es) a side, alternating, {args.trials} trial(s) each, medians; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| code | bare (tiles/s) | map (tiles/s) | **map / bare** (CPU) | map without indices (tiles/s) | "
          "**no indices / bare** (CPU) | indices' CPU per cell (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    for side, name in (("old", f"before ({args.compare_commit})"), ("new", f"now ({this_code()})")):
        n = res[side][0]["n_tiles"]
        med = {k: [statistics.median(x[i] for r in res[side] for x in r[k]) for i in (0, 1)]
               for k in ("bare", "map", "plain")}
        ratios[side] = (med["bare"][0] / med["map"][0], med["bare"][0] / med["plain"][0])
        print(f"| {name} | {n / med['bare'][0]:.1f} | {n / med['map'][0]:.1f} | **{ratios[side][0]:.3f}** "
              f"({med['bare'][1] / med['map'][1]:.3f}) | {n / med['plain'][0]:.1f} | **{ratios[side][1]:.3f}** "
              f"({med['bare'][1] / med['plain'][1]:.3f}) | {(med['map'][1] - med['plain'][1]) / n * 1e3:.2f} |")
    for (ok, text), f in zip(checks, ("with indices", "without indices")):
        print(f"\nsame map {f}: {'yes' if ok else 'NO'} ({text})")
    return 0 if all(ok for ok, _ in checks) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--num-workers", type=int, default=0, help="embed_domain's cutting workers")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--scenes", type=int, default=8, help="scenes of the throughput measurement (<= 8)")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--quick", action="store_true",
                   help="build only --scenes scenes and measure the throughput ratio alone")
    p.add_argument("--data", default=None, help="folder for the scenes, kept and reused (default: a temporary one)")
    p.add_argument("--compare-commit", default=None, metavar="REF",
                   help="ratio (i) of the code of commit REF beside this checkout's, and the maps compared")
    p.add_argument("--rounds", type=int, default=1, help="subprocesses a side with --compare-commit")
    p.add_argument("--code", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ratio-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--paths", default="", help=argparse.SUPPRESS)
    p.add_argument("--model", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        return child_memory(args)
    if args.ratio_child:
        return ratio_child(args)
    if args.compare_commit:
        return compare(args)
    if args.quick:
        global HALF_SMALL, SCENE_KM
        HALF_SMALL, SCENE_KM = HALF_SMALL / 2, SCENE_KM / 2

    from convml_tt.architectures import load_model
    from convml_tt.architectures.inference import embed_tiles

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda given but no CUDA GPU is available")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(args.data or tmp)
        paths = tmp / "paths.json"
        if paths.exists():
            comps = json.loads(paths.read_text())
        else:
            comps = build(tmp, args.scenes, large=False) if args.quick else build(tmp, 8)
            paths.write_text(json.dumps(comps))
        mfile = model_file(tmp)
        model = load_model(mfile, device=args.device)
        small = comps["small"][: args.scenes]

        # 1. throughput: the map vs the bare model on the same tiles, cut beforehand
        tiles = cut_tiles(small)
        n_tiles = len(tiles)

        def bare():
            return timed(lambda: embed_tiles(model, tiles, batch_size=args.batch_size, device=args.device),
                         args.device)

        def mapped(indices=True):
            wall, cpu, ds = run_map(model, small, args.device, args.num_workers, batch_size=args.batch_size,
                                    indices=indices)
            assert int(ds["valid"].sum()) == n_tiles
            return wall, cpu, ds

        if not args.quick:
            bare(), mapped()  # warm-up
        t_bare, t_map, t_plain = [], [], []
        for _ in range(args.trials):
            t_bare.append(bare()[:2])
            t_map.append(mapped()[:2])
            t_plain.append(mapped(indices=False)[:2])
        med = lambda ts, i: statistics.median(t[i] for t in ts)  # noqa: E731
        rate_bare, rate_map = n_tiles / med(t_bare, 0), n_tiles / med(t_map, 0)
        ratio, cpu_ratio = rate_map / rate_bare, med(t_bare, 1) / med(t_map, 1)
        rate_plain = n_tiles / med(t_plain, 0)
        plain_ratio, plain_cpu_ratio = rate_plain / rate_bare, med(t_bare, 1) / med(t_plain, 1)

        scale = None if args.quick else scaling(args, model, comps, paths, mfile)

    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else \
        f"CPU ({torch.get_num_threads()} threads)"
    print(f"embedding maps, resnet18, {PIXELS} px / {TILE / 1e3:g} km tiles, stride {STRIDE / 1e3:g} km, "
          f"batch {args.batch_size}, {name}, num_workers {args.num_workers}, median of {args.trials} trials, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| bare model, `embed_tiles` on {n_tiles} tiles cut beforehand | {rate_bare:.1f} tiles/s | |")
    print(f"| `embed_domain`, {args.scenes} scenes x {n_tiles // args.scenes} cells | {rate_map:.1f} tiles/s | |")
    print(f"| **(i) throughput ratio map / bare** | **{ratio:.3f}** (CPU time: {cpu_ratio:.3f}) | >= 0.9 |")
    print(f"| `embed_domain(..., indices=False)` (`map --no-indices`) | {rate_plain:.1f} tiles/s | |")
    print(f"| (i') throughput ratio map without indices / bare | {plain_ratio:.3f} (CPU time: "
          f"{plain_cpu_ratio:.3f}) | |")
    if scale is None:
        print("| (ii) time per km2, (iii) peak memory | not measured (--quick) | |")
        return 0 if ratio >= 0.9 else 1
    for row in scale["rows"]:
        print(row)
    ok = ratio >= 0.9 and abs(scale["km2_ratio"] - 1) <= 0.1 and abs(scale["mem_ratio"] - 1) <= 0.1
    return 0 if ok else 1


def scaling(args, model, comps: dict, paths: Path, mfile: Path) -> dict:
    """(ii) time per km2, large domain vs small, and (iii) peak memory, 8 scenes vs 2: table rows and ratios."""
    from convml_tt.data.sampling import GridSampler

    med = lambda ts, i: statistics.median(t[i] for t in ts)  # noqa: E731

    def area_km2(dom) -> tuple[float, int]:
        g = GridSampler(dom, TILE, PIXELS, STRIDE, {"map": []})
        x_w, x_e, y_s, y_n = g.extent
        return (x_e - x_w) * (y_n - y_s) / 1e6, g.n_cells

    a_small, c_small = area_km2(domain(HALF_SMALL))
    a_large, c_large = area_km2(domain(HALF_LARGE))
    ts, tl = [], []
    for _ in range(args.trials):
        ts.append(run_map(model, comps["small"][:2], args.device, args.num_workers, batch_size=args.batch_size)[:2])
        tl.append(run_map(model, comps["large"], args.device, args.num_workers, batch_size=args.batch_size)[:2])
    per_km2_small, per_km2_large = med(ts, 0) / a_small, med(tl, 0) / a_large
    per_cell_small, per_cell_large = med(ts, 0) / c_small, med(tl, 0) / c_large
    km2_ratio = per_km2_large / per_km2_small
    km2_cpu_ratio = (med(tl, 1) / a_large) / (med(ts, 1) / a_small)

    rss = {}  # each in a fresh process
    for n in (2, 8):
        res = subprocess.run([sys.executable, __file__, "--child", str(n), "--paths", str(paths), "--model",
                              str(mfile), "--device", args.device, "--num-workers", str(args.num_workers),
                              "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        rss[n] = json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]
    mem_ratio = rss[8] / rss[2]
    rows = [
        f"| small domain, 2 scenes: {a_small:.0f} km2, {c_small} cells | {med(ts, 0):.2f} s = "
        f"{per_km2_small * 1e6:.1f} s per 10^6 km2, {per_cell_small * 1e3:.2f} ms per cell | |",
        f"| large domain, 2 scenes: {a_large:.0f} km2 ({a_large / a_small:.2f}x), {c_large} cells | "
        f"{med(tl, 0):.2f} s = {per_km2_large * 1e6:.1f} s per 10^6 km2, {per_cell_large * 1e3:.2f} ms per cell | |",
        f"| **(ii) time per km2, large / small** | **{km2_ratio:.3f}** (CPU time: {km2_cpu_ratio:.3f}; "
        f"per cell: {per_cell_large / per_cell_small:.3f}) | within 10 % |",
        f"| peak RSS, 2 scenes / 8 scenes | {rss[2]:.0f} MiB / {rss[8]:.0f} MiB | |",
        f"| **(iii) peak memory, 8 scenes / 2 scenes** | **{mem_ratio:.3f}** | within 10 % |",
    ]
    return {"rows": rows, "km2_ratio": km2_ratio, "mem_ratio": mem_ratio}


if __name__ == "__main__":
    raise SystemExit(main())
