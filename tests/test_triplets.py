"""Triplet sampling and the dataset writer: the folder format, determinism, resume, errors."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from convml_tt.data import composites as C
from convml_tt.data.dataset.format import TILE_TYPES, list_triplets, read_triplet_meta
from convml_tt.data.dataset.plot import plot_triplets
from convml_tt.data.dataset.writer import make_triplets
from convml_tt.data.sampling.triplets import TripletSampler, _geod, split_scenes
from convml_tt.data.synthetic import RegimeLabeler

from synthetic_fixtures import DOMAIN, SMALL, composited_root, files_of  # noqa: F401
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def root(composited_root):
    return composited_root




def test_dataset_folder_format_and_regimes(root, tmp_path):
    out = make_triplets(root, DOMAIN, tmp_path / "ds", n_train=4, n_study=2, seed=3,
                        distant="same_scene", distant_min_distance=1.5, progress=False,
                        labeler=RegimeLabeler(), **SMALL)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["status"] == "complete" and meta["params"]["tile_pixels"] == 32
    # 3 scenes on one date: one held out for study
    assert len(meta["scenes"]["train"]) == 2 and len(meta["scenes"]["study"]) == 1
    for stage, n in (("train", 4), ("study", 2)):
        assert list_triplets(out, stage) == list(range(n))
        for i in range(n):
            for kind in TILE_TYPES:
                with Image.open(out / stage / f"{i:05d}_{kind}.png") as im:
                    assert im.mode == "RGB" and im.size == (32, 32)
            m = read_triplet_meta(out, stage, i)
            assert m.tile_size_m == 40e3 and m.tile_pixels == 32
            g = _geod()
            d = g.inv(m.anchor.get("lon"), m.anchor.get("lat"), m.neighbor.get("lon"), m.neighbor.get("lat"))[2]
            assert d == pytest.approx(40e3, rel=1e-5)  # centres stored to 1e-6 degrees
            for kind in TILE_TYPES:
                e = m.tile(kind)
                assert DOMAIN[1] < e.get("lat") < DOMAIN[3] and DOMAIN[0] < e.get("lon") < DOMAIN[2]
                assert len(e.get("source_files")) == 3 and e.get("time").startswith("2020-01-02T1")
                assert isinstance(e.get("regime"), int) and 0 <= e.get("regime") <= 5 and e.get("regime_name")
            assert m.anchor.get("time") == m.neighbor.get("time") == m.distant.get("time")
    # the regime label is the label map's most common value over the tile,
    # and regime_fraction the share of the tile it covers
    from convml_tt.data.synthetic import load_regime_labels, regime_at
    from convml_tt.data.tiles import Tile

    mixed = 0
    for stage, n in (("train", 4), ("study", 2)):
        for i in range(n):
            m = read_triplet_meta(out, stage, i)
            for kind in TILE_TYPES:
                e = m.tile(kind)
                labels = load_regime_labels(next((root / "sources").rglob(e.get("source_files")[0])))
                lat, lon = Tile(e.get("lat"), e.get("lon"), 40e3, 32).pixel_latlon()
                counts = np.bincount(regime_at(labels, lat, lon).ravel(), minlength=6)
                assert counts.argmax() == e.get("regime")
                assert e.get("regime_fraction") == pytest.approx(counts.max() / counts.sum(), abs=0.05)
                mixed += e.get("regime_fraction") < 1
    assert mixed > 0, "no tile straddles two regimes: the check above is not exercised"
    m = read_triplet_meta(out, "train", 0)
    # the anchor PNG is the stretched bilinear resample of the composite
    from convml_tt.data.tiles import Tile, resample

    comp = C.load_composite(root / m.anchor.composite, load=True)
    img = resample(comp, Tile(m.anchor.get("lat"), m.anchor.get("lon"), 40e3, 32))
    with Image.open(out / "train" / "00000_anchor.png") as im:
        png = np.asarray(im)
    assert np.abs(png.astype(int) - C.to_uint8(img).astype(int)).max() <= 1
    fig = plot_triplets(out, "train", n=3, out=tmp_path / "overview.png")
    assert (tmp_path / "overview.png").stat().st_size > 1000 and fig is not None


def test_reflectance_tiles_keep_the_gamma_stretch_byte_for_byte(root, tmp_path):
    """True-colour tiles are the gamma stretch of before the per-dataset IR stretch (no record, no option)."""
    from convml_tt.config import TripletSettings
    from convml_tt.data.composites.enhance import display_stretch

    out = make_triplets(root, DOMAIN, tmp_path / "tc", n_train=2, seed=5, distant="same_scene",
                        distant_min_distance=1.5, progress=False, **SMALL)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert "stretch" not in meta["params"]
    assert meta["channels"] == [{"name": n, "units": "1", "stretch": display_stretch("1", 2.2)}
                                for n in ("red", "green", "blue")]
    scenes = {s: [str(root / p) for p in meta["scenes"][s]] for s in meta["scenes"]}
    for i in range(2):
        for kind, d in TripletSampler(TripletSettings(**meta["params"]), scenes).sample("train", i).items():
            with Image.open(out / "train" / f"{i:05d}_{kind}.png") as im:
                # the formula of before, byte for byte: round(255 * clip(r, 0, 1) ** (1 / 2.2))
                np.testing.assert_array_equal(np.asarray(im), C.to_uint8(d.image, 2.2))


def test_other_scene_distant_and_determinism_across_workers(root, tmp_path):
    kw = dict(n_train=6, n_study=0, seed=11, progress=False, **SMALL)
    a = make_triplets(root, DOMAIN, tmp_path / "w1", workers=1, **kw)
    b = make_triplets(root, DOMAIN, tmp_path / "w2", workers=2, **kw)
    fa, fb = files_of(a), files_of(b)
    assert fa.keys() == fb.keys() and len(fa) == 6 * 4 + 1
    assert all(fa[k] == fb[k] for k in fa)
    m = read_triplet_meta(a, "train", 0)
    assert m.distant.get("time") != m.anchor.get("time")
    c = make_triplets(root, DOMAIN, tmp_path / "w3", workers=1, **{**kw, "seed": 12})
    assert files_of(c)["train/00000_anchor.png"] != fa["train/00000_anchor.png"]


def test_resume_after_interrupted_run(root, tmp_path):
    kw = dict(n_train=6, n_study=0, seed=5, progress=False, **SMALL)
    ref = files_of(make_triplets(root, DOMAIN, tmp_path / "ref", **kw))
    out = tmp_path / "ds"
    # a run killed part-way: started in a subprocess, killed once a few triplets exist
    code = (
        "import sys; from convml_tt.data.dataset import make_triplets;"
        f"make_triplets({str(root)!r}, {DOMAIN!r}, {str(out)!r}, n_train=400, n_study=0, seed=5,"
        " progress=False, tile_size_m=40e3, tile_pixels=32)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        import time

        deadline = time.time() + 60
        while time.time() < deadline and len(list(out.glob("train/*_meta.yaml"))) < 3:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert len(list(out.glob("train/*_meta.yaml"))) >= 3
    # the killed run had other parameters (n_train=400): refuse to mix
    with pytest.raises(ValueError, match="other parameters.*start fresh"):
        make_triplets(root, DOMAIN, out, **kw)
    shutil.rmtree(out)
    make_triplets(root, DOMAIN, out, **kw)
    # simulate a kill in the middle of triplets 2 and 4: truncated PNG, no meta, stray temp file
    (out / "train" / "00002_meta.yaml").unlink()
    (out / "train" / "00002_distant.png").unlink()
    (out / "train" / "00004_meta.yaml").unlink()
    p = out / "train" / "00004_anchor.png"
    p.write_bytes(p.read_bytes()[:50])
    (out / "train" / ".00005_anchor.png.abc.tmp").write_bytes(b"junk")
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    (out / "meta.yaml").write_text(yaml.safe_dump({**meta, "status": "incomplete"}))
    make_triplets(root, DOMAIN, out, **kw)
    assert files_of(out) == ref


def test_bad_input(root, tmp_path, synthetic_scenes):
    with pytest.raises(ValueError, match="larger than the domain"):
        make_triplets(root, DOMAIN, tmp_path / "a", n_train=2, tile_size_m=200e3, progress=False)
    with pytest.raises(ValueError, match="min >= max"):
        make_triplets(root, (-49, 14, -50, 15), tmp_path / "a", n_train=2, progress=False)
    # the study split has one scene: distant tiles from another scene are impossible
    with pytest.raises(ValueError, match="study split has 1 scene.*same_scene"):
        make_triplets(root, DOMAIN, tmp_path / "b", n_train=2, n_study=2, progress=False, **SMALL)
    # unwritable output folder (a file where the folder should be)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="writable"):
        make_triplets(root, DOMAIN, blocker / "ds", n_train=2, progress=False, **SMALL)
    # an old-style folder with PNGs but no meta.yaml
    old = tmp_path / "old" / "train"
    old.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(old / "00000_anchor.png")
    with pytest.raises(ValueError, match="refusing to mix"):
        make_triplets(root, DOMAIN, tmp_path / "old", n_train=2, progress=False, **SMALL)
    # a domain whose tiles keep touching masked pixels: bounded tries, clear error
    comps = sorted((root / "composites").rglob("*.nc"))
    with pytest.raises(RuntimeError, match="no valid triplet"):
        make_triplets(root, DOMAIN, tmp_path / "c", n_train=1, progress=False, composites=comps,
                        max_tries=3, neighbor_distance=30.0, **SMALL)


def test_mixed_satellites_in_one_split(root, tmp_path):
    from convml_tt.data.synthetic import write_synthetic_scenes

    r = tmp_path / "mixed"
    write_synthetic_scenes(r, dt.datetime(2020, 1, 3, 14), count=2, interval=dt.timedelta(hours=1),
                           satellite=19, center=(15.0, -50.0), size_km=300.0, progress=False)
    comps = [*sorted((root / "composites").rglob("*.nc"))]
    comps += C.make_composites(r, DOMAIN, progress=False)
    with pytest.raises(ValueError, match=r"several satellites: GOES-16 \(\d+ scenes\), GOES-19 \(2 scenes\)"):
        make_triplets(root, DOMAIN, tmp_path / "m", n_train=2, composites=comps, progress=False, **SMALL)


def test_split_rules():
    d = dt.datetime
    one_per_date = [d(2020, 1, k, 14) for k in range(1, 9)]
    s = split_scenes(one_per_date, seed=0)
    assert len(s["study"]) == 2 and sorted(s["train"] + s["study"]) == list(range(8))
    assert split_scenes(one_per_date, seed=0) == s
    two_per_date = [d(2020, 1, k, h) for k in (1, 2) for h in (13, 15)]
    s = split_scenes(two_per_date, seed=1)
    assert len(s["study"]) == 2 and {two_per_date[i].day for i in s["study"]} == {1, 2}
    assert split_scenes([d(2020, 1, 1)], seed=0) == {"train": [0], "study": []}


def test_cli_composite_and_triplets(root, tmp_path, capsys):
    from convml_tt.cli import main

    assert main(["composite", "--data-root", str(root), "--domain", *map(str, DOMAIN), "--quiet"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    rc = main(["triplets", "--data-root", str(root), "--domain", *map(str, DOMAIN), "--tile-size-m", "40e3",
               "--tile-pixels", "32", "--n-train", "2", "--out", str(tmp_path / "ds"), "--seed", "1",
               "--quiet", "--plot", str(tmp_path / "p.png")])
    assert rc == 0 and list_triplets(tmp_path / "ds") == [0, 1] and (tmp_path / "p.png").exists()
    rc = main(["triplets", "--data-root", str(root), "--domain", *map(str, DOMAIN), "--tile-size-m", "40e3",
               "--tile-pixels", "32", "--n-train", "3", "--out", str(tmp_path / "ds"), "--quiet"])
    assert rc == 1 and "start fresh" in capsys.readouterr().err


def test_training_gen_example_synthetic(tmp_path):
    script = REPO / "training_gen_examples" / "goes16_training_and_study.py"
    r = subprocess.run(
        [sys.executable, str(script), "--synthetic", "--data-root", str(tmp_path / "data"),
         "--out", str(tmp_path / "ds"), "--n-train", "3", "--n-study", "2", "--tile-size-m", "60e3",
         "--tile-pixels", "32", "--synthetic-days", "2", "--synthetic-size-km", "300", "--quiet"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    assert list_triplets(tmp_path / "ds", "train") == [0, 1, 2]
    assert list_triplets(tmp_path / "ds", "study") == [0, 1]
    assert (tmp_path / "ds" / "triplets_overview.png").exists()


class _CentreLatitudeBand:
    """A labeler that is not the synthetic one: which latitude band a tile's centre is in."""

    def __init__(self, edge: float) -> None:
        self.edge = edge

    def label(self, tile, source_paths):
        return {"north_of_edge": bool(tile.lat0 > self.edge), "band_edge": self.edge}


def test_any_labeler_is_stored_with_each_tile(root, tmp_path):
    from convml_tt.data.labels import ChainLabeler

    edge = 15.0
    labeler = ChainLabeler(RegimeLabeler(), _CentreLatitudeBand(edge))
    out = make_triplets(root, DOMAIN, tmp_path / "lab", n_train=3, seed=2, workers=2, progress=False,
                        labeler=labeler, **SMALL)
    plain = make_triplets(root, DOMAIN, tmp_path / "plain", n_train=3, seed=2, progress=False, **SMALL)
    for i in range(3):
        m, p = read_triplet_meta(out, "train", i), read_triplet_meta(plain, "train", i)
        for kind in TILE_TYPES:
            e = m.tile(kind)
            assert e.labels["north_of_edge"] == (e.lat > edge) and e.labels["band_edge"] == edge
            assert list(e.labels)[:3] == ["regime", "regime_name", "regime_fraction"]
            # the same tiles with and without labels: labelers do not touch sampling
            assert (e.lat, e.lon, e.time) == (p.tile(kind).lat, p.tile(kind).lon, p.tile(kind).time)
            assert p.tile(kind).labels == {}


class _Clashing:
    def label(self, tile, source_paths):
        return {"lat": 0.0}


def test_bad_labelers_are_refused(root, tmp_path):
    with pytest.raises(TypeError, match="no label\\(tile, source_paths\\) method"):
        make_triplets(root, DOMAIN, tmp_path / "a", n_train=1, progress=False, labeler=object(), **SMALL)
    with pytest.raises(ValueError, match="returned the key 'lat'"):
        make_triplets(root, DOMAIN, tmp_path / "b", n_train=1, progress=False, labeler=_Clashing(), **SMALL)


class _SwappedSampler(TripletSampler):
    """Another sampler: the default triplets with anchor and neighbour swapped."""

    def sample(self, stage, index):
        drawn = super().sample(stage, index)
        drawn["anchor"], drawn["neighbor"] = drawn["neighbor"], drawn["anchor"]
        return drawn


def test_make_triplets_takes_any_triplet_sampler(root, tmp_path):
    from convml_tt.data.sampling.base import Sampler

    kw = dict(n_train=3, seed=4, progress=False, **SMALL)
    plain = make_triplets(root, DOMAIN, tmp_path / "plain", **kw)
    swapped = make_triplets(root, DOMAIN, tmp_path / "swapped", sampler=_SwappedSampler, workers=2, **kw)
    for i in range(3):
        a, b = read_triplet_meta(plain, "train", i), read_triplet_meta(swapped, "train", i)
        assert (b.anchor.lat, b.anchor.lon) == (a.neighbor.lat, a.neighbor.lon)
        assert (b.neighbor.lat, b.neighbor.lon) == (a.anchor.lat, a.anchor.lon)
        assert (b.distant.lat, b.distant.lon) == (a.distant.lat, a.distant.lon)
        assert (swapped / "train" / f"{i:05d}_anchor.png").read_bytes() == (
            plain / "train" / f"{i:05d}_neighbor.png").read_bytes()

    class OneTile(Sampler):
        tile_types = ("tile",)

        def sample(self, stage, index):
            raise AssertionError("not called")

    with pytest.raises(ValueError, match="needs a sampler of \\('anchor', 'neighbor', 'distant'\\)"):
        make_triplets(root, DOMAIN, tmp_path / "one", sampler=OneTile, **kw)
