"""Benchmark: the data steps on a local dask cluster vs in this process and a process pool.

    .venv/bin/python bench/compute.py [--n 200] [--pixels 256] [--size 200e3] [--repeat 2] [--tasks 400]

1. Triplet writing (three 1000 km synthetic scenes, 1 km composites made
   first and not timed, ``--n`` triplets of ``--pixels`` px / ``--size`` m,
   the synthetic regime labeler): in this process, on a 2-worker
   ``distributed.LocalCluster`` (processes, one thread each; started and
   warmed up once, not timed) and in a 2-process pool (``workers=2``, its
   start-up included, as the CLI pays it). Trials alternate; best of
   ``--repeat``. Target: dask / in-process >= 1.8x on 2 cores.
2. Overhead per task: ``run_tasks`` of a task that does nothing, ``--tasks``
   and ``--tasks / 8`` of them, in each mode; the per-task cost is the
   difference over the difference in count (start-up cancels).
3. Memory and time of one task in a fresh process (``VmHWM``, peak resident
   memory, after imports and after the task): a scene's composite (1000 km
   demo-size scene, and 1500 km of a 5000 km full-disk-like scene with
   ``--large``) and a block of 16 triplets.

Prints the tables quoted in docs/cluster.md and docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

DOMAIN = (-53.5, 11.5, -46.5, 18.5)
LARGE_DOMAIN = (-65.0, 8.0, -51.0, 22.0)


def _noop(x):
    return x


def _vm_hwm_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_hwm() -> None:
    # writing 5 to clear_refs resets the peak RSS (VmHWM) of this process (Linux)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _measure_child(kind: str, root: str, domain, queue, args) -> None:
    """In a fresh (spawned) process: imports, then one task; peak RSS and time."""
    import numpy  # noqa: F401
    import xarray  # noqa: F401

    from convml_tt.data.composites.build import _composite_setup, _composite_task
    from convml_tt.data.composites.recipes import get_recipe
    from convml_tt.data.composites.scenes import scan_sources
    from convml_tt.data.dataset import writer
    from convml_tt.config import CompositeSettings

    base = _vm_hwm_mib()
    if kind == "composite":
        recipe = get_recipe("truecolor")
        scenes, _ = scan_sources(root, recipe.bands, None, None)
        settings = CompositeSettings(domain=domain)
        _composite_setup({"data_root": root, "settings": settings, "recipe": recipe, "overwrite": True,
                          "skip_outside": False})
        t = time.perf_counter()
        _composite_task(scenes[0])
        el = time.perf_counter() - t
    else:
        config = args
        writer._init(config)
        t = time.perf_counter()
        writer._make_block(("train", list(range(16))))
        el = time.perf_counter() - t
    queue.put((base, _vm_hwm_mib(), el))


def _in_child(kind, root, domain, args=None):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure_child, args=(kind, str(root), domain, q, args))
    p.start()
    got = q.get(timeout=600)
    p.join()
    return got


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _worker_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _cpu_here() -> float:
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn, client=None):
    """(wall, CPU seconds of this process, its reaped children and the dask workers)."""
    w0 = sum(client.run(_worker_cpu).values()) if client is not None else 0.0
    c0, t = _cpu_here(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t, _cpu_here() - c0
    if client is not None:
        cpu += sum(client.run(_worker_cpu).values()) - w0
    return wall, cpu


def _map_cutting(comps, size: float, pixels: int) -> tuple[int, float]:
    """CPU seconds per tile of cutting a map's tiles (grid sampler + 8-bit
    stretch, the task a map sends to workers), one scene, in this process."""
    from convml_tt.data.composites.enhance import GAMMA
    from convml_tt.data.sampling.grid import GridSampler
    from convml_tt.interpretation.maps import _Chunks, _cut_setup, _cut_task

    sampler = GridSampler(DOMAIN, size, pixels, size / 4, {"map": [str(c) for c in comps]})
    n = sampler.n_cells
    items = [(0, s, min(s + 64, n)) for s in range(0, n, 64)]
    _cut_setup(_Chunks(sampler, items, GAMMA, None, 3))
    _cut_task(0)  # first touch: the composite read, the cells' mapping
    t = time.process_time()
    tiles = sum(int(_cut_task(i)["valid"].sum()) for i in range(len(items)))
    return tiles, (time.process_time() - t) / max(tiles, 1)


def main() -> None:
    import distributed

    from convml_tt.compute import run_tasks
    from convml_tt.config import TripletSettings
    from convml_tt.data.composites import make_composites
    from convml_tt.data.dataset import make_triplets
    from convml_tt.data.dataset.writer import _split
    from convml_tt.data.sampling.triplets import TripletSampler
    from convml_tt.data.synthetic import RegimeLabeler, write_synthetic_scenes

    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--size", type=float, default=200e3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--tasks", type=int, default=400)
    p.add_argument("--large", action="store_true", help="also a composite of a 5000 km scene (slow to make)")
    a = p.parse_args()

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=3, interval=dt.timedelta(hours=1),
                               size_km=1000, progress=False)
        comps = make_composites(tmp, DOMAIN, progress=False)
        kw = dict(n_train=a.n, composites=comps, progress=False, tile_size_m=a.size, tile_pixels=a.pixels, seed=1,
                  labeler=RegimeLabeler())
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40)
        client = distributed.Client(cluster, set_as_default=False)
        try:
            # warm-up (imports, composites read into each worker), not timed
            make_triplets(tmp, DOMAIN, Path(tmp) / "warm-here", **{**kw, "n_train": 4})
            make_triplets(tmp, DOMAIN, Path(tmp) / "warm-dask", client=client, **{**kw, "n_train": 32})
            walls: dict[str, list[tuple[float, float]]] = {"in-process": [], "dask, 2 workers": [],
                                                            "pool, workers=2": []}
            for k in range(a.repeat):
                walls["in-process"].append(_timed(lambda: make_triplets(tmp, DOMAIN, Path(tmp) / f"h{k}", **kw)))
                walls["dask, 2 workers"].append(_timed(
                    lambda: make_triplets(tmp, DOMAIN, Path(tmp) / f"d{k}", client=client, **kw), client))
                walls["pool, workers=2"].append(_timed(
                    lambda: make_triplets(tmp, DOMAIN, Path(tmp) / f"p{k}", workers=2, **kw)))
            same = all((Path(tmp) / f"h0" / "train" / f"{i:05d}_meta.yaml").read_text()
                       == (Path(tmp) / f"d0" / "train" / f"{i:05d}_meta.yaml").read_text() for i in range(a.n))

            # overhead per task
            over = {}
            n1, n0 = a.tasks, max(1, a.tasks // 8)
            for name, where in (("in-process", {}), ("pool, workers=2", {"workers": 2}),
                                ("dask, 2 workers", {"client": client})):
                t1 = min(_time(lambda: run_tasks(_noop, range(n1), progress=False, **where)) for _ in range(2))
                t0 = min(_time(lambda: run_tasks(_noop, range(n0), progress=False, **where)) for _ in range(2))
                over[name] = (t1 - t0) / (n1 - n0), t0
            worker_rss = client.run(lambda: __import__("psutil").Process().memory_info().rss / 2**20)
        finally:
            client.close()
            cluster.close()

        # memory and time of one task, in a fresh process
        params = TripletSettings(domain=DOMAIN, tile_size_m=a.size, tile_pixels=a.pixels, n_train=16, seed=1)
        scenes = _split(comps, params)
        config = {"settings": params, "scenes": scenes, "out": str(Path(tmp) / "mem"), "data_root": str(Path(tmp).resolve()),
                  "labeler": RegimeLabeler(), "sampler": TripletSampler, "field_paths": {}}
        (Path(tmp) / "mem" / "train").mkdir(parents=True)
        cut = _map_cutting(comps, a.size, a.pixels)
        mem = {"composite, 1000 km scene, 1 km (DOMAIN ~770 km)": _in_child("composite", tmp, DOMAIN),
               f"triplet block, 16 x {a.pixels} px (3 composites)": _in_child("triplets", tmp, DOMAIN, config)}
    if a.large:
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_scenes(tmp, dt.datetime(2020, 1, 2, 14), count=1, size_km=5000, center=(15.0, -60.0),
                                   sector="F", progress=False)
            mem["composite, 5000 km F scene, 1 km (1500 km domain)"] = _in_child("composite", tmp, LARGE_DOMAIN)

    base = min(walls["in-process"])[0]
    print(f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end, on {os.cpu_count()} cores; "
          f"best of {a.repeat}; {a.n} triplets of {a.pixels} px / {a.size / 1e3:g} km; "
          f"dask dataset identical to in-process: {same}")
    print()
    print("| mode | wall (s) | triplets/s | vs in-process | CPU (s, all processes) | triplets per CPU-second |")
    print("|---|---|---|---|---|---|")
    for name, w in walls.items():
        wall, cpu = min(w)
        print(f"| {name} | {wall:.2f} | {a.n / wall:.1f} | **{base / wall:.2f}x** | {cpu:.2f} | {a.n / cpu:.1f} |")
    print()
    print("| mode | overhead per task (ms) | start-up + first tasks (s) |")
    print("|---|---|---|")
    for name, (per, t0) in over.items():
        print(f"| {name} | {1e3 * per:.2f} | {t0:.2f} |")
    print(f"\ncluster vs pool overhead per task: "
          f"{over['dask, 2 workers'][0] / max(over['pool, workers=2'][0], 1e-9):.1f}x")
    print(f"dask worker process RSS after the run: "
          + ", ".join(f"{v:.0f} MiB" for v in worker_rss.values()))
    print()
    print(f"map cutting ({a.pixels} px / {a.size / 1e3:g} km tiles, one scene, {cut[0]} valid tiles): "
          f"{1e3 * cut[1]:.2f} CPU-ms per tile")
    print()
    print("| task (fresh process) | RSS after imports (MiB) | peak RSS (MiB) | task time (s) |")
    print("|---|---|---|---|")
    for name, (b, peak, el) in mem.items():
        print(f"| {name} | {b:.0f} | {peak:.0f} | {el:.2f} |")


if __name__ == "__main__":
    main()
