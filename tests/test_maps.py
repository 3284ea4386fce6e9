"""Embedding maps: the grid sampler (geometry, edges, invalid cells) and
embed_domain (row order, resume, model embeddings, truth labels, CF files)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from convml_tt.data.composites.enhance import to_display
from convml_tt.data.composites.reader import open_composite
from convml_tt.data.sampling import GridSampler
from convml_tt.data.tiles import serial_blas
from convml_tt.interpretation import maps
from convml_tt.interpretation.maps import embed_domain, load_map

from interp_fixtures import tiny_model_file  # noqa: F401
from synthetic_fixtures import DOMAIN, composited_root  # noqa: F401

TILE, PX, STRIDE = 40e3, 16, 20e3
#: DOMAIN moved east: its eastern part lies outside the composites
EAST = (DOMAIN[0] + 0.75, DOMAIN[1], DOMAIN[2] + 0.75, DOMAIN[3])


@pytest.fixture(scope="module")
def comps(composited_root):
    return sorted(str(p) for p in (composited_root / "composites").rglob("*.nc"))


def _inside(tile, domain, tol=1e-9) -> bool:
    lat, lon = tile.outline(points_per_side=16)
    return bool(np.all((lat >= domain[1] - tol) & (lat <= domain[3] + tol)
                       & (lon >= domain[0] - tol) & (lon <= domain[2] + tol)))


# --- the grid ---------------------------------------------------------------------------
@pytest.mark.parametrize("tile_size_m, stride", [(40e3, 20e3), (60e3, 33e3), (25e3, 25e3), (40e3, 7.5e3)])
def test_grid_edges_and_extent(tile_size_m, stride):
    g = GridSampler(DOMAIN, tile_size_m, PX, stride, {"map": []})
    ny, nx = g.shape
    x_w, x_e, y_s, y_n = g.extent
    assert g.n_cells == nx * ny and g.lat.shape == g.lon.shape == (ny, nx)
    # west to east, north to south, exactly stride apart, symmetric about the extent's middle
    assert np.allclose(np.diff(g.x), stride) and np.allclose(np.diff(g.y), -stride)
    assert np.isclose(g.x[0] + g.x[-1], x_w + x_e) and np.isclose(g.y[0] + g.y[-1], y_s + y_n)
    assert np.all(np.diff(g.lat, axis=0) < 0) and np.all(np.diff(g.lon, axis=1) > 0)
    # the first/last tiles inside the extent, their centres within tile/2 + stride of its edges
    h = tile_size_m / 2
    for first, last, lo, hi in ((g.x[0], g.x[-1], x_w, x_e), (g.y[-1], g.y[0], y_s, y_n)):
        assert lo + h - 1e-6 <= first <= lo + h + stride
        assert hi - h - stride <= last <= hi - h + 1e-6
    # no off-by-one: one more column / row would not fit the extent
    assert nx * stride + tile_size_m > x_e - x_w and ny * stride + tile_size_m > y_n - y_s
    # every tile lies inside the lat/lon domain; centres round-trip through the frame
    assert all(_inside(g.tile(c), DOMAIN) for c in range(g.n_cells))
    x, y = g.to_xy(g.lat, g.lon)
    # (PROJ's ellipsoidal LAEA inverse is good to a few mm)
    assert np.allclose(x, g.x[None, :], atol=1e-2) and np.allclose(y, g.y[:, None], atol=1e-2)
    # the extent lies inside the projected domain outline
    lat_w = np.linspace(DOMAIN[1], DOMAIN[3], 50)
    xw, _ = g.to_xy(lat_w, np.full(50, DOMAIN[0]))
    assert x_w >= xw.max() - 1e-6 and x_w == pytest.approx(xw.max(), abs=1.0)
    attrs = g.grid_mapping_attrs()
    assert attrs["grid_mapping_name"] == "lambert_azimuthal_equal_area"
    assert attrs["latitude_of_projection_origin"] == pytest.approx((DOMAIN[1] + DOMAIN[3]) / 2)


def test_grid_bad_input_one_line_errors():
    for kw, match in ((dict(stride=0), "stride 0.0 must be a positive"),
                      (dict(stride=-5e3), "must be a positive number of metres"),
                      (dict(stride=1e6), "stride 1000 km is larger than the domain"),
                      (dict(tile_size_m=1e6), "tile size 1000 km is larger than the domain"),
                      (dict(method="cubic"), "method 'cubic'")):
        args = dict(tile_size_m=TILE, tile_pixels=PX, stride=STRIDE, scenes={"map": []}) | kw
        with pytest.raises(ValueError, match=match) as err:
            GridSampler(DOMAIN, **args)
        assert "\n" not in str(err.value)


def test_grid_tiles_are_the_readers_and_invalid_cells_marked(comps):
    g = GridSampler(EAST, TILE, PX, STRIDE, {"map": comps})
    reader = open_composite(comps[1])
    with serial_blas():  # as embed_domain and the triplet writer cut tiles
        seen = dict(g.scene_tiles("map", 1))
    assert sorted(seen) == list(range(g.n_cells))
    invalid = [c for c, im in seen.items() if im is None]
    assert 0 < len(invalid) < g.n_cells  # the east is outside, never dropped
    cols = {c % g.shape[1] for c in invalid}
    assert min(cols) > g.shape[1] // 3 and (g.shape[1] - 1) in cols
    with serial_blas():
        for cell in range(0, g.n_cells, 3):
            want = reader.tile_planes(g.tile(cell), "bilinear")
            drawn = g.sample("map", g.n_cells + cell)["tile"]
            assert drawn.scene == 1 and (drawn.tile.lat0, drawn.tile.lon0) == (g.tile(cell).lat0, g.tile(cell).lon0)
            if want is None:
                assert seen[cell] is None and drawn.image is None
            else:
                assert np.array_equal(seen[cell], want)
                assert np.array_equal(drawn.image, np.moveaxis(want, 0, -1))


# --- row order ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asymmetric(comps, tmp_path_factory):
    """A copy of a real composite whose values are a north-south gradient
    (bright north) plus one bright patch in the north-east corner."""
    import netCDF4

    path = tmp_path_factory.mktemp("asym") / "asymmetric.nc"
    shutil.copy(comps[0], path)
    with netCDF4.Dataset(path, "a") as nc:
        var = nc[nc.getncattr("composite_variable")]
        lat, lon = np.asarray(nc["lat"][:], float), np.asarray(nc["lon"][:], float)
        v = 0.05 + 0.45 * (lat - DOMAIN[1]) / (DOMAIN[3] - DOMAIN[1])
        v[(lat > DOMAIN[3] - 0.3) & (lon > DOMAIN[2] - 0.3)] = 0.95
        var[:] = np.repeat(v[:, :, None], var.shape[2], axis=2).astype(np.float32)
    return str(path)


def test_map_is_north_up_rows_north_to_south(asymmetric):
    ds = embed_domain("tile_statistics", [asymmetric], TILE, STRIDE, tile_pixels=PX, domain=DOMAIN,
                      progress=False)
    assert ds.attrs["featurizer"] == "tile_statistics" and ds.attrs["model_sha256"] == ""
    bright = ds["embedding"].isel(time=0, emb_dim=0).values  # mean of channel 0 (display, 0..1)
    ny, nx = bright.shape
    r, c = np.unravel_index(np.argmax(bright), bright.shape)
    assert r == 0 and c == nx - 1  # the NE corner: first row, last column
    assert np.all(np.diff(bright.mean(axis=1)) < 0)  # darker towards the south
    assert np.all(np.diff(ds["lat"].values[:, 0]) < 0) and np.all(np.diff(ds["y"].values) < 0)
    assert ds["lat"].values[r, c] > ds["lat"].values[-1, 0] and ds["lon"].values[r, c] > ds["lon"].values[-1, 0]


# --- invalid cells, resume ------------------------------------------------------------------
def test_invalid_cells_are_marked_not_dropped(comps):
    from convml_tt.data.synthetic import RegimeLabeler

    g = GridSampler(EAST, TILE, PX, STRIDE, {"map": comps})
    ds = embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, domain=EAST, progress=False,
                      labeler=RegimeLabeler())
    assert ds["valid"].shape == (len(comps), *g.shape) and ds["valid"].dtype == np.int8
    valid = ds["valid"].values.astype(bool)
    assert valid.any() and not valid.all()
    assert valid[:, :, 0].all() and not valid[:, :, -1].any()  # west inside, east outside
    emb = ds["embedding"].values
    assert np.isnan(emb[~valid]).all() and np.isfinite(emb[valid]).all()
    assert (ds["true_regime"].values[~valid] == -1).all() and (ds["true_regime"].values[valid] >= 0).all()
    assert np.isnan(ds["true_regime_fraction"].values[~valid]).all()


#: the map's own part writer (tests replace it to stop a run after its first part)
_WRITE_PART = maps._write_part


def _stop_after_one_part(monkeypatch) -> list:
    """Make ``embed_domain`` write one part and then stop with KeyboardInterrupt;
    returns the list of the parts written (the one)."""
    written: list = []

    def first_only(path, *args):
        if written:
            raise KeyboardInterrupt("stopped after one scene")
        written.append(path)
        _WRITE_PART(path, *args)

    monkeypatch.setattr(maps, "_write_part", first_only)
    return written


def test_resume_after_an_interruption(comps, tmp_path, monkeypatch):
    out = tmp_path / "map.nc"
    parts = tmp_path / ".map.nc.parts"
    real = _WRITE_PART
    written = _stop_after_one_part(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False)
    assert not out.exists() and [p.name for p in parts.iterdir()] == [written[0].name]

    redone = []

    def counting(path, *args):
        redone.append(path)
        real(path, *args)

    monkeypatch.setattr(maps, "_write_part", counting)
    ds = embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False)
    assert len(redone) == len(comps) - 1 and written[0] not in redone  # the first scene not recomputed
    assert not parts.exists()
    whole = embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=tmp_path / "whole.nc",
                         progress=False)
    xr.testing.assert_identical(ds.load(), whole.load())
    ds.close(), whole.close()

    # a run with other settings never mixes in the parts of this one
    _stop_after_one_part(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False)
    redone.clear()
    monkeypatch.setattr(maps, "_write_part", counting)
    embed_domain("tile_statistics", comps, TILE, 1.5 * STRIDE, tile_pixels=PX, out=out, progress=False).close()
    assert len(redone) == len(comps) and not parts.exists()


# --- a model ----------------------------------------------------------------------------------
def test_model_map_equals_embed_tiles_of_hand_cut_tiles(comps, tiny_model_file):  # noqa: F811
    import torch

    from convml_tt.architectures import load_model
    from convml_tt.architectures.inference import embed_tiles
    from convml_tt.data.tiles import Tile

    model = load_model(tiny_model_file, device="cpu")
    ds = embed_domain(tiny_model_file, comps, TILE, STRIDE, domain=EAST, device="cpu",
                      progress=False)
    assert ds.attrs["tile_pixels"] == model.config["tile_pixels"]  # the default: the model's training tiles
    assert ds.attrs["featurizer"] == "model" and ds.sizes["emb_dim"] == 8
    assert ds.attrs["model_sha256"] == maps.model_sha256(tiny_model_file)
    assert ds.attrs["model_path"] == str(tiny_model_file.resolve())
    px = ds.attrs["tile_pixels"]
    scene, r, c = 2, 1, 2
    assert ds["valid"].values[scene, r, c] == 1
    reader = open_composite(comps[scene])
    with serial_blas():
        image = reader.tile(Tile(float(ds["lat"][r, c]), float(ds["lon"][r, c]), TILE, px), "bilinear")
    tile = np.moveaxis(to_display(image, reader.units), -1, 0)[None]
    want = embed_tiles(model, torch.from_numpy(np.ascontiguousarray(tile)), device="cpu").numpy()[0]
    np.testing.assert_allclose(ds["embedding"].values[scene, r, c], want, rtol=1e-5, atol=1e-6)

    # the same map from cutting workers
    again = embed_domain(model, comps, TILE, STRIDE, domain=EAST, device="cpu", progress=False,
                         num_workers=1, featurizer_name="untrained")
    np.testing.assert_allclose(again["embedding"].values, ds["embedding"].values, rtol=1e-5, atol=1e-6)
    assert again.attrs["featurizer"] == "untrained" and again.attrs["model_path"] == ""


def test_embed_domain_refusals(comps, tiny_model_file, tmp_path):  # noqa: F811
    from convml_tt.architectures import TripletEncoder

    one_channel = TripletEncoder("resnet18", n_input_channels=1, emb_dim=4, config={"tile_pixels": PX})
    cases = [
        (dict(model=one_channel), ValueError, "takes 1-channel tiles but the composites have 3 channel"),
        (dict(composites=[]), ValueError, "no composites given"),
        (dict(composites=[str(tmp_path / "none.nc")]), FileNotFoundError, "does not exist"),
        (dict(stride=0), ValueError, "stride 0.0 must be a positive"),
        (dict(stride=1e6), ValueError, "larger than the domain"),
        (dict(tile_size_m=1e6), ValueError, "tile size 1000 km is larger than the domain"),
        (dict(domain=(-60.0, 20.0, -58.0, 22.0)), ValueError, "the domain lies outside the scenes"),
        (dict(model="tile_statistics", tile_pixels=None), ValueError, "tile_pixels is needed"),
        (dict(model="tile_statistics", tile_size_m=None), ValueError, "tile_size_m is needed"),
        (dict(out=tmp_path), ValueError, "is a folder"),
    ]
    for kw, exc, match in cases:
        args = dict(model=tiny_model_file, composites=comps, tile_size_m=TILE, stride=STRIDE, tile_pixels=PX,
                    device="cpu", progress=False) | kw
        with pytest.raises(exc, match=match) as err:
            embed_domain(**args)
        assert "\n" not in str(err.value)
    assert not list(tmp_path.glob(".*.parts"))


# --- truth labels, the file ---------------------------------------------------------------------
def test_true_regime_agrees_with_the_label_map(comps, tmp_path):
    from convml_tt.data.synthetic import REGIMES, RegimeLabeler, load_regime_labels, regime_at

    out = tmp_path / "truth.nc"
    embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False,
                 labeler=RegimeLabeler()).close()
    ds = load_map(out)
    assert ds["true_regime"].dtype == np.int16 and ds["true_regime_fraction"].dtype == np.float32
    assert json.loads(ds.attrs["regime_names"]) == list(REGIMES)
    agree = pure = 0
    for k, path in enumerate(ds["composite"].values):
        labels = load_regime_labels(open_composite(str(path)).source_paths[0])
        at_centre = regime_at(labels, ds["lat"].values, ds["lon"].values)
        truth, frac = ds["true_regime"].values[k], ds["true_regime_fraction"].values[k]
        agree += int((truth == at_centre).sum())
        whole = frac == 1.0
        pure += int(whole.sum())
        assert (truth[whole] == at_centre[whole]).all()  # a tile of one regime: that of its centre
    assert pure > 0 and agree >= 0.8 * ds["valid"].size


def test_map_file_is_cf(comps, tmp_path):
    import pyproj

    from convml_tt.data.synthetic import RegimeLabeler

    out = tmp_path / "cf.nc"
    embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, domain=EAST, progress=False,
                 labeler=RegimeLabeler()).close()
    with xr.open_dataset(out) as ds:  # plain CF decoding
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate" and ds["x"].attrs["units"] == "m"
        assert ds["y"].attrs["standard_name"] == "projection_y_coordinate"
        assert np.issubdtype(ds["time"].dtype, np.datetime64) and ds["time"].values[0] == np.datetime64(
            "2020-01-02T14:00:00")
        for name in ("embedding", "valid", "true_regime", "true_regime_fraction"):
            assert ds[name].attrs["grid_mapping"] == "crs" and {"lat", "lon"} <= set(ds[name].coords)
        assert ds["embedding"].encoding["_FillValue"] != ds["embedding"].encoding["_FillValue"]  # NaN
        assert ds["true_regime"].encoding["_FillValue"] == -1 and ds["true_regime"].isnull().any()
        crs = pyproj.CRS.from_cf(ds["crs"].attrs)
        assert crs.coordinate_operation.method_name == "Lambert Azimuthal Equal Area"
        to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
        lon, lat = to_ll.transform(xx, yy)
        np.testing.assert_allclose(lat, ds["lat"].values, atol=1e-7)
        np.testing.assert_allclose(lon, ds["lon"].values, atol=1e-7)
        assert list(ds.attrs["domain"]) == pytest.approx(EAST)
    # a map saved again keeps its layout and encoding
    again = maps.save_map(load_map(out), tmp_path / "again.nc")
    xr.testing.assert_identical(load_map(again), load_map(out))
    # files that are not maps: one line each
    (tmp_path / "text.nc").write_text("not netCDF")
    for path, exc, match in ((tmp_path / "text.nc", ValueError, "is not a map netCDF file"),
                             (comps[0], ValueError, "not an embedding map"),
                             (tmp_path / "missing.nc", FileNotFoundError, "does not exist")):
        with pytest.raises(exc, match=match) as err:
            load_map(path)
        assert "\n" not in str(err.value)


def test_modules_are_torch_free():
    code = ("import sys, convml_tt.data.sampling.grid, convml_tt.interpretation.maps; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- appended by a second MAPS helper: satellites, defaults, counting ----------------------------
def test_count_has_no_off_by_one():
    from convml_tt.data.sampling.grid import _count

    # centres `stride` apart whose tiles fit in the length: floor((L - s) / d) + 1
    assert _count(100e3, 40e3, 20e3) == 4  # an exact fit: three strides plus one tile
    assert _count(100e3 - 1.0, 40e3, 20e3) == 3
    assert _count(40e3, 40e3, 20e3) == 1 and _count(39e3, 40e3, 20e3) == 0


def test_composites_of_several_satellites_are_refused(comps, tmp_path):
    import netCDF4

    other = tmp_path / "g17" / "other.nc"
    other.parent.mkdir()
    shutil.copy(comps[1], other)
    with netCDF4.Dataset(other, "a") as nc:
        nc.setncattr("satellite", 17)
        nc.setncattr("platform", "goes17")
    with pytest.raises(ValueError, match="come from 2 satellites .*choose the composites of one") as err:
        embed_domain("tile_statistics", [comps[0], str(other)], TILE, STRIDE, tile_pixels=PX, progress=False)
    assert "\n" not in str(err.value)


def test_defaults_come_from_the_model_and_the_composites(comps, tmp_path):
    """tile size (m) from the training dataset's meta.yaml, pixels from the
    model config, stride half the tile, domain from the composites."""
    import torch

    from convml_tt.architectures import TripletEncoder, save_model
    from convml_tt.data.dataset.format import write_dataset_meta

    data = tmp_path / "dataset"
    write_dataset_meta(data, {"params": {"tile_size": 50e3, "tile_pixels": 24, "domain": list(DOMAIN)}})
    torch.manual_seed(0)
    enc = TripletEncoder("resnet18", 3, 4, config={"tile_pixels": PX, "training_data_path": str(data)})
    ds = embed_domain(save_model(enc, tmp_path / "model.pt"), comps[:1], progress=False, device="cpu")
    assert (ds.attrs["tile_size_m"], ds.attrs["tile_pixels"], ds.attrs["stride"]) == (50e3, PX, 25e3)
    np.testing.assert_allclose(ds.attrs["domain"], DOMAIN)
    assert ds.sizes["emb_dim"] == 4 and int(ds["valid"].sum()) == ds["valid"].size


def test_map_without_indices_has_the_same_embeddings_and_no_indices(comps, tmp_path, monkeypatch):
    """indices=False (`map --no-indices`): the same embeddings, valid cells and surface, no organisation
    indices; its parts are not those of a map with indices (an interrupted run of one never resumes the other)."""
    with_idx = embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, progress=False)
    out = tmp_path / "map.nc"
    _stop_after_one_part(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False)
    monkeypatch.setattr(maps, "_write_part", _WRITE_PART)
    without = embed_domain("tile_statistics", comps, TILE, STRIDE, tile_pixels=PX, out=out, progress=False,
                           indices=False).load()
    np.testing.assert_array_equal(without["valid"].values, with_idx["valid"].values)
    np.testing.assert_array_equal(without["embedding"].values, with_idx["embedding"].values)
    np.testing.assert_array_equal(without["land_fraction"].values, with_idx["land_fraction"].values)
    assert "cloud_fraction" in with_idx and "iorg" in with_idx
    assert not {"cloud_fraction", "iorg", "cloud_threshold"} & set(without.data_vars)  # not even a NaN one
    without.close()
