"""Reliability, round 3 (issue 26): every cluster call bounded, one line for
Ctrl-C, requests sized before work, resume checks (datasets and training),
messages that name the real cause, no half-written or leftover files.

Each test runs the real thing: CLI subprocesses, real sockets on 127.0.0.1,
the session's synthetic scenes, real netCDF and model files.
"""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from convml_tt.cli import main
from synthetic_fixtures import DOMAIN, SMALL, composited_root  # noqa: F401

DOM = [f"{v:g}" for v in DOMAIN]
TILES = ["--tile-size", "40e3", "--tile-pixels", "32"]


def _cli(*argv: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convml_tt", *argv], capture_output=True, text=True,
                          timeout=timeout, **kw)


def _one_line(r: subprocess.CompletedProcess, command: str, rc: int = 1) -> str:
    """The one stderr line of a failed CLI run (no traceback), its text after 'error: '."""
    assert r.returncode == rc, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    prefix = f"convml_tt {command}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


def _err(capsys) -> str:
    """The error line of an in-process CLI run (after any warning lines); no traceback."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    return errors[0]


# --- every cluster call is bounded ------------------------------------------------------------
def test_a_scheduler_that_accepts_and_never_answers_fails_within_5_s(silent_server, composited_root):
    from convml_tt.compute import connect

    address = silent_server.url.replace("http://", "tcp://")
    t = time.monotonic()
    with pytest.raises(ConnectionError, match="accepts connections but does not answer as a dask scheduler"):
        connect(address)
    assert time.monotonic() - t < 7.5
    assert silent_server.accepted >= 1  # it did connect: the handshake is what never came
    # the CLI (map of cached composites): one line, exit 1, within ~5 s of the connection attempt
    t = time.monotonic()
    r = _cli("map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
             "--out", str(composited_root / "m.nc"), "--quiet", "--labels", "none", "--scheduler", address)
    assert time.monotonic() - t < 25  # interpreter and imports included
    line = _one_line(r, "map")
    assert line.startswith(f"cannot reach the dask scheduler at {address} within 5 s"), line
    assert not (composited_root / "m.nc").exists()


@pytest.mark.parametrize("content, words", [
    (b"garbage{{", "is not JSON"),
    (b"\xff\xfe\x00binary", "is not JSON"),
    (b'{"address": 5}', 'has no scheduler "address"'),
    (b"[1, 2]", 'has no scheduler "address"'),
    (b'{"address": "not an address"}', "which is not one"),
])
def test_a_garbage_scheduler_file_is_one_line(content, words, tmp_path):
    bad = tmp_path / "scheduler.json"
    bad.write_bytes(content)
    r = _cli("composite", "--data-root", str(tmp_path / "root"), "--domain", *DOM, "--quiet",
             "--scheduler", str(bad), timeout=60)
    line = _one_line(r, "composite")
    assert line.startswith(f"scheduler file {bad} ") and words in line, line
    assert "AssertionError" not in r.stderr


def test_an_unreachable_scheduler_is_checked_when_everything_is_cached(composited_root, closed_port_url):
    # every composite exists: nothing to run, and yet the address given is checked (and refused)
    closed = closed_port_url.replace("http://", "tcp://")
    r = _cli("composite", "--data-root", str(composited_root), "--domain", *DOM, "--quiet", "--scheduler", closed)
    assert "cannot reach the dask scheduler" in _one_line(r, "composite")


# --- Ctrl-C: one line, exit 130 ----------------------------------------------------------------
def test_ctrl_c_of_triplets_is_one_line_and_exit_130(composited_root, tmp_path):
    out = tmp_path / "ds"
    p = subprocess.Popen([sys.executable, "-m", "convml_tt", "triplets", "--data-root", str(composited_root),
                          "--domain", *DOM, *TILES, "--n-train", "100000", "--out", str(out), "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("train/*_meta.yaml"))) < 3:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert err.strip() == ("convml_tt triplets: interrupted (Ctrl-C); complete outputs are kept: run the same "
                           "command again to resume"), err
    assert not list(out.glob("train/.*.tmp"))


# --- a dataset resumed with other components; a failed start restarted -------------------------
from convml_tt.data.sampling.triplets import TripletSampler  # noqa: E402


class OtherSampler(TripletSampler):
    """Another sampler (same draws: only its name differs, which is what a resume must notice)."""


def test_a_dataset_records_its_components_and_refuses_others_on_resume(composited_root, tmp_path):
    from convml_tt.data.dataset import make_triplets
    from convml_tt.data.synthetic import RegimeLabeler

    out = tmp_path / "ds"
    kw = dict(domain=DOMAIN, out=out, n_train=2, progress=False, distant="same_scene",
              tile_size=20e3, tile_pixels=16)
    make_triplets(composited_root, labeler=RegimeLabeler(), **kw)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["components"] == {"sampler": "convml_tt.data.sampling.triplets.TripletSampler",
                                  "labeler": "convml_tt.data.synthetic.regimes.RegimeLabeler",
                                  "recipe": "truecolor"}
    before = {p.name: p.read_bytes() for p in (out / "train").iterdir()}
    with pytest.raises(ValueError, match=r"made with other parameters \(sampler: convml_tt\.data\.sampling\.triplets"
                                         r"\.TripletSampler -> test_reliability3\.OtherSampler\); refusing to mix"):
        make_triplets(composited_root, labeler=RegimeLabeler(), sampler=OtherSampler, n_study=0, **kw)
    with pytest.raises(ValueError, match=r"\(labeler: convml_tt\.data\.synthetic\.regimes\.RegimeLabeler -> none\)"):
        make_triplets(composited_root, labeler=None, **kw)
    assert {p.name: p.read_bytes() for p in (out / "train").iterdir()} == before  # nothing mixed in
    # a dataset written before the components were recorded still loads and resumes
    del meta["components"]
    (out / "meta.yaml").write_text(yaml.safe_dump(meta))
    (out / "train" / "00001_meta.yaml").unlink()  # a triplet left to write
    make_triplets(composited_root, labeler=RegimeLabeler(), **kw)
    assert {p.name: p.read_bytes() for p in (out / "train").iterdir()} == before
    assert "components" in yaml.safe_load((out / "meta.yaml").read_text())


def test_a_run_that_wrote_no_complete_triplet_restarts_with_new_parameters(composited_root, tmp_path, capsys):
    out = tmp_path / "ds"
    base = ["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size", "20e3",
            "--tile-pixels", "16", "--n-train", "2", "--out", str(out), "--quiet", "--distant", "same_scene"]
    # every tile must lie wholly where the sun is within 38.2 degrees of the zenith: only a corner of
    # the domain at the last scene, too small for a triplet: the run stops at its first triplet
    assert main(base + ["--max-sza", "38.2", "--max-sza-fraction", "0"]) == 1
    assert "train triplet 0: no valid triplet in 200 draws" in _err(capsys)
    assert (out / "meta.yaml").exists() and not list(out.glob("*/*_meta.yaml"))
    assert main(base + ["--max-sza", "60"]) == 0, capsys.readouterr().err
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["params"]["max_sza"] == 60 and meta["status"] == "complete"
    # with a complete triplet, other parameters are refused as before
    assert main(base + ["--max-sza", "70"]) == 1
    assert "made with other parameters (max_sza: 60.0 -> 70.0)" in _err(capsys)


# --- requests sized before work -------------------------------------------------------------------
@pytest.fixture()
def machine(monkeypatch):
    """A machine of 64 GiB of memory and 1 TiB of free disk (the bounds do not depend on the test host)."""
    from convml_tt import _sizing

    monkeypatch.setattr(_sizing, "physical_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(_sizing, "free_disk", lambda path: 2**40)
    return _sizing


def test_a_map_of_tens_of_millions_of_cells_asks_for_force(composited_root, tmp_path, capsys, machine):
    out = tmp_path / "m.nc"
    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", "-56", "9", "-44", "21",
            *TILES, "--stride", "200", "--out", str(out), "--quiet", "--labels", "none"]
    t = time.monotonic()
    assert main(argv) == 1
    err = _err(capsys)
    assert time.monotonic() - t < 10
    assert re.search(r"the map is large: \d+ million tiles \([\d,]+ x [\d,]+ cells 200 m apart x 3 scenes\), "
                     r"about [\d.]+ GiB of memory \(one scene at a time\), about [\d.]+ GiB on disk, above 10 "
                     r"million tiles.*; give --force \(force=True\) to go ahead, or ask for a larger --stride "
                     r"\(metres\), a smaller --domain or fewer scenes", err), err
    # nothing was made: no composites of that domain, no map, no parts
    assert not list((composited_root / "composites").glob("goes16/domain_-56*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_map_with_a_stride_of_one_metre_is_refused_before_allocating(composited_root, tmp_path, capsys, machine):
    from convml_tt.data.sampling.grid import GridSampler

    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
            "--stride", "1", "--out", str(tmp_path / "m.nc"), "--quiet", "--force"]
    assert main(argv) == 1
    err = _err(capsys)
    assert re.search(r"the map needs [\d.]+ billion tiles \([\d,]+ x [\d,]+ cells 1 m apart x 3 scenes\), about "
                     r"[\d.]+ TiB of memory \(one scene at a time\), about [\d.]+ TiB on disk: more memory than "
                     r"this machine has \(64 GiB\); ask for a larger --stride", err), err
    # the library's grid refuses it too, before laying out a cell
    with pytest.raises(ValueError, match=r"the grid needs about [\d.]+ TiB of memory \([\d,]+ x [\d,]+ cells 1 m "
                                         r"apart\): more memory than this machine has"):
        GridSampler(DOMAIN, 40e3, 32, 1.0, {"map": []})
    # huge tiles: a batch of them is what does not fit
    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size", "40e3",
            "--tile-pixels", "100000", "--out", str(tmp_path / "m.nc"), "--quiet"]
    assert main(argv) == 1
    assert "fewer --tile-pixels or a smaller --batch-size" in _err(capsys)


def test_a_map_above_the_bounds_is_made_with_force(composited_root, tmp_path, capsys, machine, monkeypatch):
    monkeypatch.setattr(machine, "MAX_TILES", 50)  # the 3 scenes' 6 x 7 cells are 126 tiles
    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
            "--out", str(tmp_path / "m.nc"), "--quiet", "--labels", "none"]
    assert main(argv) == 1
    assert "the map is large: 126 tiles (6 x 7 cells 20000 m apart x 3 scenes)" in _err(capsys)
    assert main(argv + ["--force"]) == 0 and (tmp_path / "m.nc").exists()


def test_a_dataset_of_huge_tiles_is_sized_before_work(composited_root, tmp_path, capsys, machine):
    out = tmp_path / "ds"
    base = ["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size", "40e3",
            "--out", str(out), "--quiet"]
    assert main(base + ["--tile-pixels", "100000", "--n-train", "1"]) == 1
    assert re.search(r"tile_pixels=100000 is too large: a triplet of such tiles needs about \d+ GiB", _err(capsys))
    assert main(base + ["--tile-pixels", "4096", "--n-train", "1000"]) == 1
    assert _err(capsys).endswith(
        "the dataset is large: 3,000 tiles (1,000 triplet(s) of 4096 x 4096 pixels), about 2.81 GiB of memory (a "
        "triplet drawn at a time by each of 1 process(es)), about 141 GiB on disk, above 100 GiB on disk; give "
        "--force (force=True) to go ahead, or ask for fewer --tile-pixels or fewer triplets (--n-train, --n-study)")
    assert main(base + ["--tile-pixels", "4096", "--n-train", "16", "--workers", "16"]) == 1
    assert ("about 45 GiB of memory (a triplet drawn at a time by each of 16 process(es)), about 2.25 GiB on disk, "
            "above 32 GiB of memory (half of this machine's)") in _err(capsys)
    assert not out.exists()


# --- training resumed with other settings; private learner folders ----------------------------------
@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    from triplet_fixtures import write_toy_triplets

    return write_toy_triplets(tmp_path_factory.mktemp("train") / "ds", n_train=24, n_study=0, size=32)


@pytest.mark.slow  # two epochs of a tiny resnet18 (~15 s on 2 idle cores)
def test_a_resume_with_other_settings_is_refused_listing_them(toy_ds, tmp_path, capsys):
    import torch

    torch.set_num_threads(2)
    out = tmp_path / "m.pt"
    base = ["train", str(toy_ds), "--batch-size", "8", "--emb-dim", "8", "--head", "linear", "--device", "cpu",
            "--quiet", "--lr", "0.001", "--no-checkpoints"]
    assert main(base[:-1] + ["--epochs", "1", "--out", str(out)]) == 0
    ckpt = out.with_name("m.pt.checkpoints") / "last.pt"
    recorded = torch.load(ckpt, weights_only=True)["training"]
    assert recorded["epochs"] == 1 and recorded["lr"] == 0.001 and recorded["global_batch_size"] == 8
    resumed = tmp_path / "r.pt"
    for change, words in ((["--epochs", "2"], "epochs 1 -> 2"),
                          (["--epochs", "1", "--lr", "0.01"], "lr 0.001 -> 0.01"),
                          (["--epochs", "1", "--batch-size", "4"], "global_batch_size 8 -> 4"),
                          (["--epochs", "3", "--seed", "7", "--no-augment"],
                           "augment True -> False; epochs 1 -> 3; seed 42 -> 7")):
        assert main(base + change + ["--out", str(resumed), "--resume", str(ckpt)]) == 1
        assert _err(capsys) == (f"convml_tt train: error: checkpoint {str(ckpt)!r} was made with other settings "
                                f"({words}): resume with the settings it was made with, or give "
                                f"--resume-with-changes (resume_with_changes=True) to continue it with these")
        assert not resumed.exists()
    # said explicitly: the run continues with the new settings, and the changes are said
    argv = base + ["--epochs", "2", "--out", str(resumed), "--resume", str(ckpt), "--resume-with-changes"]
    assert main(argv) == 0
    assert f"convml_tt train: warning: resuming {ckpt} with changed settings: epochs 1 -> 2" in capsys.readouterr().err
    assert torch.load(resumed, weights_only=True)["config"]["epochs_trained"] == 2


def test_the_learner_folder_is_private_and_removed(toy_ds):
    import gc
    import stat
    import tempfile

    from convml_tt.architectures import make_learner

    learn = make_learner(toy_ds, batch_size=8, emb_dim=8, head="linear", progress=False, device="cpu")
    folder = Path(learn.path)
    assert folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith("convml_tt-learner-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    other = make_learner(toy_ds, batch_size=8, emb_dim=8, head="linear", progress=False, device="cpu")
    assert Path(other.path) != folder  # one per learner, never a shared fixed name
    del learn
    gc.collect()
    assert not folder.exists()
