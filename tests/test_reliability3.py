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
TILES = ["--tile-size-m", "40e3", "--tile-pixels", "32"]


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
@pytest.mark.parametrize("command", ["triplets", "map"])
def test_ctrl_c_is_one_line_and_exit_130(command, composited_root, tmp_path):
    out = tmp_path / ("ds" if command == "triplets" else "m.nc")
    argv = {"triplets": ["triplets", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
                         "--n-train", "100000", "--out", str(out), "--quiet"],
            "map": ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
                    "--stride", "1e3", "--out", str(out), "--quiet", "--labels", "none", "--force"]}[command]
    started = {"triplets": lambda: len(list(out.glob("train/*_meta.yaml"))) >= 3,
               "map": lambda: (tmp_path / ".m.nc.parts").is_dir()}[command]
    p = subprocess.Popen([sys.executable, "-m", "convml_tt", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not started():
            time.sleep(0.05)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert err.strip() == (f"convml_tt {command}: interrupted (Ctrl-C); complete outputs are kept: run the same "
                           f"command again to resume"), err
    assert not list(tmp_path.rglob("*.tmp"))


# --- a dataset resumed with other components; a failed start restarted -------------------------
from convml_tt.data.sampling.triplets import TripletSampler  # noqa: E402


class OtherSampler(TripletSampler):
    """Another sampler (same draws: only its name differs, which is what a resume must notice)."""


def test_a_dataset_records_its_components_and_refuses_others_on_resume(composited_root, tmp_path):
    from convml_tt.data.dataset import make_triplets
    from convml_tt.data.synthetic import RegimeLabeler

    out = tmp_path / "ds"
    kw = dict(domain=DOMAIN, out=out, n_train=2, progress=False, distant="same_scene",
              tile_size_m=20e3, tile_pixels=16)
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
    base = ["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size-m", "20e3",
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
    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size-m", "40e3",
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
    base = ["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--tile-size-m", "40e3",
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


# --- messages that name the real cause ------------------------------------------------------------
@pytest.fixture(scope="module")
def c13_root(tmp_path_factory):
    """Two hourly synthetic scenes of band 13 (brightness temperature, K), composited as C13 over DOMAIN."""
    from convml_tt.data.composites import make_composites
    from convml_tt.data.synthetic import write_synthetic_scenes
    from synthetic_fixtures import SYNTHETIC_KWARGS, SYNTHETIC_START

    root = tmp_path_factory.mktemp("c13_root")
    write_synthetic_scenes(root, SYNTHETIC_START, progress=False, **{**SYNTHETIC_KWARGS, "count": 2, "bands": (13,)})
    make_composites(root, DOMAIN, kind="C13", progress=False)
    return root


def test_a_map_beyond_the_sun_limit_is_not_told_the_domain_is_outside(composited_root, c13_root, tmp_path,
                                                                    capsys):
    base = ["map", "tile_statistics", "--domain", *DOM, *TILES, "--out", str(tmp_path / "m.nc"), "--quiet",
            "--labels", "none"]
    # true colour of afternoon scenes whose sun is 38 degrees or more from the zenith: --max-sza 20
    assert main(base + ["--data-root", str(composited_root), "--max-sza", "20"]) == 1
    err = _err(capsys)
    assert ("no cell of the 6 x 7 grid over the domain (-50.8, 14.3, -49.3, 15.7) is valid in any of the 3 "
            "composites: the sun is beyond --max-sza 20 degrees at every cell's centre in every scene (night or "
            "low sun; the smallest solar zenith angle is 37.9 degrees, at 2020-01-02T15:00:00); use daytime scenes, "
            "an infrared recipe (--recipe C13) or a larger --max-sza") in err, err
    assert "outside" not in err
    # an infrared recipe is not told to use one: it needs no sun at all
    assert main(base + ["--data-root", str(c13_root), "--recipe", "C13", "--max-sza", "10"]) == 1
    err = _err(capsys)
    assert err.endswith("the C13 recipe (infrared) needs no sunlight: leave out --max-sza (or give a larger one)"), err
    assert not (tmp_path / "m.nc").exists() and not (tmp_path / ".m.nc.parts").exists()


def test_triplets_of_an_infrared_recipe_beyond_max_sza_are_not_told_to_use_one(c13_root, tmp_path, capsys):
    argv = ["triplets", "--data-root", str(c13_root), "--domain", *DOM, "--recipe", "C13", "--max-sza", "10",
            "--n-train", "2", "--out", str(tmp_path / "ds"), "--tile-size-m", "20e3", "--tile-pixels", "16",
            "--quiet", "--distant", "same_scene"]
    assert main(argv) == 1
    err = _err(capsys)
    assert "exceeds --max-sza 10 degrees in all" in err and "use an infrared recipe" not in err
    assert err.endswith("the C13 recipe (infrared) needs no sunlight: leave out --max-sza (or give a larger one)")


def test_repeated_bands_are_said_to_be_repeated(composited_root, tmp_path, capsys):
    for bands, words in ((["13", "13", "13"], "band list C13+C13+C13 names band 13 more than once"),
                         (["13", "14", "13"], "band list C13+C14+C13 names band 13 more than once"),
                         (["13,13"], "names band 13 more than once")):
        assert main(["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--n-train", "1",
                     "--out", str(tmp_path / "ds"), "--bands", *bands]) == 1
        err = _err(capsys)
        assert words in err and "not a recipe" not in err, err
    assert main(["composite", "--data-root", str(composited_root), "--domain", *DOM, "--recipe", "C07+C07"]) == 1
    assert "names band 7 more than once: give each band once" in _err(capsys)


def test_files_given_as_a_model_are_named_for_what_they_are(composited_root, tmp_path, capsys):
    comp = next((composited_root / "composites").rglob("*.nc"))
    import numpy as np

    noise = np.random.default_rng(3).integers(0, 256, 256, dtype=np.uint8).tobytes()
    assert not noise.startswith((b"PK", b"\x80"))
    cases = {"random.pt": (noise, "neither a zip archive nor a pickle, as torch files are (it starts with bytes "
                                  + noise[:8].hex(" ") + ")"),
             "composite.pt": (comp.read_bytes(), "a netCDF-4/HDF5 file (embeddings, a map or a composite?)"),
             "classic.nc": (b"CDF\x01" + b"\0" * 60, "a netCDF file (embeddings, a map or a composite?)"),
             "tile.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a PNG image"),
             "empty.pt": (b"", "an empty file"),
             "notes.pt": (b'{"weights": [1, 2]}', "a JSON text file"),
             "garbled.pt": (b"\x80\x04" + bytes(range(60)), "it is damaged or not a torch file (its pickled data "
                                                             "does not load)")}
    for name, (content, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert main(["map", str(tmp_path / name), "--data-root", str(composited_root), "--domain", *DOM,
                     "--out", str(tmp_path / "m.nc"), "--quiet"]) == 1
        err = _err(capsys)
        assert f"model file {str(tmp_path / name)!r} is not a convml_tt model file: " in err and words in err, err
        assert "pickled Python objects" not in err


def test_options_that_do_not_apply_are_refused(composited_root, c13_root, tmp_path, capsys):
    # --sunz on an infrared band: nothing to divide by the cosine of the solar zenith angle
    assert main(["composite", "--data-root", str(c13_root), "--domain", *DOM, "--recipe", "C13", "--sunz", "on"]) == 1
    assert ("sunz=True (--sunz on) divides reflectances by the cosine of the solar zenith angle, but the recipe "
            "'C13' has no reflective band (bands 13: brightness temperatures in K)") in _err(capsys)
    # --tolerance without --near-local-noon
    assert main(["fetch", "--data-root", str(composited_root), "--offline", "--start", "2020-01-02T14:00",
                 "--end", "2020-01-02T16:00", "--tolerance", "10", "--sector", "M1"]) == 1
    assert ("--tolerance 10 (minutes from local noon) applies only with --near-local-noon LON" in _err(capsys))
    # --fields with an empty name
    for fields in (",", "C13,", ",,", " "):
        assert main(["triplets", "--data-root", str(composited_root), "--domain", *DOM, "--n-train", "1",
                     "--out", str(tmp_path / "ds"), "--fields", fields]) == 1
        assert f"fields: {fields!r} has an empty name" in _err(capsys)
    assert not (tmp_path / "ds").exists()


def test_more_principal_components_than_the_tiles_have_are_refused(tmp_path, capsys):
    import numpy as np
    import xarray as xr

    from convml_tt.interpretation.embeddings import save_embeddings
    from convml_tt.interpretation.physical import pc_correlations

    rng = np.random.default_rng(0)
    da = xr.DataArray(rng.normal(size=(6, 8)).astype(np.float32), dims=("tile_id", "emb_dim"),
                      coords={"tile_id": np.arange(6), "cloud_fraction": ("tile_id", rng.random(6)),
                              "iorg": ("tile_id", rng.random(6))}, name="embedding")
    save_embeddings(da, tmp_path / "emb.nc")
    assert main(["plot", "pc-correlations", str(tmp_path / "emb.nc"), "--n-components", "1000",
                 "--out", str(tmp_path / "pc.png")]) == 1
    assert ("n_components=1000 (--n-components) is more than the 5 principal components that 6 tiles of "
            "8-dimensional embeddings have (min(emb_dim, tiles - 1)); use 1 <= n_components <= 5") in _err(capsys)
    assert not (tmp_path / "pc.png").exists()
    assert pc_correlations(da).sizes["component"] == 5 and pc_correlations(da, 5).sizes["component"] == 5
    assert main(["plot", "pc-correlations", str(tmp_path / "emb.nc"), "--out", str(tmp_path / "pc.png")]) == 0


def test_brightness_temperatures_in_celsius_are_refused(c13_root, tmp_path, capsys):
    import shutil

    import netCDF4
    import numpy as np

    from convml_tt.data.organisation import tile_indices

    root = tmp_path / "root"
    shutil.copytree(c13_root, root)
    for p in root.rglob("C13_1km/*.nc"):  # the same composites, their values in degrees Celsius
        with netCDF4.Dataset(p, "a") as nc:
            v = nc[nc.getncattr("composite_variable")]
            v[:] = v[:] - 273.15
    argv = ["--data-root", str(root), "--domain", *DOM, "--recipe", "C13", "--quiet"]
    assert main(["triplets", *argv, "--n-train", "2", "--out", str(tmp_path / "ds"), "--tile-size-m", "20e3",
                 "--tile-pixels", "16", "--distant", "same_scene"]) == 1
    err = _err(capsys)
    assert re.search(r"composite '.*C13_1km/RadM1_20200102T1[45]0000\.nc' holds values -?[\d.]+ to [\d.]+, outside "
                     r"150-350 K, the range of a brightness temperature, although its units say K \(degrees "
                     r"Celsius\?\); give brightness temperatures in kelvin", err), err
    assert main(["map", "tile_statistics", *argv, *TILES, "--out", str(tmp_path / "m.nc"), "--labels", "none"]) == 1
    assert "outside 150-350 K" in _err(capsys)
    assert not list((tmp_path / "ds").glob("*/*.png")) and not (tmp_path / "m.nc").exists()
    assert not (tmp_path / ".m.nc.parts").exists()  # no empty parts folder is left by a failed map
    # the library: a tile's values for the organisation indices
    with pytest.raises(ValueError, match=r"the C13 cloud-mask plane holds values -10 to 25, outside 150-350 K"):
        tile_indices(np.linspace(-10, 25, 256).reshape(16, 16), "C13", 1000.0)
    assert tile_indices(np.linspace(200, 300, 256).reshape(16, 16), "C13", 1000.0)["cloud_fraction"] > 0


# --- a full disk: one line naming the path, nothing half-written ----------------------------------
def _limited(limit: int):
    """A subprocess set-up: a file size limit of ``limit`` bytes (RLIMIT_FSIZE), writes beyond it
    failing with EFBIG (SIGXFSZ ignored) as writes to a full disk fail with ENOSPC."""
    import resource

    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return setup


def test_composite_and_map_beyond_the_file_size_limit_say_so(composited_root, synthetic_scenes, synthetic_data_root,
                                                             tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(synthetic_data_root / "sources", root / "sources")
    r = _cli("composite", "--data-root", str(root), "--domain", *DOM, "--quiet", preexec_fn=_limited(200_000))
    line = _one_line(r, "composite")
    assert re.fullmatch(r"cannot write .*/truecolor_1km/RadM1_20200102T140000\.nc: the file would exceed this "
                        r"process's file size limit of 200000 bytes \(ulimit -f\); raise the limit or ask for a "
                        r"smaller output \(nothing was left half-written\)", line), line
    assert "HDF error" not in r.stderr
    assert not [p for p in (root / "composites").rglob("*") if p.is_file()]  # no partial composite, no temp file
    out = tmp_path / "m.nc"
    r = _cli("map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
             "--out", str(out), "--quiet", "--labels", "none", preexec_fn=_limited(40_000))  # a part ~24 kB, the map ~60
    assert _one_line(r, "map") == (f"cannot write {out}: the file would exceed this process's file size limit of "
                                   f"40000 bytes (ulimit -f); raise the limit or ask for a smaller output (nothing "
                                   f"was left half-written)")
    assert not out.exists() and not list(tmp_path.glob(".m.nc.*.tmp"))
    # the scenes done are kept for the next run, which completes the map
    assert len(list((tmp_path / ".m.nc.parts").glob("*.nc"))) == 3
    r = _cli("map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
             "--out", str(out), "--quiet", "--labels", "none")
    assert r.returncode == 0 and out.exists() and not (tmp_path / ".m.nc.parts").exists(), r.stderr


@pytest.fixture()
def full_disk(tmp_path):
    """A 2 MiB tmpfs mounted at ``tmp_path / "small"`` and filled to its last 64 KiB (needs the
    right to mount; skipped otherwise)."""
    small = tmp_path / "small"
    small.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}); the file size limit test covers it")
    try:
        (small / "filler").write_bytes(b"\0" * (2 * 2**20 - 64 * 1024))
        yield small
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_composite_on_a_full_disk_says_the_disk_is_full(synthetic_scenes, synthetic_data_root, tmp_path, full_disk):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(synthetic_data_root / "sources", root / "sources")
    (root / "composites").symlink_to(full_disk)
    err = _one_line(_cli("composite", "--data-root", str(root), "--domain", *DOM, "--quiet"), "composite")
    assert re.search(r"cannot write .*RadM1_20200102T140000\.nc: the disk holding .*truecolor_1km is full "
                     r"\(0\.\d MiB free\); free some space or choose another output folder \(nothing was left "
                     r"half-written\)", err), err
    assert sorted(p.name for p in full_disk.rglob("*") if p.is_file()) == ["filler"]


def test_a_map_on_a_full_disk_says_the_disk_is_full(composited_root, full_disk):
    out = full_disk / "m.nc"
    argv = ["map", "tile_statistics", "--data-root", str(composited_root), "--domain", *DOM, *TILES,
            "--stride", "4e3", "--out", str(out), "--quiet", "--labels", "none"]
    # sized first: more than the free space asks for --force
    assert re.search(r"about \d+ KiB on disk, above the \d+ KiB free at ", _one_line(_cli(*argv), "map"))
    line = _one_line(_cli(*argv, "--force"), "map")
    assert re.fullmatch(rf"cannot write {re.escape(str(full_disk))}/\.m\.nc\.parts/[0-9a-f]+\.nc: the disk holding "
                        rf"{re.escape(str(full_disk))}/\.m\.nc\.parts is full \(0\.\d+ MiB free\); free some space or "
                        rf"choose another output folder \(nothing was left half-written\)", line), line
    assert not out.exists() and not list(full_disk.rglob("*.tmp"))
