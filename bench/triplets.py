"""Benchmark: triplet writing end to end (sampling, resampling, indices, PNG, YAML), triplets/s per core.

    .venv/bin/python bench/triplets.py [--n 200] [--pixels 256] [--size 200e3] [--repeat 2]
    .venv/bin/python bench/triplets.py --compare-commit REF [--n 200] [--repeat 3]

Uses three 1000 km synthetic scenes (same date: 2 train, 1 study), their
1 km composites made first (not timed), one worker (in this process), the
synthetic regime labeler, the truecolor recipe's organisation indices in
every tile's metadata. Each repeat writes a fresh dataset; the best repeat
is reported, as wall time and as CPU time of the writing process
(``time.process_time``: on a shared, loaded machine the CPU time is the
per-core cost, the wall time includes waiting for a core).

``--compare-commit REF`` measures the code of commit ``REF`` (checked out
into a temporary git worktree) beside this checkout's: each side writes its
datasets in its own subprocess, alternating (old, new, new, old, ...), on
the same scenes and composites (made once by this checkout), and prints
both rates and their ratio. Then it checks that the two last datasets are
the same: byte-identical decoded PNG pixels and equal ``_meta.yaml`` /
``meta.yaml`` values (floats as stored, 7 significant digits; any float
that differs is listed with its relative difference, and the check fails
beyond 1e-6 relative). Exit status 1 when they differ.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = (-53.5, 11.5, -46.5, 18.5)
TARGET = 50.0


def build(tmp: Path) -> list[str]:
    """The scenes and their composites (this checkout's code); the composite paths."""
    from convml_tt.data.composites import make_composites
    from convml_tt.data.synthetic import write_synthetic_scenes

    write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=3, interval=dt.timedelta(hours=1),
                           size_km=1000, progress=False)
    return [str(p) for p in make_composites(tmp, DOMAIN, progress=False)]


def write(data: Path, comps: list[str], out: Path, n: int, pixels: int, size: float) -> tuple[float, float]:
    """``(wall s, CPU s)`` of writing ``n`` triplets to ``out`` (after a 2-triplet warm-up beside it)."""
    from convml_tt.data.dataset import make_triplets
    from convml_tt.data.synthetic import RegimeLabeler

    make_triplets(data, DOMAIN, out.with_name(out.name + "-warm"), n_train=2, composites=comps, progress=False,
                  tile_size_m=size, tile_pixels=pixels)
    t, c = time.perf_counter(), time.process_time()
    make_triplets(data, DOMAIN, out, n_train=n, composites=comps, progress=False, tile_size_m=size,
                  tile_pixels=pixels, seed=1, labeler=RegimeLabeler())
    return time.perf_counter() - t, time.process_time() - c


def child(a) -> int:
    """Subprocess: write one dataset with the code in ``--code``; print ``{"wall", "cpu"}``."""
    sys.path.insert(0, a.code)
    import convml_tt

    assert Path(convml_tt.__file__).resolve().is_relative_to(Path(a.code).resolve()), convml_tt.__file__
    comps = json.loads(Path(a.data, "comps.json").read_text())
    wall, cpu = write(Path(a.data), comps, Path(a.out), a.n, a.pixels, a.size)
    print(json.dumps({"wall": wall, "cpu": cpu}))
    return 0


def _floats_differ(x, y, where: str, diffs: list) -> bool:
    """Compare two loaded YAML values; floats that differ go to ``diffs`` as ``(where, x, y, rel)``;
    True when anything else differs."""
    if isinstance(x, dict) and isinstance(y, dict):
        bad = set(x) != set(y)
        if bad:
            diffs.append((where, sorted(set(x) ^ set(y)), None, math.inf))
        return bad | any([_floats_differ(x[k], y[k], f"{where}.{k}", diffs) for k in set(x) & set(y)])
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return any([_floats_differ(u, v, f"{where}[{i}]", diffs) for i, (u, v) in enumerate(zip(x, y))])
    if isinstance(x, float) and isinstance(y, float) and x != y:
        diffs.append((where, x, y, abs(x - y) / max(abs(x), abs(y))))
        return False
    if x != y:
        diffs.append((where, x, y, math.inf))
        return True
    return False


def same_datasets(old: Path, new: Path) -> tuple[bool, str]:
    """Whether two triplet datasets hold the same tiles (decoded PNG pixels) and metadata values."""
    import numpy as np
    import yaml
    from PIL import Image

    files = sorted(p.relative_to(old) for p in old.rglob("*") if p.is_file())
    files_new = sorted(p.relative_to(new) for p in new.rglob("*") if p.is_file())
    if files != files_new:
        return False, f"different files: {sorted(set(map(str, files)) ^ set(map(str, files_new)))[:5]}"
    n_png = n_yaml = 0
    diffs: list = []
    for rel in files:
        if rel.suffix == ".png":
            a, b = np.asarray(Image.open(old / rel)), np.asarray(Image.open(new / rel))
            if a.shape != b.shape or not np.array_equal(a, b):
                return False, f"{rel}: decoded pixels differ"
            n_png += 1
        elif rel.suffix == ".yaml":
            x = yaml.safe_load((old / rel).read_text())
            y = yaml.safe_load((new / rel).read_text())
            if rel.name == "meta.yaml":  # where each dataset was written from is not a value
                x.pop("data_root", None), y.pop("data_root", None)
            if _floats_differ(x, y, str(rel), diffs):
                return False, f"{rel}: values differ: {diffs[-1]}"
            n_yaml += 1
    worst = max((d[3] for d in diffs), default=0.0)
    text = (f"{n_png} PNG tiles with identical decoded pixels, {n_yaml} YAML files with "
            + ("identical values" if not diffs else
               f"{len(diffs)} float(s) differing, at most {worst:.2g} relative: "
               + "; ".join(f"{w} {x!r} -> {y!r}" for w, x, y, _ in diffs[:5])))
    return worst <= 1e-6, text


def compare(a) -> int:
    """Old commit vs this checkout, alternating subprocesses; then the sameness check."""
    from _compare import old_checkout, this_code

    with tempfile.TemporaryDirectory(prefix="bench-triplets-") as tmp, \
            old_checkout(a.compare_commit, Path(tmp) / "old") as old_code:
        tmp = Path(tmp)
        sys.path.insert(0, str(ROOT))
        data = tmp / "data"
        data.mkdir()
        (data / "comps.json").write_text(json.dumps(build(data)))
        res: dict[str, list] = {"old": [], "new": []}
        for k in range(a.repeat):
            for side in (("old", "new") if k % 2 == 0 else ("new", "old")):
                code = old_code if side == "old" else ROOT
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--code", str(code),
                       "--data", str(data), "--out", str(tmp / f"{side}{k}"), "--n", str(a.n),
                       "--pixels", str(a.pixels), "--size", str(a.size)]
                env = {**os.environ, "PYTHONPATH": str(code)}
                r = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if r.returncode:
                    sys.stderr.write(r.stderr)
                    return 2
                res[side].append(json.loads(r.stdout.strip().splitlines()[-1]))
        last = a.repeat - 1
        ok, text = same_datasets(tmp / f"old{last}", tmp / f"new{last}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {a.n} triplets of {a.pixels} px / "
          f"{a.size / 1e3:g} km, one worker, alternating subprocesses, best of {a.repeat} each\n")
    print("| code | wall (s) | triplets/s (wall) | CPU (s) | triplets per CPU-second | all runs (per CPU-second) |")
    print("|---|---:|---:|---:|---:|---|")
    rate = {}
    for side, name in (("old", f"before ({a.compare_commit})"), ("new", f"now ({this_code()})")):
        wall = min(r["wall"] for r in res[side])
        cpu = min(r["cpu"] for r in res[side])
        rate[side] = a.n / cpu
        runs = ", ".join(f"{a.n / r['cpu']:.1f}" for r in res[side])
        print(f"| {name} | {wall:.2f} | {a.n / wall:.1f} | {cpu:.2f} | **{a.n / cpu:.1f}** | {runs} |")
    print(f"\nnow / before (CPU): **{rate['new'] / rate['old']:.2f}x**; target >= {TARGET:g} triplets per "
          f"CPU-second: {'met' if rate['new'] >= TARGET else 'missed'}")
    print(f"same results: {'yes' if ok else 'NO'} ({text})")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--size", type=float, default=200e3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--compare-commit", default=None, metavar="REF",
                   help="also run the code of commit REF, alternating, and check the datasets are the same")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--code", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    if a.compare_commit:
        return compare(a)
    sys.path.insert(0, str(ROOT))
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        comps = build(Path(tmp))
        for k in range(a.repeat):
            wall, cpu = write(Path(tmp), comps, Path(tmp) / f"ds{k}", a.n, a.pixels, a.size)
            walls.append(wall)
            cpus.append(cpu)
    el, cpu = min(walls), min(cpus)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; best of {a.repeat}")
    print(f"{a.n} triplets of {a.pixels} px / {a.size / 1e3:g} km on 1 core: wall {el:.2f} s = "
          f"{a.n / el:.1f} triplets/s ({3 * a.n / el:.0f} tiles/s); CPU {cpu:.2f} s = "
          f"{a.n / cpu:.1f} triplets per CPU-second; target >= {TARGET:g} triplets/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
