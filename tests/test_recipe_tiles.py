"""IR and multi-channel tiles: ``triplets --recipe`` / ``--bands`` on the real GOES-17 scans.

The real mesoscale scans of the shared goes_real data (a daytime scan of
2019-10-27 20:00 UTC with C01, C03-C16; a night scan of 2019-12-01 10:27
with C01-C03 and C13) are staged as a source cache; tiles of the C13
brightness temperature (1 channel, PNG L), of band lists (C13+C14+C15: RGB;
C01+C13: LA, reflectance and K side by side) are written, their bytes
checked against the recorded stretch, and a tiny model is trained, embeds
and maps on 1-channel tiles.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from convml_tt.cli import main
from convml_tt.config import TripletSettings
from convml_tt.data.composites import make_composite, make_composites
from convml_tt.data.composites.enhance import display_stretch, from_display, to_display
from convml_tt.data.composites.recipes import band_list_recipe, channel_units, get_recipe, list_recipes
from convml_tt.data.composites.reader import close_composites
from convml_tt.data.dataset import make_triplets
from convml_tt.data.dataset.format import read_dataset_meta, read_triplet_meta, tile_name
from convml_tt.data.dataset.png import png_bytes
from convml_tt.data.sampling.triplets import TripletSampler

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY, NIGHT = "s20193002000275", "s20193351027275"
#: inside both GOES-17 M1 sectors: stratocumulus and smoke by day, cold cloud at night (2 km: 152 x 183 px)
DOMAIN = (-125.5, 33.0, -122.0, 36.5)
#: small tiles: 64 km of 2 km composite pixels, 32 px
SMALL = dict(tile_size_m=64e3, tile_pixels=32, resolution_km=2.0, distant="same_scene", distant_min_distance=1.5)

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real GOES files not available")


def _stage(root: Path, scans: tuple[str, ...], bands: str = "*") -> Path:
    """A source cache ``{root}/sources/goes17`` of links to the real L1b files of ``scans``."""
    src = root / "sources" / "goes17"
    src.mkdir(parents=True)
    for scan in scans:
        for p in sorted(REAL.glob(f"OR_ABI-L1b-RadM1-M6C{bands}_G17_{scan}_*.nc")):
            (src / p.name).symlink_to(p)
    return root


@pytest.fixture(scope="module")
def real_root(tmp_path_factory) -> Path:
    """Both real scans (every band of each)."""
    return _stage(tmp_path_factory.mktemp("real") / "root", (DAY, NIGHT))


@pytest.fixture(scope="module")
def day_root(tmp_path_factory) -> Path:
    """The daytime scan only (C01, C03-C16: no C02)."""
    return _stage(tmp_path_factory.mktemp("day") / "root", (DAY,))


@pytest.fixture(scope="module")
def c13_ds(real_root) -> Path:
    """C13 tiles of both scans: train from the day scan, study from the night scan (split by date)."""
    out = make_triplets(real_root, DOMAIN, real_root.parent / "c13", n_train=16, n_study=4, recipe="c13",
                        progress=False, **SMALL)
    close_composites()
    return out


def _redraw(ds: Path, stage: str, idx: int) -> dict:
    """The triplet ``idx`` drawn again from the dataset's own settings and composites: ``{kind: DrawnTile}``."""
    meta = read_dataset_meta(ds)
    root = Path(meta["data_root"])
    settings = TripletSettings(**meta["params"])
    scenes = {s: [str((root / p).resolve()) for p in meta["scenes"][s]] for s in meta["scenes"]}
    try:
        return TripletSampler(settings, scenes).sample(stage, idx)
    finally:
        close_composites()


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    got = capsys.readouterr()
    return rc, got.out, got.err


# --- the stretch --------------------------------------------------------------------------
def test_per_channel_stretch_and_its_inverse():
    bt = np.array([190.0, 200.0, 260.0, 320.0, 330.0, np.nan], np.float32)
    r = np.array([-0.1, 0.0, 0.25, 1.0, 1.5, np.nan], np.float32)
    assert list(to_display(bt, "K")) == [255, 255, 128, 0, 0, 0]
    mixed = to_display(np.stack([r, bt], -1), ("1", "K"), 2.2)
    np.testing.assert_array_equal(mixed[:, 0], to_display(r, "1", 2.2))
    np.testing.assert_array_equal(mixed[:, 1], to_display(bt, "K"))
    # (N, C, n) batches: channels on axis 1, the same bytes
    batch = np.stack([r, bt])[None]
    np.testing.assert_array_equal(to_display(batch, ["1", "K"], 2.2, channel_axis=1)[0], mixed.T)
    # the same units for every channel: the one-units path
    np.testing.assert_array_equal(to_display(np.stack([bt, bt], -1), ("K", "K")), to_display(np.stack([bt, bt], -1), "K"))
    for units, gamma in (("1", 2.2), ("1", 1.0), ("K", 2.2)):
        s = display_stretch(units, gamma)
        b = np.arange(256, dtype=np.uint8)
        np.testing.assert_array_equal(to_display(from_display(b, s), units, gamma), b)
    assert display_stretch("K")["kind"] == "linear" and display_stretch("K")["black"] == 320.0
    assert display_stretch("1", 2.2) | {"formula": ""} == {"kind": "gamma", "units": "1", "black": 0.0, "white": 1.0,
                                                            "gamma": 2.2, "formula": ""}
    with pytest.raises(ValueError, match="3 channels but the image of shape"):
        to_display(np.stack([r, bt], -1), ("1", "K", "K"))
    with pytest.raises(ValueError, match="pass one units string per channel"):
        to_display(bt, "mixed")
    with pytest.raises(ValueError, match="kind must be 'linear' or 'gamma'"):
        from_display(np.zeros(3, np.uint8), {"kind": "log"})


def test_png_tiles_of_one_to_four_channels():
    rng = np.random.default_rng(0)
    for c, mode in ((1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")):
        a = rng.integers(0, 256, (6, 5, c), dtype=np.uint8)
        with Image.open(io.BytesIO(png_bytes(a))) as im:
            assert im.mode == mode and np.array_equal(np.asarray(im).reshape(6, 5, c), a)
    with pytest.raises(ValueError, match="C = 1, 2, 3 or 4 channels"):
        png_bytes(np.zeros((4, 4, 5), np.uint8))


def test_band_list_recipes():
    r = get_recipe("13,14,15")
    assert r is get_recipe("C13+C14+C15") is get_recipe("c13, C14 ,15") is band_list_recipe([13, 14, 15])
    assert r.name == "C13+C14+C15" and r.bands == (13, 14, 15) and r.channels == ("C13", "C14", "C15")
    assert r.units == "K" and r.variable == "C13_C14_C15" and channel_units(r) == ("K", "K", "K")
    m = get_recipe("C01+C13")
    assert m.units == "mixed" and channel_units(m) == ("1", "K") and m.bands == (1, 13)
    assert get_recipe("C13,") is get_recipe("C13") and channel_units("truecolor") == ("1", "1", "1")
    # built on demand, not registered: the registry lists what it did
    assert "C13+C14+C15" not in [x.name for x in list_recipes()]
    with pytest.raises(ValueError, match=r"band list C13\+C13 names band 13 more than once"):
        get_recipe("C13+C13")
    with pytest.raises(ValueError, match="distinct ABI band numbers 1-16"):
        get_recipe("13,17")
    # settings store the canonical name; five channels do not fit a PNG
    d = dict(domain=DOMAIN)
    assert TripletSettings(recipe="13", **d).recipe == "C13"
    assert TripletSettings(recipe="rgb", **d).recipe == "truecolor"
    assert TripletSettings(recipe="13,14,15", **d).to_yaml_dict()["recipe"] == "C13+C14+C15"
    assert "recipe" not in TripletSettings(recipe="truecolour", **d).to_yaml_dict()
    with pytest.raises(ValueError, match=r"recipe='ir' is not a recipe of the registry: use one of truecolor, C01"):
        TripletSettings(recipe="ir", **d)
    with pytest.raises(ValueError, match=r"5 channels but a PNG tile holds at most 4 \(L, LA, RGB, RGBA\)"):
        TripletSettings(recipe="C01+C03+C04+C05+C13", **d)


# --- tiles of the real scans ----------------------------------------------------------------
def test_c13_tiles_are_grey_with_the_recorded_stretch(c13_ds):
    meta = read_dataset_meta(c13_ds)
    assert meta["params"]["recipe"] == "C13" and meta["status"] == "complete"
    assert all("/C13_2km/" in p for s in ("train", "study") for p in meta["scenes"][s])
    (ch,) = meta["channels"]
    st = ch["stretch"]
    assert ch["name"] == "C13" and ch["units"] == "K" and (st["kind"], st["chosen"]) == ("linear", "dataset")
    # the range is the 1st-99th percentiles of all the dataset's composites' valid pixels (read here in full;
    # the writer reads a subsample and rounds outwards to 0.1 K)
    root = Path(meta["data_root"])
    bt = np.concatenate([_values(root / p) for s in ("train", "study") for p in meta["scenes"][s]])
    p1, p99 = np.percentile(bt[np.isfinite(bt)], [1, 99])
    assert st["white"] == pytest.approx(p1, abs=0.5) and st["black"] == pytest.approx(p99, abs=0.5)
    assert st["percentiles"] == [1.0, 99.0] and st["scenes"] == 2 and st["pixels"] > 10_000
    # the meta.yaml is plain YAML: the stretch reads back as written
    assert yaml.safe_load((c13_ds / "meta.yaml").read_text())["channels"][0]["stretch"]["white"] == st["white"]
    lo, hi = [], []
    for stage, idx in (("train", 0), ("train", 7), ("study", 2)):
        drawn = _redraw(c13_ds, stage, idx)
        tm = read_triplet_meta(c13_ds, stage, idx)
        for kind, d in drawn.items():
            with Image.open(c13_ds / stage / tile_name(idx, kind)) as im:
                assert im.mode == "L"
                png = np.asarray(im)
            assert png.shape == (32, 32) and d.image.shape == (32, 32, 1)
            assert round(d.tile.lat0, 6) == tm.tile(kind).lat
            # the bytes are the recorded stretch of the tile's brightness temperatures ...
            np.testing.assert_array_equal(png, to_display(d.image[:, :, 0], "K", stretches=[st]))
            # ... and invert to them within half a step, inside the recorded range
            bt = from_display(png, st)
            step = (st["black"] - st["white"]) / 255
            np.testing.assert_allclose(bt, np.clip(d.image[:, :, 0], st["white"], st["black"]), atol=step / 2 + 1e-3)
            lo.append(bt.min())
            hi.append(bt.max())
    # real IR: warm sea surface by day, cold cloud tops at night
    assert max(hi) > 280.0 and min(lo) < 250.0


def _values(path: Path) -> np.ndarray:
    """Every value of a one-plane composite file, float32 (NaN: no data)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        return np.asarray(nc[nc.getncattr("composite_variable")][:], np.float32).ravel()


def test_ir_band_list_gives_rgb_tiles_from_the_cli(day_root, capsys):
    out = day_root.parent / "ir3"
    rc, stdout, err = _cli(capsys, "triplets", "--data-root", day_root, "--domain", *DOMAIN, "--bands", "13", "14,15",
                           "--n-train", 3, "--out", out, "--tile-size-m", 64e3, "--tile-pixels", 32,
                           "--resolution-km", 2, "--distant", "same_scene", "--labels", "none", "--quiet")
    assert rc == 0, err
    meta = read_dataset_meta(out)
    assert meta["params"]["recipe"] == "C13+C14+C15"
    assert [c["name"] for c in meta["channels"]] == ["C13", "C14", "C15"]
    assert {c["stretch"]["kind"] for c in meta["channels"]} == {"linear"}
    assert "/C13+C14+C15_2km/" in meta["scenes"]["train"][0]
    drawn = _redraw(out, "train", 1)
    for kind, d in drawn.items():
        with Image.open(out / "train" / tile_name(1, kind)) as im:
            assert im.mode == "RGB"
            png = np.asarray(im)
        assert png.shape == (32, 32, 3)
        np.testing.assert_array_equal(png, to_display(d.image, "K", stretches=[c["stretch"] for c in meta["channels"]]))
    # the three channels are three bands: split-window differences of a few K over real cloud
    ch = png.astype(int)
    assert (ch[:, :, 0] != ch[:, :, 2]).any() and np.abs(ch[:, :, 0] - ch[:, :, 2]).max() < 40
    close_composites()


def test_mixed_band_list_has_a_stretch_per_channel(day_root):
    out = make_triplets(day_root, DOMAIN, day_root.parent / "mixed", n_train=2, recipe="C01,C13", progress=False,
                        **SMALL)
    meta = read_dataset_meta(out)
    assert meta["params"]["recipe"] == "C01+C13"
    (c01, c13) = meta["channels"]
    assert (c01["name"], c01["units"], c01["stretch"]["kind"], c01["stretch"]["gamma"]) == ("C01", "1", "gamma", 2.2)
    assert (c13["name"], c13["units"], c13["stretch"]["kind"]) == ("C13", "K", "linear")
    d = _redraw(out, "train", 0)["anchor"]
    with Image.open(out / "train" / tile_name(0, "anchor")) as im:
        assert im.mode == "LA"
        png = np.asarray(im)
    assert png.shape == (32, 32, 2)
    np.testing.assert_array_equal(png[:, :, 0], to_display(d.image[:, :, 0], "1", 2.2))
    np.testing.assert_array_equal(png[:, :, 1], to_display(d.image[:, :, 1], "K", stretches=[c13["stretch"]]))
    for k, c in enumerate((c01, c13)):
        # each channel decodes with its own recorded stretch (the reflectance step is widest near 1)
        phys = from_display(png[:, :, k], c["stretch"])
        np.testing.assert_array_equal(to_display(phys, c["units"], 2.2, stretches=[c["stretch"]]), png[:, :, k])
    close_composites()
    # a tile of another channel count is damage that --verify finds
    from convml_tt.data.dataset.format import damaged_triplets

    assert damaged_triplets(out, "train") == {}
    Image.new("RGB", (32, 32)).save(out / "train" / tile_name(1, "distant"))
    (reason,) = damaged_triplets(out, "train").values()
    assert list(damaged_triplets(out, "train")) == [1] and "has 3 channel(s), the dataset's have 2" in reason


# --- training, embedding and maps on 1-channel tiles ----------------------------------------
@pytest.fixture(scope="module")
def c13_model(c13_ds, tmp_path_factory) -> Path:
    import torch

    from convml_tt.architectures import train

    torch.set_num_threads(2)
    path = tmp_path_factory.mktemp("c13model") / "c13.pt"
    train(c13_ds, path, arch="resnet18", emb_dim=8, head="linear", dropout=0.0, batch_size=8, epochs=1,
          device="cpu", seed=0, quiet=True, num_workers=0)
    return path


def test_train_and_embed_one_channel_tiles(c13_ds, c13_model):
    from convml_tt.architectures import load_model
    from convml_tt.interpretation.embeddings import get_embeddings

    enc = load_model(c13_model, device="cpu")
    cfg = enc.config
    assert cfg["n_input_channels"] == 1 and enc.body.conv1.weight.shape[1] == 1
    assert cfg["recipe"] == "C13" and cfg["channels"] == read_dataset_meta(c13_ds)["channels"]
    assert len(cfg["normalization"]["mean"]) == 1
    emb = get_embeddings(c13_model, c13_ds, stage="study", batch_size=4, device="cpu", progress=False)
    assert emb.shape == (4, 8) and np.isfinite(emb.values).all()
    assert float(emb.std("tile_id").mean()) > 0  # the tiles differ, so do their embeddings


def test_map_of_a_c13_model_uses_c13_composites(real_root, c13_model, tmp_path, capsys):
    from convml_tt.interpretation.maps import embed_domain

    out = tmp_path / "map.nc"
    rc, stdout, err = _cli(capsys, "map", c13_model, "--data-root", real_root, "--domain", *DOMAIN,
                           "--resolution-km", 2, "--stride", 64e3, "--out", out, "--labels", "none", "--quiet",
                           "--device", "cpu")
    assert rc == 0, err
    import xarray as xr

    with xr.open_dataset(out) as m:
        assert m.sizes["time"] == 2 and m.sizes["emb_dim"] == 8
        assert all("/C13_2km/" in str(c) for c in m["composite"].values)
        ok = m["valid"].values == 1
        assert ok.mean() > 0.5 and np.isfinite(m["embedding"].values[ok]).all()
    # the tile-statistics baseline on the same C13 composites: 2 * 1 channel + 2 features
    rc, _, err = _cli(capsys, "map", "tile_statistics", "--data-root", real_root, "--domain", *DOMAIN,
                      "--recipe", "C13", "--resolution-km", 2, "--tile-size-m", 64e3, "--tile-pixels", 32,
                      "--stride", 64e3, "--out", tmp_path / "stats.nc", "--labels", "none", "--quiet")
    assert rc == 0, err
    with xr.open_dataset(tmp_path / "stats.nc") as m:
        assert m.sizes["emb_dim"] == 4 and all("/C13_2km/" in str(c) for c in m["composite"].values)
        e = m["embedding"].values[m["valid"].values == 1]
        assert np.isfinite(e).all() and (e[:, 0] > 0).all() and e[:, 0].std() > 0.01  # mean of the grey channel
    # a model of C13 tiles refuses composites of another recipe (same channel count)
    (c14,) = make_composites(real_root, DOMAIN, kind="C14", resolution_km=2.0, progress=False)
    with pytest.raises(ValueError, match=r"trained on 'C13' tiles but the composites are 'C14' composites"):
        embed_domain(c13_model, [c14], stride=64e3, device="cpu", progress=False)
    close_composites()


# --- the per-dataset stretch: resume, the model's record in maps and embeddings --------------------
def test_resume_reuses_the_recorded_stretch(c13_ds, tmp_path):
    from convml_tt.data.dataset.format import write_dataset_meta

    ds = tmp_path / "c13"
    shutil.copytree(c13_ds, ds)
    meta = read_dataset_meta(ds)
    own = meta["channels"][0]["stretch"]
    # another range in the record than the composites give: a resumed run must use it, not choose again
    given = {**own, "white": 250.0, "black": 290.0}
    meta["channels"][0]["stretch"] = given
    write_dataset_meta(ds, meta)
    for f in (ds / "train").glob("00003_*"):
        f.unlink()
    make_triplets(meta["data_root"], out=ds, settings=TripletSettings(**meta["params"]), progress=False)
    again = read_dataset_meta(ds)
    assert again["status"] == "complete" and again["channels"][0]["stretch"] == given
    differs = False
    for kind, d in _redraw(ds, "train", 3).items():
        with Image.open(ds / "train" / tile_name(3, kind)) as im:
            png = np.asarray(im)
        np.testing.assert_array_equal(png, to_display(d.image[:, :, 0], "K", stretches=[given]))
        differs |= not np.array_equal(png, to_display(d.image[:, :, 0], "K", stretches=[own]))
    assert differs


def test_maps_and_embeddings_use_the_models_stretch(c13_ds, c13_model, tmp_path, caplog):
    import json
    import logging

    from convml_tt.architectures.model_file import read_model_file, write_model_file
    from convml_tt.data.composites.stretch import dataset_stretches
    from convml_tt.interpretation.embeddings import get_embeddings
    from convml_tt.interpretation.maps import embed_domain

    meta = read_dataset_meta(c13_ds)
    root = Path(meta["data_root"])
    day, night = (str(root / meta["scenes"][s][0]) for s in ("train", "study"))
    own = meta["channels"][0]["stretch"]
    # the range a model trained on the day scan alone records
    day_channels = dataset_stretches(meta["channels"], "auto", [day])
    assert day_channels[0]["stretch"]["white"] != own["white"]
    obj = read_model_file(c13_model)

    def variant(name: str, channels: list | None) -> Path:
        cfg = {k: v for k, v in obj["config"].items() if k != "channels"}
        return write_model_file({**obj, "config": cfg if channels is None else {**cfg, "channels": channels}},
                                tmp_path / name)

    day_model = variant("day.pt", day_channels)
    old_model = variant("old.pt", None)  # a model file of earlier versions: no record
    fixed_model = variant("fixed.pt", [{**meta["channels"][0], "stretch": display_stretch("K")}])
    kw = dict(stride=64e3, device="cpu", progress=False)
    with caplog.at_level(logging.INFO, logger="convml_tt"):
        m_day = embed_domain(day_model, [night], **kw)  # a night scene, a day-trained model: the model's range
    s = day_channels[0]["stretch"]
    assert json.loads(m_day.attrs["display_stretch"]) == [s]
    assert caplog.text.count(f"model's recorded range C13 {s['white']:g}-{s['black']:g} K (dataset)") == 1
    m_own, m_old, m_fixed = (embed_domain(m, [night], **kw) for m in (c13_model, old_model, fixed_model))
    assert json.loads(m_own.attrs["display_stretch"]) == [own]
    ok = m_day["valid"].values == 1
    assert ok.sum() > 5 and (m_own["valid"].values == ok).all()
    e = {k: m["embedding"].values[ok] for k, m in (("day", m_day), ("own", m_own), ("old", m_old),
                                                   ("fixed", m_fixed))}
    # the same weights: only the stretch differs; no record is the fixed range (no error)
    assert not np.allclose(e["day"], e["own"]) and not np.allclose(e["old"], e["own"])
    np.testing.assert_array_equal(e["old"], e["fixed"])
    assert "display_stretch" not in m_old.attrs and "display_stretch" not in m_fixed.attrs
    # a dataset's tiles of another range than the model's are refused, saying how to match them ...
    for model, (w, b) in ((day_model, (s["white"], s["black"])), (fixed_model, (200, 320))):
        with pytest.raises(ValueError, match=rf"tiles stretched {own['white']:g}-{own['black']:g} K but the model "
                                             rf".* stretched {w:g}-{b:g} K: .*--stretch {w:g} {b:g}\)"):
            get_embeddings(model, c13_ds, stage="study", batch_size=4, device="cpu", progress=False)
    # ... a model without a record (earlier versions) embeds them, with a warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="convml_tt"):
        emb = get_embeddings(old_model, c13_ds, stage="study", batch_size=4, device="cpu", progress=False)
    assert emb.shape == (4, 8) and caplog.text.count("records no tile stretch") == 1
    close_composites()


def test_stretch_given_fixed_and_refused_from_the_cli(day_root, capsys):
    common = ["triplets", "--data-root", day_root, "--domain", *DOMAIN, "--n-train", 1, "--tile-size-m", 64e3,
              "--tile-pixels", 32, "--resolution-km", 2, "--distant", "same_scene", "--labels", "none", "--quiet"]
    for value, want in ((["fixed"], {**display_stretch("K"), "chosen": "fixed"}),
                        (["C13=230,300"], {"white": 230.0, "black": 300.0, "chosen": "given"})):
        out = day_root.parent / f"stretch-{value[0].replace('=', '-')}"
        rc, _, err = _cli(capsys, *common, "--recipe", "C13", "--out", out, "--stretch", *value)
        assert rc == 0, err
        meta = read_dataset_meta(out)
        st = meta["channels"][0]["stretch"]
        assert {k: st[k] for k in want} == want and meta["params"]["stretch"] in ("fixed", {"C13": [230.0, 300.0]})
        d = _redraw(out, "train", 0)["anchor"]
        with Image.open(out / "train" / tile_name(0, "anchor")) as im:
            png = np.asarray(im)
        np.testing.assert_array_equal(png, to_display(d.image[:, :, 0], "K", stretches=[st]))
        if value == ["fixed"]:  # the bytes of the fixed stretch, as before
            np.testing.assert_array_equal(png, to_display(d.image[:, :, 0], "K"))
    bad = ((["300", "230"], "LO 300 K is not below HI 230 K"), (["abc", "300"], "LO 'abc' is not a number"),
           (["100", "300"], "LO '100' is outside 150-350 K"), (["230", "360"], "HI '360' is outside 150-350 K"),
           (["C14=230,300"], "channels are ['C13'], not 'C14'"))
    for value, msg in bad:
        rc, _, err = _cli(capsys, *common, "--recipe", "C13", "--out", day_root.parent / "never", "--stretch", *value)
        assert rc == 1 and len(err.strip().splitlines()) == 1 and msg in err and "--stretch 230 300" in err, err
    rc, _, err = _cli(capsys, *common, "--recipe", "C01", "--out", day_root.parent / "never", "--stretch", "230", "300")
    assert rc == 1 and "reflectance keeps its gamma stretch; leave --stretch out" in err, err
    assert not (day_root.parent / "never").exists()
    close_composites()


# --- bad input --------------------------------------------------------------------------------
def test_bad_recipes_are_one_line_errors(day_root, tmp_path, capsys):
    common = ["triplets", "--data-root", day_root, "--domain", *DOMAIN, "--n-train", 2, "--tile-size-m", 64e3,
              "--tile-pixels", 32, "--resolution-km", 2, "--distant", "same_scene", "--quiet"]

    def fails(*extra) -> str:
        rc, _, err = _cli(capsys, *common, "--out", tmp_path / "ds", *extra)
        assert rc == 1
        # one error line (skipped scans are warned about on lines of their own)
        lines = [x for x in err.strip().splitlines() if "warning: skipped" not in x]
        assert len(lines) == 1 and lines[0].startswith("convml_tt triplets: error: "), err
        return lines[0]

    line = fails("--recipe", "ir")
    assert "recipe='ir' is not a recipe of the registry" in line and "truecolor, C01" in line
    # the day scan has no C02: the error names the band and the files found
    line = fails("--recipe", "C02")
    assert "bands [2]" in line and "lacks band 2" in line
    assert f"OR_ABI-L1b-RadM1-M6C01_G17_{DAY}" in line and f"OR_ABI-L1b-RadM1-M6C16_G17_{DAY}" in line
    line = fails("--recipe", "truecolor")
    assert "band 2 missing" in line and f"M6C03_G17_{DAY}" in line
    line = fails("--bands", "1", "3", "4", "5", "13")
    assert "5 channels but a PNG tile holds at most 4 (L, LA, RGB, RGBA)" in line
    # refused runs leave no dataset folder behind
    assert not (tmp_path / "ds").exists()
    # composites of another recipe than the dataset's
    (c14,) = make_composites(day_root, DOMAIN, kind=14, resolution_km=2.0, progress=False)
    with pytest.raises(ValueError, match=r"is a 'C14' composite but the dataset's recipe is 'C13'"):
        make_triplets(day_root, DOMAIN, tmp_path / "c", n_train=1, composites=[c14], recipe="C13", progress=False,
                      **SMALL)


def test_bands_of_different_scans_are_refused(tmp_path, capsys):
    # C01 of the day scan and C13 of the night scan: no scan has both
    root = _stage(tmp_path / "root", (DAY,), "01")
    _stage(tmp_path / "other", (NIGHT,), "13")
    for p in (tmp_path / "other" / "sources" / "goes17").iterdir():
        (root / "sources" / "goes17" / p.name).symlink_to(p.resolve())
    rc, _, err = _cli(capsys, "triplets", "--data-root", root, "--domain", *DOMAIN, "--n-train", 2, "--recipe",
                      "C01+C13", "--out", tmp_path / "ds", "--resolution-km", 2, "--quiet")
    errors = [x for x in err.strip().splitlines() if "warning: skipped" not in x]
    assert rc == 1 and len(errors) == 1 and errors[0].startswith("convml_tt triplets: error: "), err
    assert "bands [1, 13]" in err and "band 13 missing (needs bands 1, 13)" in err and "(and 1 more)" in err
    # given as one scene, the files of two scans are refused by the composite
    files = {1: next(root.rglob(f"*C01_G17_{DAY}*")), 13: next(root.rglob(f"*C13_G17_{NIGHT}*"))}
    with pytest.raises(ValueError, match="composite files come from different scans"):
        make_composite(files, DOMAIN, kind="C01+C13", resolution_km=2.0)


def test_plots_of_grey_and_mixed_tiles(c13_ds, c13_model, day_root, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convml_tt.data.dataset import plot_triplets
    from convml_tt.interpretation.embeddings import get_embeddings
    from convml_tt.interpretation.plots import grid
    from convml_tt.interpretation.plots.maps import background

    # the domain plot shows the composite with the tiles' stretch, grey
    fig = plot_triplets(c13_ds, "train", out=tmp_path / "triplets.png")
    im = fig.axes[0].images[0]
    assert im.get_cmap().name == "gray" and im.get_array().ndim == 2 and im.get_array().dtype == np.uint8
    assert (tmp_path / "triplets.png").stat().st_size > 0
    plt.close(fig)
    # a grid of 1-channel tiles: grey images of the PNG bytes
    emb = get_embeddings(c13_model, c13_ds, stage="study", batch_size=4, device="cpu", progress=False)
    fig = grid(emb, n_rows=2, n_cols=2)[0]
    images = [i for ax in fig.axes for i in ax.images]
    assert len(images) == 4 and all(i.get_array().ndim == 2 and i.get_cmap().name == "gray" for i in images)
    plt.close(fig)
    # a map background of a mixed composite: each channel by its own units, shown grey (first channel)
    (path,) = make_composites(day_root, DOMAIN, kind="C01+C13", resolution_km=2.0, progress=False)
    bg = background(path, (DOMAIN[0], DOMAIN[2], DOMAIN[1], DOMAIN[3]), max_pixels=60)
    assert bg.shape[2] == 4 and bg.dtype == np.uint8
    ok = bg[:, :, 3] == 255
    assert ok.mean() > 0.9 and (bg[:, :, 0] == bg[:, :, 2]).all() and bg[ok, 0].std() > 5
