"""Regimes in physical terms (issue 15, items 5-7): organisation indices and
co-located fields per tile (``_meta.yaml``), as coordinates of embeddings
and map cells, per-cluster box plots, PC correlations, evaluate medians, the
synthetic band 13, and the real GOES-17 daytime scan."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from convml_tt.config import TripletSettings
from convml_tt.data.colocated import field_statistics, statistic_attrs
from convml_tt.data.composites import make_composites
from convml_tt.data.composites.reader import open_composite
from convml_tt.data.composites.recipes import get_recipe
from convml_tt.data.dataset import make_triplets
from convml_tt.data.dataset.format import TripletMeta, list_triplets, read_dataset_meta, read_triplet_meta
from convml_tt.data.organisation import INDEX_NAMES, tile_indices
from convml_tt.data.sampling.triplets import TripletSampler

from interp_fixtures import clustered, regime_dataset  # noqa: F401
from synthetic_fixtures import DOMAIN, SMALL, SYNTHETIC_KWARGS, SYNTHETIC_START, composited_root  # noqa: F401

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY = "s20193002000275"
N_TRAIN = 6


@pytest.fixture(scope="module")
def field_root(tmp_path_factory):
    """Synthetic scenes with bands 1, 2, 3 and 13 (same settings as the
    session scenes otherwise) and a dataset with the C13 field."""
    from convml_tt.data.synthetic import write_synthetic_scenes

    root = tmp_path_factory.mktemp("field_root")
    kw = dict(SYNTHETIC_KWARGS, bands=(1, 2, 3, 13))
    write_synthetic_scenes(root, SYNTHETIC_START, progress=False, **kw)
    return root


def _settings(**kw) -> TripletSettings:
    return TripletSettings(domain=DOMAIN, n_train=N_TRAIN, n_study=0, seed=3, **SMALL, **kw)


@pytest.fixture(scope="module")
def field_dataset(field_root):
    return make_triplets(field_root, out=field_root / "ds", settings=_settings(fields=("C13",)), progress=False)


def _tiles(ds: Path):
    for i in list_triplets(ds, "train"):
        m = read_triplet_meta(ds, "train", i)
        for kind in ("anchor", "neighbor", "distant"):
            yield i, kind, m.tile(kind)


# --- indices and fields in _meta.yaml ------------------------------------------------
def test_every_tile_meta_has_indices_equal_to_those_of_its_composite_cut(field_dataset, field_root):
    meta = read_dataset_meta(field_dataset)
    scenes = {s: [str((field_root / p).resolve()) for p in meta["scenes"][s]] for s in ("train", "study")}
    settings = _settings(fields=("C13",))
    sampler = TripletSampler(settings, scenes)
    recipe = get_recipe("truecolor")
    pixel = SMALL["tile_size_m"] / SMALL["tile_pixels"]
    n = 0
    for i, kind, tile in _tiles(field_dataset):
        assert list(tile.indices) == list(INDEX_NAMES) + ["index_flags", "land_fraction", "surface",
                                                          "cloud_threshold"]
        assert isinstance(tile.indices["n_objects"], int) and tile.indices["n_objects"] >= 0
        assert 0.0 <= tile.indices["cloud_fraction"] <= 1.0 and 0.0 <= tile.indices["open_sky"] <= 1.0
        # undefined (NaN, stored as null) only with its reason
        assert (tile.indices["iorg"] is None) == bool(tile.indices["index_flags"] & 7), tile.indices
        assert tile.indices["iorg"] is None or 0.0 <= tile.indices["iorg"] <= 1.0
        assert tile.indices["surface"] == 0 and tile.indices["land_fraction"] == 0.0  # the synthetic ocean
        # the same draw again: the tile's physical values before the display stretch
        d = sampler.sample("train", i)[kind]
        want = tile_indices(d.image, recipe, pixel, threshold=tile.indices["cloud_threshold"])
        for k in INDEX_NAMES:
            if tile.indices[k] is None:
                assert math.isnan(want[k]), (i, kind, k)
                continue
            assert tile.indices[k] == pytest.approx(float(want[k]), rel=6e-7, abs=1e-12), (i, kind, k)
        n += 1
    assert n == 3 * N_TRAIN
    # the tiles differ: the indices are not one constant
    assert len({t.indices["cloud_fraction"] for _, _, t in _tiles(field_dataset)}) > 3


def test_c13_field_statistics_per_tile_and_units(field_dataset):
    meta = read_dataset_meta(field_dataset)
    assert meta["fields"] == {"C13": {"units": "K", "long_name": "ABI band 13 brightness temperature"}}
    assert meta["params"]["fields"] == ["C13"]
    cf, t_mean = [], []
    for _, _, tile in _tiles(field_dataset):
        f = tile.fields
        assert list(f) == ["C13_min", "C13_mean", "C13_max"]
        assert 270.0 < f["C13_min"] <= f["C13_mean"] <= f["C13_max"] < 300.0
        cf.append(tile.indices["cloud_fraction"])
        t_mean.append(f["C13_mean"])
    # the synthetic band 13 is colder where cloudy: cloudier tiles have colder mean C13
    assert np.corrcoef(cf, t_mean)[0, 1] < -0.8


def test_dataset_written_twice_and_with_two_workers_agrees(field_root, field_dataset, tmp_path):
    import shutil

    # a fresh cache: the composites and the C13 field composites are made by a 2-process pool too
    root = tmp_path / "root"
    shutil.copytree(field_root / "sources", root / "sources")
    again = make_triplets(root, out=tmp_path / "again", settings=_settings(fields=("C13",)), progress=False,
                          workers=2)
    assert len(list((root / "composites").glob("goes*/*/C13_*/*.nc"))) == len(
        list((field_root / "composites").glob("goes*/*/C13_*/*.nc"))) > 0
    for i in range(N_TRAIN):
        assert (again / "train" / f"{i:05d}_meta.yaml").read_bytes() == \
            (field_dataset / "train" / f"{i:05d}_meta.yaml").read_bytes()


def test_old_meta_without_indices_reads_and_roundtrips():
    old = {"id": 3, "stage": "train", "tile_size_m": 40000.0, "tile_pixels": 32,
           "anchor": {"lat": 15.0, "lon": -50.0, "time": "2020-01-02T14:00:00", "regime": 2,
                      "regime_name": "gravel"}}
    m = TripletMeta.from_dict(old)
    assert m.anchor.indices == {} and m.anchor.fields == {}
    assert m.anchor.labels == {"regime": 2, "regime_name": "gravel"}
    assert m.to_dict() == old  # nothing added to an old record
    new = dict(old, neighbor={"lat": 15.1, "indices": {"iorg": 0.6, "n_objects": 4}, "fields": {"C13_min": 280.5}})
    m = TripletMeta.from_dict(yaml.safe_load(yaml.safe_dump(new)))
    assert m.neighbor.indices == {"iorg": 0.6, "n_objects": 4} and m.neighbor.labels == {}
    assert m.neighbor.get("iorg") == 0.6 and m.neighbor.get("C13_min") == 280.5
    assert m.to_dict() == new


def test_field_the_scans_lack_is_refused_before_sampling(composited_root, tmp_path):
    with pytest.raises(ValueError, match=r"field 'C13' needs ABI band 13.*files found for that scan: "
                                         r"OR_ABI-L1b-RadM1-M6C01_G16"):
        make_triplets(composited_root, out=tmp_path / "ds", settings=_settings(fields=("C13",)), progress=False)
    assert not list((tmp_path / "ds").glob("train/*.png"))


def test_fields_setting_is_validated_and_canonical():
    assert _settings(fields=("c13",)).fields == ("C13",)
    assert _settings(fields="C13,7").fields == ("C13", "C07")
    assert _settings(fields=[13]).fields == ("C13",)
    assert "fields" not in _settings().to_yaml_dict()
    with pytest.raises(ValueError, match="truecolor.*3 planes"):
        _settings(fields=("truecolor",))
    with pytest.raises(ValueError, match="not a recipe"):
        _settings(fields=("C99x",))
    with pytest.raises(ValueError, match="twice"):
        _settings(fields=("C13", "13"))


def test_cli_triplets_fields_bad_name_is_one_line(tmp_path, capsys):
    from convml_tt.cli import main

    argv = ["triplets", "--data-root", str(tmp_path), "--domain", *map(str, DOMAIN), "--n-train", "2",
            "--out", str(tmp_path / "ds"), "--quiet"]
    capsys.readouterr()
    assert main(argv + ["--fields", "truecolor"]) == 1
    err = capsys.readouterr().err
    assert "planes" in err and len(err.strip().splitlines()) == 1
    assert main(argv + ["--fields", "C13,nope"]) == 1
    assert "'nope' is not a recipe" in capsys.readouterr().err


def test_field_statistics_of_empty_and_nan_tiles():
    assert field_statistics("C13", None) == {"C13_min": None, "C13_mean": None, "C13_max": None}
    v = np.array([[280.0, np.nan], [290.0, 300.0]])
    assert field_statistics("C13", v) == {"C13_min": 280.0, "C13_mean": 290.0, "C13_max": 300.0}
    assert statistic_attrs("C13_mean", {"C13": {"units": "K", "long_name": "BT"}}) == \
        {"units": "K", "long_name": "mean over the tile of BT"}
    assert statistic_attrs("regime") is None


# --- the synthetic band 13 -----------------------------------------------------------
def test_synthetic_band13_is_brightness_temperature_colder_where_cloudy(field_root, synthetic_scenes):
    from convml_tt.data.sources.goes_abi.calibration import radiance_to_brightness_temperature
    from convml_tt.data.synthetic.fields import CLEAR_SKY_BT, CLOUD_TOP_BT
    from convml_tt.data.synthetic.l1b import EMISSIVE_CONSTANTS, brightness_temperature_to_radiance

    bt = np.linspace(200.0, 320.0, 50)
    back = radiance_to_brightness_temperature(brightness_temperature_to_radiance(bt, 13), *EMISSIVE_CONSTANTS[13][5:])
    assert np.max(np.abs(back - bt)) < 1e-9
    f13 = sorted((field_root / "sources").rglob("*C13_G16_s20200021400000*.nc"))
    f02 = sorted((field_root / "sources").rglob("*C02_G16_s20200021400000*.nc"))
    with xr.open_dataset(f13[0]) as x:
        assert x["Rad"].attrs["units"] == "mW m-2 sr-1 (cm-1)-1"
        assert float(x["planck_fk1"]) == pytest.approx(EMISSIVE_CONSTANTS[13][5], rel=1e-6)
    # calibrated back, the file gives the generator's brightness temperature to the 12-bit packing
    from convml_tt.data.sources.goes_abi import read_abi
    from convml_tt.data.sources.goes_abi import calibrate
    from convml_tt.data.synthetic.fields import make_scene_fields

    k = SYNTHETIC_KWARGS
    want = make_scene_fields(SYNTHETIC_START, seed=k["seed"], satellite=k["satellite"], center=k["center"],
                             size_km=k["size_km"], bands=(2, 13)).brightness_temperature[13]
    got = calibrate(read_abi(f13[0])).values
    assert got.shape == want.shape and np.nanmax(np.abs(got - want)) < 0.03
    c13 = make_composites(field_root, DOMAIN, kind="C13", progress=False)
    c02 = make_composites(field_root, DOMAIN, kind="C02", progress=False)
    a, b = open_composite(c13[0]), open_composite(c02[0])
    assert a.units == "K"
    from convml_tt.data.tiles import Tile

    tiles = [Tile(lat, lon, 20e3, 16) for lat in np.linspace(14.5, 15.5, 4) for lon in np.linspace(-50.6, -49.5, 4)]
    bt_t = np.array([np.nanmean(a.tile(t, "bilinear")) for t in tiles])
    refl = np.array([np.nanmean(b.tile(t, "bilinear")) for t in tiles])
    assert np.all((bt_t > CLOUD_TOP_BT - 1) & (bt_t < CLEAR_SKY_BT + 1.5))
    assert np.corrcoef(bt_t, refl)[0, 1] < -0.9
    # adding band 13 leaves the reflective bands as they were
    session = [s for s in synthetic_scenes if s.time == SYNTHETIC_START][0]
    with xr.open_dataset(session.files[2], mask_and_scale=False) as x, xr.open_dataset(f02[0], mask_and_scale=False) as y:
        assert np.array_equal(x["Rad"].values, y["Rad"].values)


# --- embeddings, box plots, PC correlations, evaluate --------------------------------
@pytest.fixture(scope="module")
def field_model(tmp_path_factory):
    import torch

    from convml_tt.architectures import TripletEncoder, save_model

    torch.manual_seed(0)
    enc = TripletEncoder("resnet18", n_input_channels=3, emb_dim=8, head="linear", dropout=0.0,
                         config={"normalization": {"kind": "dataset", "mean": [0.4] * 3, "std": [0.25] * 3},
                                 "tile_pixels": SMALL["tile_pixels"]})
    return save_model(enc, tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def field_embeddings(field_dataset, field_model):
    from convml_tt.interpretation.embeddings import get_embeddings

    return get_embeddings(field_model, field_dataset, stage="train", tile_type="anchor", batch_size=16,
                          device="cpu", progress=False)


def test_embeddings_carry_index_and_field_coordinates(field_embeddings, field_dataset, tmp_path):
    from convml_tt.interpretation.embeddings import load_embeddings, save_embeddings

    da = field_embeddings
    for k in INDEX_NAMES + ("C13_min", "C13_mean", "C13_max"):
        assert da[k].dims == ("tile_id",), k
        assert da[k].attrs["long_name"] and "units" in da[k].attrs
    assert da["C13_mean"].attrs["units"] == "K" and da["mean_object_size_m"].attrs["units"] == "m"
    assert da["n_objects"].dtype == np.int64
    for i in da.tile_id.values:
        m = read_triplet_meta(field_dataset, "train", int(i)).anchor
        assert float(da["iorg"].sel(tile_id=i)) == m.indices["iorg"]
        assert float(da["C13_min"].sel(tile_id=i)) == m.fields["C13_min"]
    back = load_embeddings(save_embeddings(da, tmp_path / "e.nc"))
    assert back["iorg"].attrs["long_name"] == da["iorg"].attrs["long_name"]
    np.testing.assert_array_equal(back["cloud_fraction"].values, da["cloud_fraction"].values)


def _physical(clustered):  # noqa: F811
    """The clustered embeddings with indices made per regime: iorg rises with
    the regime and follows the first embedding axis."""
    rng = np.random.default_rng(2)
    r = clustered["regime"].values
    x = clustered.values[:, 0]
    iorg = 0.3 + 0.05 * x + 0.01 * rng.standard_normal(len(r))
    size = np.array([1e3, 5e3, 20e3])[r] * (1 + 0.1 * rng.random(len(r)))
    da = clustered.assign_coords(iorg=("tile_id", iorg), mean_object_size_m=("tile_id", size),
                                 n_objects=("tile_id", (10 * (r + 1)).astype(np.int64)))
    da["mean_object_size_m"].attrs["units"] = "m"
    return da


def test_cluster_boxplots_and_medians(clustered, tmp_path):  # noqa: F811
    import matplotlib

    matplotlib.use("Agg")
    from convml_tt.interpretation.plots import cluster_boxplots, save_figure
    from convml_tt.interpretation.physical import cluster_medians

    da = _physical(clustered)
    fig, med = cluster_boxplots(da, clusters="regime_name")
    assert list(med.cluster.values) == ["clear", "sugar", "gravel"]  # regime order
    assert list(med["variable"].values) == ["iorg", "n_objects", "mean_object_size_m"]
    assert list(med.sel(variable="n_objects").values) == [10, 20, 30]
    sizes = med.sel(variable="mean_object_size_m").values
    assert 1.0 <= sizes[0] < 1.1 and 5.0 <= sizes[1] < 5.5 and 20.0 <= sizes[2] < 22.0  # km
    assert len([a for a in fig.axes if a.get_visible()]) == 3
    p = save_figure(fig, tmp_path / "box.png")
    assert Path(p).stat().st_size > 5000
    # Ward clusters of these well-separated blobs are the regimes
    ward = cluster_medians(da, clusters="ward")
    assert ward.sizes["cluster"] == 3 and sorted(ward.n_tiles.values) == [8, 8, 8]
    assert sorted(ward.sel(variable="n_objects").values) == [10, 20, 30]
    assert set(ward.regime_name.values) == {"clear", "sugar", "gravel"}
    with pytest.raises(ValueError, match="no organisation indices"):
        cluster_boxplots(clustered)


def test_pc_correlations_find_the_index_along_the_first_component(clustered, tmp_path):  # noqa: F811
    import matplotlib

    matplotlib.use("Agg")
    from convml_tt.interpretation.plots import pc_correlation_heatmap, save_figure
    from convml_tt.interpretation.plots.physical import pc_correlations

    da = _physical(clustered)
    corr = pc_correlations(da, n_components=3)
    assert corr.dims == ("component", "variable") and list(corr.component.values) == [1, 2, 3]
    assert np.all(np.abs(corr.values) <= 1 + 1e-12)
    # x[:, 0] separates sugar from the rest, iorg follows it: strongly correlated with one of PC 1/2
    assert np.max(np.abs(corr.sel(variable="iorg").values[:2])) > 0.6
    ev = corr.explained_variance_ratio.values
    assert np.all(np.diff(ev) <= 0) and 0 < ev.sum() <= 1
    fig, c2 = pc_correlation_heatmap(corr)
    assert c2 is corr or np.array_equal(c2.values, corr.values, equal_nan=True)
    assert Path(save_figure(fig, tmp_path / "pc.png")).stat().st_size > 5000


def test_evaluate_prints_per_cluster_medians(field_embeddings, tmp_path, capsys):
    from convml_tt.interpretation.embeddings import save_embeddings
    from convml_tt.interpretation.evaluate import physical_medians

    df = physical_medians(field_embeddings, n_clusters=2)
    assert list(df.index) == ["A", "B"] and df["n_tiles"].sum() == N_TRAIN
    assert "iorg" in df.columns and "mean_object_size (km)" in df.columns and "C13_mean (K)" in df.columns
    from convml_tt.cli import main

    path = save_embeddings(field_embeddings, tmp_path / "e.nc")
    capsys.readouterr()
    assert main(["evaluate", str(path), "--no-baselines", "--n-clusters", "2", "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Per-cluster medians" in out
    row = [ln for ln in out.splitlines() if ln.startswith("| A |")]
    assert row and f"{df.loc['A', 'iorg']:.3f}" in row[0]


def test_cli_plot_boxplots_and_pc_correlations(field_embeddings, tmp_path):
    from convml_tt.cli import main
    from convml_tt.interpretation.embeddings import save_embeddings

    path = save_embeddings(field_embeddings, tmp_path / "e.nc")
    for kind in ("boxplots", "pc-correlations"):
        out = tmp_path / f"{kind}.png"
        extra = ["--n-clusters", "2"] if kind == "boxplots" else ["--n-components", "3"]
        assert main(["plot", kind, str(path), "--out", str(out), *extra]) == 0
        assert out.stat().st_size > 5000
    assert main(["plot", "boxplots", str(path), "--out", str(tmp_path / "x.png"), "--variables", "nope"]) == 1


# --- map cells ---------------------------------------------------------------------
def test_map_cells_carry_indices_of_their_tiles(field_root, field_dataset):
    from convml_tt.data.sampling import GridSampler
    from convml_tt.interpretation.maps import embed_domain

    comps = sorted(str(p) for p in (field_root / "composites").rglob("truecolor_1km/*.nc"))[:2]
    ds = embed_domain("tile_statistics", comps, tile_size_m=40e3, stride=60e3, tile_pixels=32, domain=DOMAIN,
                      progress=False)
    for k in INDEX_NAMES:
        assert ds[k].dims == ("time", "y", "x"), k
    assert ds["iorg"].attrs["units"] == "1" and "I_org" in ds["iorg"].attrs["long_name"]
    assert ds["n_objects"].dtype.kind == "i"
    sampler = GridSampler(DOMAIN, 40e3, 32, 60e3, {"map": [str(Path(p).resolve()) for p in comps]})
    ny, nx = sampler.shape
    recipe = get_recipe("truecolor")
    checked = 0
    for t, path in enumerate(ds["composite"].values):
        reader = open_composite(str(path))
        for cell in range(ny * nx):
            iy, ix = divmod(cell, nx)
            if not ds["valid"].values[t, iy, ix]:
                assert np.isnan(ds["iorg"].values[t, iy, ix]) and ds["n_objects"].values[t, iy, ix] == -1
                continue
            want = tile_indices(reader.tile(sampler.tile(cell), "bilinear"), recipe, 40e3 / 32)
            assert ds["cloud_fraction"].values[t, iy, ix] == pytest.approx(want["cloud_fraction"], rel=1e-6)
            assert ds["n_objects"].values[t, iy, ix] == want["n_objects"]
            assert ds["iorg"].values[t, iy, ix] == pytest.approx(want["iorg"], rel=1e-6, abs=1e-7)
            checked += 1
    assert checked >= 4


# --- the real daytime scan -----------------------------------------------------------
@pytest.mark.skipif(not (REAL / "README.md").exists(), reason="shared real GOES files not present")
def test_real_scan_c01_triplets_have_indices_and_c13_fields(tmp_path):
    from convml_tt.data.composites.build import make_composite

    c01 = sorted(REAL.glob(f"*M6C01_G17_{DAY}*.nc"))[0]
    domain = (-126.0, 31.0, -123.5, 33.5)  # the marine stratocumulus in the south-west of the sector
    comp = tmp_path / "c01.nc"
    make_composite({1: c01}, domain, kind="C01", resolution_km=1.0, out_path=comp).close()
    settings = TripletSettings(domain=domain, tile_size_m=50e3, tile_pixels=32, n_train=2, n_study=0, seed=0,
                               recipe="C01", fields=("C13",), distant="same_scene", distant_min_distance=2.0)
    ds = make_triplets(tmp_path, out=tmp_path / "ds", settings=settings, composites=[comp], progress=False)
    meta = read_dataset_meta(ds)
    assert meta["fields"]["C13"]["units"] == "K"
    cf, t_mean = [], []
    for _, kind, tile in _tiles(ds):
        assert list(tile.indices) == list(INDEX_NAMES) + ["index_flags", "land_fraction", "surface",
                                                          "cloud_threshold"]
        assert tile.indices["surface"] == 0  # the ocean off California
        f = tile.fields
        # the real scene: marine stratocumulus (tops ~280-288 K), clear ocean (~289 K) and some higher cloud
        assert 200.0 < f["C13_min"] <= f["C13_mean"] <= f["C13_max"] < 305.0
        cf.append(tile.indices["cloud_fraction"])
        t_mean.append(f["C13_mean"])
    assert max(cf) > 0.2  # some tiles are cloudy in band 1
    # the cloudiest tile in band 1 has colder cloud tops than the clearest one in band 13
    assert t_mean[int(np.argmax(cf))] < t_mean[int(np.argmin(cf))]
    # the field composite was made from the same scan's band-13 file
    c13 = list((tmp_path / "composites").rglob("C13_1km/*.nc"))
    assert len(c13) == 1 and DAY in open_composite(c13[0]).source_paths[0]


# --- the demo report -----------------------------------------------------------------
#: per-regime medians measured on 64 km synthetic tiles (4 scenes of 1000 km, tiles >= 80 % one regime;
#: object sizes in km, as regime_medians gives them; the last column, elongation, from the demo's study anchors)
_MEASURED = {
    "clear": (0.011, 0.783, 1.14, 0.161, 11, 1.459, 2.449, 1.000, 1.581),
    "sugar": (0.162, 0.338, 41.2, 0.080, 188, 1.867, 8.124, 0.651, 1.795),
    "gravel": (0.602, 0.477, 19.1, 0.133, 86, 5.344, 43.098, 0.041, 1.515),
    "flowers": (0.316, 0.500, 0.87, 0.362, 4, 18.455, 34.059, 1.000, 1.863),
    "fish": (0.336, 0.623, 3.61, 0.211, 18, 8.816, 31.733, 0.781, 2.515),
    "stratocumulus": (0.954, 0.500, 0.58, 0.343, 3, 34.729, 62.442, 0.024, 1.023),
}


def _medians_frame():
    import pandas as pd

    # the nine indices measured on the demo's study anchors before the scale and shape indices existed
    df = pd.DataFrame.from_dict(_MEASURED, orient="index", columns=list(INDEX_NAMES[:9]))
    df.insert(0, "n_tiles", 50)
    return df


def test_report_checks_the_regime_order_the_generator_made(tmp_path):
    from convml_tt.demo.report import physical_section, regime_index_checks

    df = _medians_frame()
    checks = regime_index_checks(df)
    assert len(checks) >= 5 and all(h is True for _, h in checks), checks
    # sugar with large objects, fewer than gravel: those statements fail
    bad = df.copy()
    bad.loc["sugar", ["mean_object_size_m", "n_objects"]] = [9.0, 20]
    failed = [t for t, h in regime_index_checks(bad) if h is False]
    assert any("smallest cloud objects" in t for t in failed) and any("most cloud objects" in t for t in failed)
    # regimes missing: the statements about them are not checkable rather than wrong
    part = regime_index_checks(df.drop(index=["clear", "flowers"]))
    assert [h for _, h in part] == [None, True, True, True, None, None, True]
    assert all(h is None for _, h in regime_index_checks(df.loc[["flowers", "fish"]]))
    (tmp_path / "physical.png").write_bytes(b"png")
    text = "\n".join(physical_section(df, {"physical": tmp_path / "physical.png", "pc_correlations": None}))
    assert "## Regimes in physical terms" in text and "mean_object_size (km)" in text
    assert f"{len(checks)} of {len(checks)} hold" in text and "![physical](physical.png)" in text
    assert "| sugar | 50 | 0.162 |" in text


def test_regime_medians_of_embeddings(clustered):  # noqa: F811
    from convml_tt.demo.report import regime_medians

    df = regime_medians(_physical(clustered))
    assert list(df.index) == ["clear", "sugar", "gravel"]
    assert list(df.columns) == ["n_tiles", "iorg", "n_objects", "mean_object_size_m"]
    assert list(df["n_objects"]) == [10, 20, 30] and list(df["n_tiles"]) == [8, 8, 8]
    assert regime_medians(clustered) is None  # no indices: no section


def test_regime_map_medians_of_cell_indices():
    import json

    from convml_tt.interpretation.evaluate import map_physical_medians

    regime = np.array([[[0, 0, 1], [1, -1, 2]]], np.int16)
    iorg = np.array([[[0.2, 0.4, 0.6], [0.8, np.nan, 0.5]]], np.float32)
    n_obj = np.array([[[3, 5, 10], [20, -1, -1]]], np.int32)
    size = np.array([[[1e3, 3e3, 5e3], [7e3, np.nan, 2e4]]], np.float32)
    ds = xr.Dataset({"regime": (("time", "y", "x"), regime), "iorg": (("time", "y", "x"), iorg),
                     "n_objects": (("time", "y", "x"), n_obj), "mean_object_size_m": (("time", "y", "x"), size)},
                    attrs={"regime_names": json.dumps(["A", "B", "C"])})
    df = map_physical_medians(ds)
    assert list(df.index) == ["A", "B", "C"] and list(df["n_cells"]) == [2, 2, 1]
    np.testing.assert_allclose(df["iorg"], [0.3, 0.7, 0.5], rtol=1e-6)
    assert list(df["n_objects"].iloc[:2]) == [4.0, 15.0] and np.isnan(df["n_objects"].iloc[2])  # -1: no value
    np.testing.assert_allclose(df["mean_object_size (km)"], [2.0, 6.0, 20.0], rtol=1e-6)
    assert map_physical_medians(ds.drop_vars(["iorg", "n_objects", "mean_object_size_m"])) is None
