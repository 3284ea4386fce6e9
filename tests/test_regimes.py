"""convml_tt.interpretation.regimes (fit, JSON file, assign, fractions, map
quality) and the regime-map plots, on hand-built maps in the map format and
the interpretation fixtures' tile dataset."""
from __future__ import annotations

import json
import pickle
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyproj  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from convml_tt.interpretation.metrics import adjusted_rand_index  # noqa: E402
from convml_tt.interpretation.plots import dendrogram, regime_fractions_plot, regime_map, save_figure  # noqa: E402
from convml_tt.interpretation.regimes import (  # noqa: E402
    Regimes,
    assign_regimes,
    fit_regimes,
    map_quality,
    map_quality_frame,
    open_map,
    regime_fractions,
)
from interp_fixtures import (CLUSTERED_SHA, REGIME_NAMES, clustered, embeddings, regime_dataset,  # noqa: E402,F401
                             tiny_model_file)
from synthetic_fixtures import composited_root  # noqa: E402,F401

LAT0, LON0 = 15.0, -50.0
CENTRES = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
TIMES = pd.date_range("2020-01-02T14:00", periods=3, freq="1h").values


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def cell_layout(nt: int, ny: int, nx: int, k: int = 3) -> np.ndarray:
    """The regime of every cell of the hand-built maps: (t + row + 2 col) % k."""
    t, r, c = np.meshgrid(np.arange(nt), np.arange(ny), np.arange(nx), indexing="ij")
    return (t + r + 2 * c) % k


def make_map(centres=CENTRES, nt=3, ny=4, nx=5, stride=20e3, invalid=((0, 0, 0), (1, 2, 3)), noise=0.1,
             composite="", sha=CLUSTERED_SHA, featurizer="model", seed=0) -> xr.Dataset:
    """An embedding map in the shared map format: cell (t, i, j) embeds near
    ``centres[cell_layout]``; ``invalid`` cells are NaN with valid = 0."""
    rng = np.random.default_rng(seed)
    x = (np.arange(nx) - (nx - 1) / 2) * stride
    y = ((ny - 1) / 2 - np.arange(ny)) * stride  # decreasing: row 0 north
    laea = pyproj.CRS.from_proj4(f"+proj=laea +lat_0={LAT0} +lon_0={LON0} +a=6378137.0 +b=6356752.31414 +units=m")
    lon, lat = pyproj.Transformer.from_crs(laea, laea.geodetic_crs, always_xy=True).transform(*np.meshgrid(x, y))
    r = cell_layout(nt, ny, nx, len(centres))
    emb = (np.asarray(centres)[r] + noise * rng.standard_normal(r.shape + (np.shape(centres)[1],))).astype(np.float32)
    valid = np.ones(r.shape, np.int8)
    true = r.astype(np.int16)
    for cell in invalid:
        emb[cell] = np.nan
        valid[cell] = 0
        true[cell] = -1
    gm = {"grid_mapping": "crs"}
    ds = xr.Dataset(
        {"embedding": (("time", "y", "x", "emb_dim"), emb, gm), "valid": (("time", "y", "x"), valid, gm),
         "true_regime": (("time", "y", "x"), true, gm),
         "true_regime_fraction": (("time", "y", "x"), np.where(true >= 0, 0.8, np.nan).astype(np.float32), gm),
         "composite": (("time",), np.array([composite] * nt)),
         "crs": ((), np.int32(0), {"grid_mapping_name": "lambert_azimuthal_equal_area",
                                   "latitude_of_projection_origin": LAT0, "longitude_of_projection_origin": LON0,
                                   "false_easting": 0.0, "false_northing": 0.0, "semi_major_axis": 6378137.0,
                                   "semi_minor_axis": 6356752.31414})},
        coords={"time": TIMES[:nt], "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
                "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
                "lat": (("y", "x"), lat, {"units": "degrees_north"}), "lon": (("y", "x"), lon, {"units": "degrees_east"}),
                "emb_dim": np.arange(np.shape(centres)[1])},
        attrs={"Conventions": "CF-1.8", "title": "test map", "tile_size_m": stride, "tile_pixels": 16, "stride": stride,
               "domain": [LON0 - 0.5, LAT0 - 0.4, LON0 + 0.5, LAT0 + 0.4], "model_path": "/models/m.pt",
               "model_config": "{}", "model_sha256": sha, "featurizer": featurizer,
               "regime_names": json.dumps(list(REGIME_NAMES))},
    )
    return ds


def hand_regimes(centres=CENTRES, **kw) -> Regimes:
    kw = {"method": "kmeans", "match": [0, 1, 2], "label": "regime", "label_names": list(REGIME_NAMES),
          "model_sha256": CLUSTERED_SHA, **kw}
    return Regimes(centroids=centres, names=["A", "B", "C"][: len(centres)], **kw)


def blobs(n_per=8, k=5, dim=4, seed=3) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, dim))
    x = np.concatenate([c + 0.5 * rng.standard_normal((n_per, dim)) for c in centres])
    return xr.DataArray(x.astype(np.float32), dims=("tile_id", "emb_dim"),
                        coords={"tile_id": np.arange(len(x)) + 100, "regime": ("tile_id", np.repeat(np.arange(k), n_per))},
                        attrs={"stage": "study", "tile_type": "anchor"})


# --- fitting ------------------------------------------------------------------------------
def test_kmeans_recovers_separated_clusters_and_matches_labels(clustered):
    reg = fit_regimes(clustered, 3, method="kmeans", seed=0)
    truth = clustered["regime"].values
    assert adjusted_rand_index(truth, reg.tile_labels.values) == 1.0
    assert reg.names == ["A", "B", "C"] and reg.n_regimes == 3 and reg.emb_dim == 4 and reg.n_tiles == 24
    assert reg.label == "regime" and reg.label_names == list(REGIME_NAMES)
    for i, name in enumerate(reg.names):
        members = reg.tile_labels.values == name
        assert set(truth[members]) == {reg.match[i]}
        np.testing.assert_allclose(reg.centroids[i], clustered.values[members].mean(axis=0), atol=1e-5)
        assert reg.tile_labels.sel(tile_id=reg.example_tile_ids[i]).item() == name
    assert reg.featurizer == "" and reg.model_sha256 == CLUSTERED_SHA and reg.dataset_path == clustered.attrs["dataset_path"]
    # same letters as the Ward leaves: the clusters are the same
    ward = fit_regimes(clustered, 3, method="ward")
    assert list(ward.tile_labels.values) == list(reg.tile_labels.values)


def test_kmeans_letters_from_a_subsample(clustered, monkeypatch):
    import convml_tt.interpretation.regimes as regimes_module

    full = fit_regimes(clustered, 3, seed=0)
    monkeypatch.setattr(regimes_module, "WARD_LETTER_TILES", 12)
    sub = fit_regimes(clustered, 3, seed=0)  # named after the Ward leaves of 12 of the 24 tiles
    assert sorted(sub.names) == ["A", "B", "C"]
    assert adjusted_rand_index(sub.tile_labels.values, full.tile_labels.values) == 1.0
    for i, name in enumerate(sub.names):
        j = full.names.index(full.tile_labels.values[sub.tile_labels.values == name][0])
        np.testing.assert_array_equal(sub.centroids[i], full.centroids[j])


def test_ward_letters_are_the_dendrogram_letters():
    da = blobs()
    reg = fit_regimes(da, 5, method="ward")
    fig, labels = dendrogram(da, n_leaves=5, n_examples=0)
    assert list(reg.tile_labels.values) == list(labels.values)
    for i, name in enumerate(reg.names):
        np.testing.assert_allclose(reg.centroids[i], da.values[labels.values == name].mean(axis=0), atol=1e-5)
    # k-means: each regime named after the Ward leaf it overlaps most, letters unique
    km = fit_regimes(da, 5, method="kmeans", seed=1)
    assert sorted(km.names) == list("ABCDE")
    for name in km.names:
        leaf = labels.values[km.tile_labels.values == name]
        assert pd.Series(leaf).mode()[0] == name
    assert km.match is not None and sorted(km.match) == [0, 1, 2, 3, 4]


def test_tile_type_all_uses_anchors_and_model_hash(tmp_path, clustered):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    stacked = xr.concat([clustered, clustered + 50], dim=pd.Index(["anchor", "neighbor"], name="tile_type"))
    stacked.attrs.update(clustered.attrs, model_path=str(model), tile_type="all")
    del stacked.attrs["model_sha256"]  # embeddings written before they recorded it: the file's hash
    reg = fit_regimes(stacked, 3)
    assert reg.tile_type == "anchor" and reg.featurizer == "model"
    import hashlib

    assert reg.model_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert np.abs(reg.centroids).max() < 10  # the anchors, not the shifted neighbours


@pytest.mark.parametrize("kw, match", [
    ({"n_regimes": 1}, r"2 <= n_regimes <= 24"),
    ({"n_regimes": 25}, r"2 <= n_regimes <= 24"),
    ({"n_regimes": 3, "method": "dbscan"}, r"not one of \('kmeans', 'ward'\)"),
    ({"n_regimes": 3, "label": "cloudiness"}, r"label coordinate 'cloudiness'"),
])
def test_fit_refuses_bad_arguments(clustered, kw, match):
    with pytest.raises(ValueError, match=match):
        fit_regimes(clustered, **kw)


def test_fit_refuses_nan_and_empty(clustered):
    bad = clustered.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 of 24 tiles have NaN.*tile_id 3"):
        fit_regimes(bad, 3)
    with pytest.raises(ValueError, match="empty"):
        fit_regimes(clustered.isel(tile_id=slice(0, 0)), 2)


# --- the JSON file ---------------------------------------------------------------------------
def test_json_round_trip_is_plain_json(tmp_path, clustered):
    reg = fit_regimes(clustered, 3, method="kmeans", seed=2)
    path = reg.save(tmp_path / "regimes.json")
    content = json.loads(path.read_text())
    assert content["format"] == "convml_tt-regimes" and content["version"] == 3 and content["n_regimes"] == 3
    assert isinstance(content["centroids"][0][0], float) and content["names"] == ["A", "B", "C"]
    assert "tile_labels" not in content
    back = Regimes.load(path)
    assert back == reg  # every saved field, centroids exactly
    np.testing.assert_array_equal(back.centroids, reg.centroids)
    assert back.match == reg.match and back.label_names == reg.label_names


def test_load_refuses_other_files(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"centroids": [[0.0]], "names": ["A"]}))
    with pytest.raises(ValueError, match=r"other\.json.*not a convml_tt regimes JSON"):
        Regimes.load(other)
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    pkl = tmp_path / "regimes.pkl"
    pkl.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match=r"regimes\.pkl.*not JSON text"):
        Regimes.load(pkl)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Regimes.load(tmp_path / "missing.json")


# --- assigning -------------------------------------------------------------------------------
def test_assign_known_centroids(tmp_path):
    emap = make_map()
    src = tmp_path / "map.nc"
    emap.to_netcdf(src)
    out = tmp_path / "regime_map.nc"
    rm = assign_regimes(src, hand_regimes(), out=out, progress=False)
    expected = cell_layout(3, 4, 5)
    expected[0, 0, 0] = expected[1, 2, 3] = -1
    np.testing.assert_array_equal(rm["regime"].values, expected)
    assert rm["regime"].dtype == np.int16
    e = emap["embedding"].values.astype(np.float64)
    dist = np.linalg.norm(e - CENTRES[np.clip(expected, 0, 2)], axis=-1)
    np.testing.assert_allclose(rm["regime_distance"].values, np.where(expected >= 0, dist, np.nan), rtol=1e-6)
    assert "embedding" not in rm and "emb_dim" not in rm.dims
    for v in ("lat", "lon", "valid", "true_regime", "true_regime_fraction", "composite", "crs"):
        assert v in rm.variables
    assert json.loads(rm.attrs["regime_names"]) == ["A", "B", "C"] and rm.attrs["n_regimes"] == 3
    assert json.loads(rm.attrs["regime_match"]) == [0, 1, 2]
    assert json.loads(rm.attrs["true_regime_names"]) == list(REGIME_NAMES)
    assert rm["regime"].attrs["flag_meanings"] == "A B C"
    # the file: CF fill value and grid mapping, integers read back as integers
    import netCDF4

    with netCDF4.Dataset(out) as nc:
        assert nc["regime"].getncattr("_FillValue") == -1 and nc["regime"].grid_mapping == "crs"
        assert list(nc["regime"].flag_values) == [0, 1, 2]
    back = open_map(out)
    np.testing.assert_array_equal(back["regime"].values, expected)
    back.close()


def test_assign_refuses_other_model_featurizer_emb_dim():
    emap = make_map(sha="a" * 64)
    with pytest.raises(ValueError, match=r"fitted to 4-dimensional.*emb_dim 3"):
        assign_regimes(emap, hand_regimes(np.zeros((3, 4))), progress=False)
    with pytest.raises(ValueError, match=r"model /models/m\.pt \(sha256 aaaaaaaaaaaa\).*model /other\.pt "
                                         r"\(sha256 bbbbbbbbbbbb\).*use the regimes' model"):
        assign_regimes(emap, hand_regimes(model_sha256="b" * 64, model_path="/other.pt"), progress=False)
    with pytest.raises(ValueError, match=r"'tile_statistics' featurizer.*'model'"):
        assign_regimes(make_map(featurizer="tile_statistics"), hand_regimes(featurizer="model"), progress=False)
    # unknown provenance on either side: refused (nothing shows they come from one model)
    with pytest.raises(ValueError, match=r"the map \(dataset\) does not record the model"):
        assign_regimes(make_map(sha=""), hand_regimes(), progress=False)
    with pytest.raises(ValueError, match=r"the regimes do not record the model"):
        assign_regimes(emap, hand_regimes(model_sha256=""), progress=False)
    assert int(assign_regimes(emap, hand_regimes(model_sha256="a" * 64), progress=False)["regime"].max()) == 2


# --- fractions and quality -------------------------------------------------------------------
def test_fractions_sum_to_one_and_bbox():
    rm = assign_regimes(make_map(invalid=((0, 0, 0),) + tuple((2, i, j) for i in range(4) for j in range(5))),
                        hand_regimes(), progress=False)
    fr = regime_fractions(rm)
    assert fr.dims == ("time", "regime") and list(fr["regime"].values) == ["A", "B", "C"]
    np.testing.assert_allclose(fr.values[:2].sum(axis=1), 1.0)
    assert np.isnan(fr.values[2]).all() and list(fr["n_cells"].values) == [19, 20, 0]
    layout = cell_layout(3, 4, 5)
    np.testing.assert_allclose(fr.values[1], [np.mean(layout[1] == k) for k in range(3)])
    # the eastern half: cells whose centre is east of the central column
    box = (LON0 + 0.05, LAT0 - 1, LON0 + 1, LAT0 + 1)
    frb = regime_fractions(rm, bbox=box)
    np.testing.assert_allclose(frb.values[1], [np.mean(layout[1][:, 3:] == k) for k in range(3)])
    assert list(frb["n_cells"].values) == [8, 8, 0]
    with pytest.raises(ValueError, match=r"holds no cell centre.*lon -50\.\d\d to -49\.\d\d"):
        regime_fractions(rm, bbox=(10.0, 10.0, 11.0, 11.0))
    tf = regime_fractions(rm, variable="true_regime")
    assert list(tf["regime"].values) == list(REGIME_NAMES)
    np.testing.assert_allclose(tf.values[:2], fr.values[:2])  # a perfect map


def test_map_quality_perfect_and_known_errors():
    rm = assign_regimes(make_map(), hand_regimes(), progress=False)
    q = map_quality(rm)
    assert q["map_accuracy"] == 1.0 and q["fraction_mae"] == 0.0 and q["n_cells"] == 58 and q["n_scenes"] == 3
    wrong = rm.copy(deep=True)
    reg = wrong["regime"].values
    for cell in ((0, 1, 1), (1, 0, 4), (2, 3, 0)):
        reg[cell] = (reg[cell] + 1) % 3
    assert map_quality(wrong)["map_accuracy"] == pytest.approx(1 - 3 / 58)
    df = map_quality_frame(wrong, "trained")
    assert list(df.index) == ["trained"] and df.loc["trained", "n_cells"] == 58


def test_fraction_mae_by_hand():
    # time 0: truth 0 0 1 1, regimes 0 1 1 1; time 1: truth 0 1 1 ?, regimes 0 0 1 1
    ds = xr.Dataset({"regime": (("time", "y", "x"), np.array([[[0, 1, 1, 1]], [[0, 0, 1, 1]]], np.int16)),
                     "true_regime": (("time", "y", "x"), np.array([[[0, 0, 1, 1]], [[0, 1, 1, -1]]], np.int16))},
                    coords={"time": TIMES[:2]}, attrs={"regime_match": "[0, 1]", "regime_names": '["A", "B"]'})
    q = map_quality(ds)
    assert q["n_cells"] == 7 and q["map_accuracy"] == pytest.approx(5 / 7)
    assert q["fraction_mae"] == pytest.approx((0.25 + 0.25 + 1 / 3 + 1 / 3) / 4)
    unmatched = ds.copy()
    del unmatched.attrs["regime_match"]
    with pytest.raises(ValueError, match="no 'regime_match'"):
        map_quality(unmatched)
    with pytest.raises(ValueError, match="no 'true_regime'"):
        map_quality(ds.drop_vars("true_regime"))


# --- plots ---------------------------------------------------------------------------------
def write_composite(path, bright_ne=True):
    """A true-colour composite over the test maps' area, dark except for a
    bright north-east quarter (north of LAT0 and east of LON0)."""
    from convml_tt.data.sources.goes_abi import FixedGrid

    grid = FixedGrid()
    lat_c = np.array([LAT0 - 0.8, LAT0 - 0.8, LAT0 + 0.8, LAT0 + 0.8])
    lon_c = np.array([LON0 - 0.9, LON0 + 0.9, LON0 - 0.9, LON0 + 0.9])
    sx, sy = grid.latlon_to_scan(lat_c, lon_c)
    d = 56e-6
    x = np.arange(sx.min(), sx.max() + d, d)
    y = np.arange(sy.max(), sy.min() - d, -d)
    lat, lon = grid.scan_to_latlon(*np.meshgrid(x, y))
    v = np.where((lat > LAT0) & (lon > LON0) & bright_ne, 0.9, 0.04).astype(np.float32)
    ds = xr.Dataset({"rgb": (("y", "x", "channel"), np.stack([v, v, v], axis=-1), {"units": "1"})},
                    coords={"x": x, "y": y, "lat": (("y", "x"), lat), "lon": (("y", "x"), lon),
                            "channel": ["red", "green", "blue"]},
                    attrs={"composite_variable": "rgb", "time_coverage_start": "2020-01-02T14:00:00"})
    ds["goes_imager_projection"] = xr.Variable((), np.int32(0), {
        "perspective_point_height": grid.perspective_point_height, "semi_major_axis": grid.semi_major_axis,
        "semi_minor_axis": grid.semi_minor_axis, "longitude_of_projection_origin": -75.0, "sweep_angle_axis": "x"})
    ds.to_netcdf(path)
    return path


@pytest.fixture()
def plotted(tmp_path, clustered):
    regimes = fit_regimes(clustered, 3, seed=0)
    comp = write_composite(tmp_path / "composite.nc")
    rm = assign_regimes(make_map(regimes.centroids, composite=str(comp)), regimes, progress=False)
    return rm, regimes


def _quadrants(a: np.ndarray) -> dict[str, float]:
    h, w = a.shape[:2]
    g = a[..., :3].astype(float).mean(axis=-1)
    return {"NW": g[: h // 2, : w // 2].mean(), "NE": g[: h // 2, w // 2:].mean(),
            "SW": g[h // 2:, : w // 2].mean(), "SE": g[h // 2:, w // 2:].mean()}


def test_regime_map_is_north_up_with_legend(plotted, tmp_path):
    rm, regimes = plotted
    fig = regime_map(rm, time=0, regimes=regimes)
    assert isinstance(fig, matplotlib.figure.Figure)
    ax, tax = fig.axes[0], fig.axes[1]
    lo, hi = ax.get_ylim()
    assert lo < hi and not ax.yaxis_inverted() and hi > LAT0 > lo
    assert "latitude" in ax.get_ylabel() and "longitude" in ax.get_xlabel()
    q = _quadrants(np.asarray(ax.images[0].get_array()))
    assert q["NE"] > 150 and max(q["NW"], q["SW"], q["SE"]) < 80
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())
    bb = ax.get_window_extent()
    h = buf.shape[0]
    crop = buf[int(h - bb.y1) + 2: int(h - bb.y0) - 2, int(bb.x0) + 2: int(bb.x1) - 2]
    q = _quadrants(crop)
    assert q["NE"] > max(q["NW"], q["SW"], q["SE"]) + 60  # bright quarter top-right on screen
    legends = {lg.get_title().get_text(): lg for lg in fig.findobj(Legend)}
    leg = next(lg for t, lg in legends.items() if t.startswith("regime"))
    # the regimes, then the grey entry of the cells beyond the regimes' unassigned distance
    assert [t.get_text().split()[0] for t in leg.get_texts()] == ["A", "B", "C", "unassigned"]
    assert "true regime" in legends and "true regimes" in tax.get_title()
    assert save_figure(fig, tmp_path / "map.png").stat().st_size > 10_000
    # a datetime picks the nearest scene; without truth a single panel
    fig2 = regime_map(rm, time=pd.Timestamp(TIMES[1]) + pd.Timedelta("5min"), truth=False)
    assert "15:00" in fig2._suptitle.get_text() and len(fig2.axes) == 2
    with pytest.raises(ValueError, match="more than an hour"):
        regime_map(rm, time="2021-01-01")


def test_regime_fractions_plot_stacks(plotted):
    rm, _ = plotted
    fig = regime_fractions_plot(rm)
    ax, tax = fig.axes[0], fig.axes[1]
    # one stack of bars per regime (and the grey unassigned one) / label
    assert len(ax.containers) == 4 and len(tax.containers) == 3
    assert len(_dashed_levels(tax)) == 2
    assert ax.get_ylim() == (0.0, 1.0) and "UTC" in tax.get_xlabel()
    fig1 = regime_fractions_plot(rm, bbox=(LON0, LAT0 - 1, LON0 + 1, LAT0 + 1), truth=False)
    assert len(fig1.axes) == 1 and "lon -50..-49" in fig1._suptitle.get_text()


# --- regime-map files and a real composite ----------------------------------------------------
def test_is_regime_map_and_load_regime_map(tmp_path):
    from convml_tt.interpretation.regimes import is_regime_map, load_regime_map

    emap = make_map()
    emap.to_netcdf(tmp_path / "map.nc")
    assign_regimes(emap, hand_regimes(), out=tmp_path / "regime_map.nc", progress=False)
    text = tmp_path / "notes.txt"
    text.write_text("regime(time, y, x)\n")
    fake_hdf = tmp_path / "fake.nc"
    fake_hdf.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert is_regime_map(tmp_path / "regime_map.nc")
    for other in (text, fake_hdf, tmp_path / "map.nc", tmp_path / "missing.nc", tmp_path, None, 3):
        assert is_regime_map(other) is False
    rm = load_regime_map(tmp_path / "regime_map.nc")
    assert rm["regime"].dtype == np.int16 and int(rm["regime"].values[0, 0, 0]) == -1
    assert map_quality(rm)["map_accuracy"] == 1.0
    for other in (text, tmp_path / "map.nc"):
        with pytest.raises(ValueError, match=rf"{other.name}' is not a regime map") as err:
            load_regime_map(other)
        assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_regime_map(tmp_path / "missing.nc")


def test_fit_from_embeddings_file(tmp_path, clustered):
    from convml_tt.interpretation.embeddings import save_embeddings

    path = save_embeddings(clustered, tmp_path / "emb.nc")
    a, b = fit_regimes(path, 3, method="ward"), fit_regimes(clustered, 3, method="ward")
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-6)
    assert a.names == b.names and a.match == b.match and a.label_names == list(REGIME_NAMES)


def test_background_of_a_real_composite_is_north_up(composited_root):
    """The composite's display image resampled onto lat/lon: each pixel holds
    the composite pixel nearest its lat/lon (so rows run north to south)."""
    from scipy.spatial import cKDTree

    from convml_tt.data.composites import load_composite
    from convml_tt.data.composites.enhance import to_display
    from convml_tt.interpretation.plots.maps import background

    path = sorted(composited_root.rglob("composites/**/*.nc"))[0]
    extent = (-50.4, -49.7, 14.7, 15.3)
    bg = background(path, extent, max_pixels=120)
    assert bg.dtype == np.uint8 and bg.shape[2] == 4 and (bg[..., 3] == 255).mean() > 0.99
    ds = load_composite(path, load=True)
    lat, lon = ds["lat"].values.ravel(), ds["lon"].values.ravel()
    disp = to_display(ds["rgb"].transpose("y", "x", "channel").values, "1").reshape(-1, 3).astype(float)
    ny, nx = bg.shape[:2]
    lons = extent[0] + (np.arange(nx) + 0.5) * (extent[1] - extent[0]) / nx
    lats = extent[3] - (np.arange(ny) + 0.5) * (extent[3] - extent[2]) / ny
    lon2, lat2 = np.meshgrid(lons, lats)
    _, nearest = cKDTree(np.c_[lat, lon * np.cos(np.radians(15))]).query(np.c_[lat2.ravel(), lon2.ravel() * np.cos(np.radians(15))])
    want = disp[nearest].mean(axis=1)
    got = bg[..., :3].astype(float).mean(axis=2)
    assert np.corrcoef(got.ravel(), want)[0, 1] > 0.9
    assert np.corrcoef(got[::-1].ravel(), want)[0, 1] < 0.5  # upside down it would not match


def test_regime_map_over_a_real_composite(composited_root, clustered):
    paths = sorted(composited_root.rglob("composites/**/*.nc"))
    regimes = fit_regimes(clustered, 3, seed=0)
    emap = make_map(regimes.centroids, ny=5, nx=6).assign(composite=("time", np.array([str(p) for p in paths])))
    rm = assign_regimes(emap, regimes, progress=False)
    fig = regime_map(rm, time=2, regimes=regimes)
    ax = fig.axes[0]
    (img,) = ax.images
    assert (np.asarray(img.get_array())[..., 3] == 255).mean() > 0.9  # the composite covers the map
    assert ax.get_ylim()[0] < ax.get_ylim()[1]
    mesh = [c for c in ax.collections if c.get_array() is not None]
    assert len(mesh) == 1 and 0 < mesh[0].get_alpha() < 1  # cells semi-transparent over the image
    leg = next(lg for lg in fig.findobj(Legend) if lg.get_title().get_text().startswith("regime"))
    assert len(leg.get_texts()) == 4  # and the unassigned cells' entry


def test_fractions_plot_single_scene_and_empty_scene(plotted):
    rm, _ = plotted
    fig = regime_fractions_plot(rm.isel(time=[0]), truth=False)
    assert len(fig.axes[0].containers) == 4  # one stacked bar per regime, and the unassigned one
    empty = rm.copy(deep=True)
    empty["regime"].values[1] = -1  # a scene without valid cells: a gap, no warning
    fig = regime_fractions_plot(empty)
    assert len(fig.axes[0].containers) == 4
    fig = regime_map(empty, time=1, truth=False)  # no regime cell: the composite only
    assert len(fig.axes[0].images) == 1


def test_end_to_end_with_embed_domain(composited_root, tmp_path):
    """embed_domain (tile statistics, synthetic truth) -> fit on the map's own
    cells -> assign from the file -> quality, fractions and plots."""
    from convml_tt.data.synthetic import REGIMES, RegimeLabeler
    from convml_tt.interpretation.maps import embed_domain

    comps = sorted(composited_root.rglob("composites/**/*.nc"))
    emap = embed_domain("tile_statistics", comps, tile_size_m=40e3, stride=20e3, tile_pixels=32, progress=False,
                        labeler=RegimeLabeler(), out=tmp_path / "map.nc")
    cells = emap[["embedding", "true_regime"]].stack(tile_id=("time", "y", "x")).load()
    emap.close()
    ok = np.isfinite(cells["embedding"].values).all(axis=0)
    tiles = xr.DataArray(cells["embedding"].values[:, ok].T, dims=("tile_id", "emb_dim"),
                         coords={"tile_id": np.arange(ok.sum()), "regime": ("tile_id", cells["true_regime"].values[ok])},
                         attrs={"featurizer": "tile_statistics"})
    reg = fit_regimes(tiles, 3, seed=0)
    rm = assign_regimes(tmp_path / "map.nc", reg, out=tmp_path / "regime_map.nc", progress=False)
    assert json.loads(rm.attrs["true_regime_names"]) == list(REGIMES)
    assert int(((rm["regime"] >= 0) | (rm["regime"] == -2)).sum()) == int(ok.sum())  # -2: unassigned
    q = map_quality(tmp_path / "regime_map.nc")
    known = rm["true_regime"].values >= 0
    n_un = int(((rm["regime"].values == -2) & known).sum())  # unassigned cells: left out of the scores
    assert q["n_cells"] + n_un == int((cells["true_regime"].values[ok] >= 0).sum()) and 0 < q["map_accuracy"] <= 1
    assert q["unassigned_share"] == pytest.approx(n_un / (q["n_cells"] + n_un)) and n_un > 0
    fr = regime_fractions(rm)
    np.testing.assert_allclose(fr.sum("regime").values + fr["unassigned_fraction"].values, 1.0)
    fig = regime_map(tmp_path / "regime_map.nc", time=0)
    assert len(fig.axes[0].images) == 1 and "true regimes" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="'tile_statistics' featurizer but the regimes with 'model'"):
        assign_regimes(tmp_path / "map.nc", hand_regimes(reg.centroids, featurizer="model"), progress=False)


@pytest.mark.parametrize("change, match", [
    ({"version": "one"}, r'"version" is \'one\', not a whole number'),
    ({"method": "spectral"}, r'"method" is \'spectral\', not one of'),
    ({"centroids": [[0.0, float("nan"), 0.0]] * 3}, "not a table of finite numbers"),
    ({"names": ["A"]}, "1 names for 3 centroids"),
])
def test_load_refuses_damaged_regimes_files(tmp_path, change, match):
    content = {**hand_regimes().to_dict(), **change}
    path = tmp_path / "regimes.json"
    path.write_text(json.dumps(content))  # NaN written as the non-standard NaN literal
    with pytest.raises(ValueError, match=match) as err:
        Regimes.load(path)
    assert "regimes.json" in str(err.value) and "\n" not in str(err.value)


def test_regime_map_times_and_a_moved_dataset(plotted):
    rm, regimes = plotted
    for bad in ("yesterday", None, True):
        with pytest.raises(ValueError, match=r"neither a scene index \(0\.\.2\) nor a date/time"):
            regime_map(rm, time=bad)
    assert "16:00" in regime_map(rm, time=-1)._suptitle.get_text()
    moved = Regimes(**{**vars(regimes), "dataset_path": "/nowhere/dataset", "tile_labels": None})
    fig = regime_map(rm, time="2020-01-02T15:00Z", regimes=moved)  # legend without example tiles
    assert "15:00" in fig._suptitle.get_text()
    with pytest.raises(FileNotFoundError, match="dataset_path"):
        regime_map(rm, regimes=moved, dataset_path="/nowhere/else")


def test_fractions_plot_true_fractions_dashed_on_the_regimes():
    rm = assign_regimes(make_map(noise=1.5, seed=2), hand_regimes(), progress=False)
    ax = regime_fractions_plot(rm).axes[0]
    dashed = _dashed_levels(ax)
    tf = regime_fractions(rm, variable="true_regime").values
    assert len(dashed) == 2  # between A|B and B|C, at the true fractions of clear, clear + sugar
    np.testing.assert_allclose(dashed[0], tf[:, 0])
    np.testing.assert_allclose(dashed[1], tf[:, 0] + tf[:, 1])
    # regimes A and C both matched to label 0: no boundary of the stack separates labels
    rm.attrs["regime_match"] = "[0, 1, 0]"
    ax = regime_fractions_plot(rm).axes[0]
    assert not _dashed_levels(ax)


def _dashed_levels(ax) -> list:
    """The dashed levels of a fractions panel: per level, its height on each scene's bar."""
    from matplotlib.collections import LineCollection

    return [np.array([seg[0][1] for seg in c.get_segments()])
            for c in ax.collections if isinstance(c, LineCollection)]


def test_more_regimes_than_labels_match_only_labels_present():
    """Regimes beyond the labels the fitting tiles have get their majority label,
    never a label no tile has (Hungarian over the labels present only)."""
    import numpy as np
    import xarray as xr

    from convml_tt.interpretation.regimes import fit_regimes

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.normal(0, 0.3, (20, 2)) for c in centres])
    labels = np.array([3] * 40 + [4] * 20)  # labels 0-2 never occur; two clusters share label 3
    names = np.array(["flowers"] * 40 + ["fish"] * 20)
    da = xr.DataArray(x, dims=("tile_id", "emb_dim"),
                      coords={"tile_id": np.arange(60), "regime": ("tile_id", labels),
                              "regime_name": ("tile_id", names)})
    r = fit_regimes(da, 3, seed=0)
    assert sorted(r.match) == [3, 3, 4]
    assert {r.label_names[m] for m in r.match} == {"flowers", "fish"}


# --- regimes files validated; a map and its regimes come from one model (issue 26) --------------
def _cli(capsys, *argv):
    """The command line, in this process: (exit status, stdout, stderr)."""
    from convml_tt.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error_line(r, command: str) -> str:
    rc, _, err = r
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"convml_tt {command}: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("change, words", [
    ({"match": [99, 99, 99]}, r"match \[99, 99, 99\] holds 99, out of range: each regime's match is -1 \(none\) "
                              r"or 0\.\.2, an index of label_names"),
    ({"match": [0, -2, 1]}, r"holds -2, out of range"),
    ({"match": [0, 1.5, 2]}, r"match \[0, 1\.5, 2\] is not a list of whole numbers"),
    ({"match": [0, 1]}, r"not one whole number per regime \(3\)"),
    ({"names": ["A", "A", "B"]}, r"regime names \['A', 'A', 'B'\] are not distinct.*'A' given twice"),
    ({"names": ["A", " ", "B"]}, r"not distinct non-empty names"),
    ({"model_sha256": ""}, r"model_sha256 '' is not the SHA-256 of the model"),
    ({"model_sha256": None}, r"model_sha256 None is not the SHA-256"),
    ({"model_sha256": "abc"}, r"model_sha256 'abc' is not the SHA-256"),
    ({"n_regimes": 6}, r"n_regimes 6 disagrees with its centroids \(3\)"),
    ({"emb_dim": 7}, r"emb_dim 7 disagrees with its centroids \(3\)"),
    ({"example_tile_ids": [4, 5]}, r"example_tile_ids \[4, 5\] are not one tile id >= 0 per regime"),
    ({"featurizer": "magic"}, r"featurizer 'magic' is not one of"),
    ({"label_names": "clear"}, r"label_names 'clear' are not a list of texts"),
])
def test_a_regimes_file_is_validated_on_load(tmp_path, change, words, capsys):
    path = tmp_path / "regimes.json"
    content = hand_regimes().to_dict()
    content.update(change)
    if change.get("model_sha256", 0) is None:
        del content["model_sha256"]
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=words) as err:
        Regimes.load(path)
    assert str(err.value).startswith(f"regimes file {str(path)!r} is damaged: ") and "\n" not in str(err.value)
    # the CLI: one line naming the file, and no regime map written
    emap = make_map()
    emap.to_netcdf(tmp_path / "map.nc")
    r = _cli(capsys, "regimes", "assign", tmp_path / "map.nc", path, "--out", tmp_path / "rm.nc", "--quiet")
    assert "regimes.json' is damaged" in _error_line(r, "regimes")
    assert not (tmp_path / "rm.nc").exists()


def test_regimes_without_a_model_are_not_saved(tmp_path, clustered):
    reg = fit_regimes(clustered.assign_attrs(model_sha256=""), 3)
    with pytest.raises(ValueError, match="the regimes do not record the model"):
        reg.save(tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()
    # the tile-statistics featurizer has no model: its regimes need none
    stats = fit_regimes(clustered.assign_attrs(model_sha256="", model="tile statistics"), 3)
    assert stats.featurizer == "tile_statistics"
    assert Regimes.load(stats.save(tmp_path / "stats.json")) == stats


def test_the_legend_of_a_regime_map_is_its_own_regimes(tmp_path, clustered, capsys):
    """Only the regimes a map was assigned with give its legend (names and
    example tiles): not a 6-regime file for a 3-regime map, not another
    model's regimes, not another fit of the same model."""
    regimes = fit_regimes(clustered, 3, seed=0)
    regimes.save(tmp_path / "regimes.json")
    make_map(regimes.centroids).to_netcdf(tmp_path / "map.nc")
    assert _cli(capsys, "regimes", "assign", tmp_path / "map.nc", tmp_path / "regimes.json",
                "--out", tmp_path / "rm.nc", "--quiet")[0] == 0
    six = fit_regimes(clustered, 6, seed=0)
    six.save(tmp_path / "six.json")
    other_model = Regimes(**{**vars(regimes), "model_sha256": "d" * 64, "tile_labels": None})
    other_model.save(tmp_path / "other_model.json")
    refit = Regimes(**{**vars(regimes), "centroids": regimes.centroids + 0.5, "tile_labels": None})
    refit.save(tmp_path / "refit.json")
    for name, words in (("six", r"the regimes \(6: A, B, C, D, E, F\) are not those of regime map '.*rm\.nc' "
                                r"\(3: A, B, C\)"),
                        ("other_model", r"fitted to embeddings of another model \(sha256 dddddddddddd\)"),
                        ("refit", r"are not the ones regime map '.*rm\.nc' was assigned with")):
        r = _cli(capsys, "plot", "map", tmp_path / "rm.nc", "--regimes", tmp_path / f"{name}.json",
                 "--out", tmp_path / f"{name}.png")
        assert re.search(words, _error_line(r, "plot")), (name, r)
        assert not (tmp_path / f"{name}.png").exists()
    # its own regimes (from the file) draw the legend
    r = _cli(capsys, "plot", "map", tmp_path / "rm.nc", "--regimes", tmp_path / "regimes.json",
             "--out", tmp_path / "ok.png")
    assert r[0] == 0, r


@pytest.mark.parametrize("attrs, words", [
    ({"regime_match": "[99, 99, 99]"}, r"has regime_match \[99, 99, 99\]: not one true-label index \(-1\.\.2\)"),
    ({"regime_names": '["A", "A", "B"]'}, r"names its regimes \['A', 'A', 'B'\]: not distinct"),
    ({"regime_names": '["A", "B"]', "n_regimes": 2}, r"holds regime codes -1\.\.2 but names 2 regimes"),
    ({"regimes_model_sha256": "e" * 64}, r"holds regimes of another model \(sha256 eeeeeeeeeeee\) than its "
                                         r"embeddings \(sha256 cccccccccccc\)"),
    ({"regimes_model_sha256": ""}, r"does not record the model of its regimes"),
])
def test_a_regime_map_whose_parts_disagree_is_refused(tmp_path, attrs, words, capsys):
    """evaluate, plot fractions and plot map refuse a regime map whose names,
    codes, match or models disagree (evaluate printed map_accuracy 0.000)."""
    import netCDF4

    rm = tmp_path / "rm.nc"
    assign_regimes(make_map(), hand_regimes(), out=rm, progress=False)
    with netCDF4.Dataset(rm, "a") as nc:
        for k, v in attrs.items():
            nc.setncattr(k, v)
    for argv in (["evaluate", rm], ["plot", "fractions", rm, "--out", tmp_path / "f.png"],
                 ["plot", "map", rm, "--out", tmp_path / "m.png"]):
        r = _cli(capsys, *argv)
        line = _error_line(r, argv[0])
        assert re.search(words, line) and "rm.nc" in line, (argv, line)
        assert "map_accuracy" not in r[1]
    assert not list(tmp_path.glob("*.png"))


def test_evaluate_refuses_another_model_than_the_embeddings(tmp_path, embeddings, regime_dataset,
                                                            tiny_model_file, capsys):
    import torch

    from convml_tt.architectures import TripletEncoder, save_model
    from convml_tt.interpretation.embeddings import save_embeddings
    from convml_tt.interpretation.featurizers import model_sha256

    assert embeddings.attrs["model_sha256"] == model_sha256(tiny_model_file)
    torch.manual_seed(1)
    other = save_model(TripletEncoder("resnet18", n_input_channels=3, emb_dim=8, head="linear", dropout=0.0,
                                      config={"tile_pixels": 32}), tmp_path / "other.pt")
    save_embeddings(embeddings, tmp_path / "emb.nc")
    r = _cli(capsys, "evaluate", tmp_path / "emb.nc", "--model", other, "--device", "cpu", "--no-baselines")
    line = _error_line(r, "evaluate")
    assert f"the model {other} (sha256 {model_sha256(other)[:12]}) is not the one that made the embeddings" in line
