"""convml_tt.compute: the data steps' tasks in this process, a local pool, a dask cluster.

One 2-worker dask LocalCluster (processes, one thread each) serves the
module. Scenes are the session's small synthetic ones (composited_root).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convml_tt.compute import ComputeSettings, compute_settings, connect, run_tasks, sge_cluster, slurm_cluster
from convml_tt.data.dataset import make_triplets
from convml_tt.data.dataset.format import verify_dataset
from convml_tt.data.synthetic import RegimeLabeler
from synthetic_fixtures import DOMAIN, SMALL, composited_root, files_of  # noqa: F401

distributed = pytest.importorskip("distributed")

N = 10  # triplets per dataset


@pytest.fixture(scope="module")
def client():
    # a nanny writes its workers' variables (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_...) into
    # this process's environment too, when it starts (or restarts) a worker: put it back after
    env = dict(os.environ)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        os.environ.clear()
        os.environ.update(env)


@pytest.fixture()
def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- tasks of the generic tests (module-level: pickled by reference) --------------------------
_STATE: dict = {}


def _setup(config):
    _STATE["offset"] = config["offset"]


def _add(x):
    return x + _STATE["offset"], os.getpid()


def _fail_on_three(x):
    if x == 3:
        raise ValueError("task 3 fails")
    return x


class KillOnceLabeler(RegimeLabeler):
    """The synthetic regime labeler, whose process SIGKILLs itself, once, at
    its 5th tile (the neighbour of its 2nd triplet: after that triplet's
    anchor and neighbour PNGs are written, before its _meta.yaml), when the
    file ``marker`` exists (whichever process removes it first dies)."""

    #: the dataset records the labeler it was made with: this one labels as RegimeLabeler does
    registry_name = "convml_tt.data.synthetic.regimes.RegimeLabeler"

    def __init__(self, marker):
        super().__init__()
        self.marker = str(marker)
        self.calls = 0

    def label(self, tile, source_paths):
        self.calls += 1
        if self.calls == 5:
            try:
                os.unlink(self.marker)
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().label(tile, source_paths)


def _pixels_and_meta(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.suffix == ".png":
            out[rel] = np.asarray(Image.open(p)).tobytes()
        elif p.suffix == ".yaml":
            out[rel] = p.read_text().replace(str(folder), "OUT")
    return out


# --- settings and errors ------------------------------------------------------------------------
@pytest.mark.parametrize("kw, exc, words", [
    (dict(workers=0), ValueError, "workers=0 must be >= 1"),
    (dict(workers=-2), ValueError, "workers=-2 must be >= 1"),
    (dict(workers=1.5), TypeError, "whole number"),
    (dict(workers="2"), TypeError, "whole number"),
    (dict(workers=2, scheduler="tcp://127.0.0.1:8786"), ValueError, "not both"),
    (dict(workers=1, scheduler="127.0.0.1:8786"), ValueError, "not both"),
    (dict(scheduler="nohost"), ValueError, "tcp://HOST:PORT"),
    (dict(scheduler="missing/scheduler.json"), ValueError, "does not exist"),
])
def test_compute_settings_errors(kw, exc, words):
    with pytest.raises(exc, match=words):
        compute_settings(**kw)


def test_compute_settings_modes():
    assert compute_settings().mode == "process" and compute_settings(workers=1).workers == 1
    assert compute_settings(workers=3).mode == "pool"
    s = compute_settings(scheduler="10.0.0.5:8786")
    assert s == ComputeSettings(scheduler="tcp://10.0.0.5:8786") and s.mode == "dask"


def test_unreachable_scheduler_fails_fast(closed_port, composited_root, tmp_path):
    t = time.monotonic()
    with pytest.raises(ConnectionError, match=f"cannot reach the dask scheduler at tcp://127.0.0.1:{closed_port}"):
        connect(f"tcp://127.0.0.1:{closed_port}")
    assert time.monotonic() - t < 10
    # the CLI: one line, exit 1, within 10 s
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "convml_tt", "triplets", "--data-root", str(composited_root),
                        "--domain", *map(str, DOMAIN), "--n-train", "2", "--out", str(tmp_path / "ds"),
                        "--tile-size-m", "40e3", "--tile-pixels", "32", "--quiet",
                        "--scheduler", f"127.0.0.1:{closed_port}"], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t < 20  # interpreter start-up included
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("convml_tt triplets: error: cannot reach the dask scheduler"), r.stderr


@pytest.mark.parametrize("argv, words", [
    (["--workers", "0"], "out of range"),
    (["--workers", "-1"], "out of range"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
])
def test_cli_compute_errors(argv, words, tmp_path, capsys):
    from convml_tt.cli import main

    base = ["--data-root", str(tmp_path), "--domain", *map(str, DOMAIN), "--quiet"]
    for cmd in (["composite"], ["triplets", "--n-train", "1", "--out", str(tmp_path / "ds")],
                ["map", "tile_statistics", "--out", str(tmp_path / "m.nc")]):
        try:
            rc = main(cmd + base + argv)
        except SystemExit as e:  # argparse
            rc = e.code
        err = capsys.readouterr().err
        assert rc in (1, 2) and words in err, (cmd, err)
        assert "Traceback" not in err


# --- the three modes ----------------------------------------------------------------------------
def test_run_tasks_same_results_in_every_mode(client):
    tasks = list(range(12))
    kw = dict(setup=_setup, config={"offset": 100}, progress=False)
    here = run_tasks(_add, tasks, **kw)
    pool = run_tasks(_add, tasks, workers=2, **kw)
    dask = run_tasks(_add, tasks, client=client, window=3, **kw)
    want = [t + 100 for t in tasks]
    assert [r for r, _ in here] == [r for r, _ in pool] == [r for r, _ in dask] == want
    assert {p for _, p in here} == {os.getpid()}
    assert os.getpid() not in {p for _, p in pool} | {p for _, p in dask}
    # a new config reaches the dask workers (the cached set-up is keyed by the config); a large one
    # is scattered to them once instead of travelling with each task
    assert [r for r, _ in run_tasks(_add, tasks[:4], client=client, setup=_setup, config={"offset": 7},
                                    progress=False)] == [7, 8, 9, 10]
    big = {"offset": 3, "pad": bytes(200_000)}
    assert [r for r, _ in run_tasks(_add, tasks[:4], client=client, setup=_setup, config=big,
                                    progress=False)] == [3, 4, 5, 6]


def test_a_cluster_without_workers_warns_and_waits_for_them(caplog):
    """Workers still queued (e.g. SLURM jobs): the tasks wait and run once a
    worker joins, with a warning saying so instead of a silent stall."""
    import logging
    import threading

    env = dict(os.environ)
    # its own dashboard port (the module's cluster may hold the default one)
    cluster = distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", silence_logs=50)
    try:
        got: dict = {}
        with caplog.at_level(logging.WARNING, logger="convml_tt.compute"):
            t = threading.Thread(target=lambda: got.update(
                r=run_tasks(_add, [1, 2, 3], setup=_setup, config={"offset": 10},
                            scheduler=cluster.scheduler_address, progress=False)), daemon=True)
            t.start()
            time.sleep(2.0)
            assert "r" not in got  # waiting, not failed
            cluster.scale(1)
            t.join(60)
        assert [r for r, _ in got["r"]] == [11, 12, 13]
        assert any("has no workers yet" in m for m in caplog.messages)
    finally:
        cluster.close()
        os.environ.clear()
        os.environ.update(env)


def test_run_tasks_errors_propagate(client):
    for kw in (dict(), dict(workers=2), dict(client=client, retries=0)):
        with pytest.raises(ValueError, match="task 3 fails"):
            run_tasks(_fail_on_three, range(6), progress=False, **kw)


def test_triplets_on_cluster_identical_to_in_process(composited_root, client, tmp_path):
    kw = dict(n_train=N, seed=4, progress=False, **SMALL)
    a = make_triplets(composited_root, DOMAIN, tmp_path / "here", **kw)
    b = make_triplets(composited_root, DOMAIN, tmp_path / "dask", client=client, **kw)
    pa, pb = _pixels_and_meta(a), _pixels_and_meta(b)
    assert len([k for k in pa if k.endswith(".png")]) == 3 * N
    assert pa == pb
    assert {k: v for k, v in files_of(a).items() if k.endswith(".png")} == \
        {k: v for k, v in files_of(b).items() if k.endswith(".png")}


@pytest.mark.parametrize("mode", ["pool", "dask"])
def test_worker_killed_while_writing_triplets(mode, composited_root, client, tmp_path):
    kw = dict(n_train=N, seed=4, progress=False, **SMALL)
    ref = make_triplets(composited_root, DOMAIN, tmp_path / "ref", labeler=RegimeLabeler(), **kw)
    marker = tmp_path / "KILL_ONCE"
    marker.write_text("")
    run = dict(workers=2) if mode == "pool" else dict(client=client)
    out = make_triplets(composited_root, DOMAIN, tmp_path / mode, labeler=KillOnceLabeler(marker), **run, **kw)
    assert not marker.exists(), "no worker was killed"
    assert verify_dataset(out) == {"train": {}, "study": {}}
    assert sorted(p.name for p in (out / "train").glob("*_meta.yaml")) == [f"{i:05d}_meta.yaml" for i in range(N)]
    assert not list(out.rglob(".*.tmp"))
    assert _pixels_and_meta(out) == _pixels_and_meta(ref)
    if mode == "dask":
        client.wait_for_workers(2, timeout=60)


# --- composites ---------------------------------------------------------------------------------
def test_composites_on_cluster_match_in_process(composited_root, client, tmp_path):
    import shutil

    import xarray as xr

    from convml_tt.data.composites import make_composites

    r = tmp_path / "root"
    shutil.copytree(composited_root / "sources", r / "sources")
    made = make_composites(r, DOMAIN, client=client, progress=False)
    again = make_composites(r, DOMAIN, workers=2, progress=False)  # reused
    here = make_composites(composited_root, DOMAIN, progress=False)
    assert len(made) == len(here) == 3 and list(made) == list(again)
    for p, q in zip(made, here):
        with xr.open_dataset(p) as x, xr.open_dataset(q) as y:
            xr.testing.assert_identical(x.drop_attrs(), y.drop_attrs())
            assert {k: v for k, v in x.attrs.items() if k != "source_paths"} == \
                {k: v for k, v in y.attrs.items() if k != "source_paths"}


# --- HPC helpers --------------------------------------------------------------------------------
def test_jobqueue_job_scripts():
    quiet = {"scheduler_options": {"dashboard_address": ":0", "host": "127.0.0.1"}}
    s = slurm_cluster(cores=4, queue="short", account="proj", walltime="00:30:00", **quiet)
    try:
        text = s.job_script()
    finally:
        s.close()
    assert text.startswith("#!/usr/bin/env bash")
    for words in ("#SBATCH -p short", "#SBATCH -A proj", "#SBATCH -n 1", "#SBATCH --cpus-per-task=4",
                  "#SBATCH --mem=8G", "#SBATCH -t 00:30:00", "--nworkers 4", "--nthreads 1",
                  "distributed.cli.dask_worker"):
        assert words in text, (words, text)
    g = sge_cluster(cores=2, queue="all.q", resource_spec="h_vmem=4G", **quiet)
    try:
        text = g.job_script()
    finally:
        g.close()
    for words in ("#$ -q all.q", "#$ -l h_vmem=4G", "--nworkers 2", "--nthreads 1", "--memory-limit 2.00GiB"):
        assert words in text, (words, text)
    with pytest.raises(ValueError, match="processes=5 must be between 1 and cores=4"):
        slurm_cluster(cores=4, processes=5)


# --- maps -----------------------------------------------------------------------------------------
def test_map_cutting_on_cluster_and_pool_identical(composited_root, client):
    import xarray as xr

    from convml_tt.interpretation.maps import embed_domain

    comps = sorted((composited_root / "composites").rglob("*.nc"))
    kw = dict(tile_size_m=40e3, tile_pixels=32, stride=30e3, batch_size=8, progress=False)
    here = embed_domain("tile_statistics", comps, **kw)
    pool = embed_domain("tile_statistics", comps, workers=2, **kw)
    dask = embed_domain("tile_statistics", comps, client=client, **kw)
    assert int(here["valid"].sum()) > 10 and here.sizes["time"] == 3
    for other in (pool, dask):
        xr.testing.assert_identical(here, other)
    with pytest.raises(ValueError, match="not both"):
        embed_domain("tile_statistics", comps, workers=2, num_workers=1, **kw)


def test_cli_triplets_with_scheduler_address(composited_root, client, tmp_path, capsys):
    from convml_tt.cli import main

    argv = ["triplets", "--data-root", str(composited_root), "--domain", *map(str, DOMAIN), "--n-train", "6",
            "--tile-size-m", "40e3", "--tile-pixels", "32", "--seed", "3", "--quiet", "--labels", "none"]
    assert main(argv + ["--out", str(tmp_path / "here")]) == 0
    assert main(argv + ["--out", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]) == 0
    assert main(["composite", "--data-root", str(composited_root), "--domain", *map(str, DOMAIN), "--quiet",
                 "--workers", "2"]) == 0
    capsys.readouterr()
    assert _pixels_and_meta(tmp_path / "here") == _pixels_and_meta(tmp_path / "dask")
    assert len(list((tmp_path / "dask" / "train").glob("*_meta.yaml"))) == 6


def test_a_plugin_recipe_on_the_cluster_and_in_a_pool(composited_root, client, tmp_path, monkeypatch):
    """A recipe a plugin file registers (its combine a lambda, which pickle cannot send) is made by
    dask workers and pool processes, who load the plugin first; results equal this process's."""
    import shutil

    import xarray as xr

    from convml_tt import registry
    from convml_tt.data.composites import RECIPES, load_composite, make_composites

    plugin = tmp_path / "rb_plugin.py"
    plugin.write_text("from convml_tt.data.composites import Recipe, register_recipe\n"
                      "register_recipe(Recipe(name='cluster_rb', bands=(2, 1), combine=lambda b: {0: b[2] - b[1]}))\n")
    monkeypatch.setattr(registry, "_PLUGINS", {})
    with RECIPES.scoped():
        registry.load_plugin(plugin)
        roots = {}
        for mode, where in (("dask", {"client": client}), ("pool", {"workers": 2}), ("here", {})):
            roots[mode] = tmp_path / mode
            shutil.copytree(composited_root / "sources", roots[mode] / "sources")
            roots[mode] = make_composites(roots[mode], DOMAIN, kind="cluster_rb", progress=False, **where)
    assert [len(v) for v in roots.values()] == [3, 3, 3]
    for paths in zip(*roots.values()):
        first, *others = [load_composite(p, load=True).cluster_rb for p in paths]
        for other in others:
            xr.testing.assert_identical(first.drop_attrs(), other.drop_attrs())
