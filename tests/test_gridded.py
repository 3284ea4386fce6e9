"""The gridded source (convml_tt.data.sources.gridded): model output and reanalysis as scenes."""
from __future__ import annotations

import datetime as dt

import netCDF4
import numpy as np
import pyproj
import pytest

from convml_tt.data.geometry.grids import LatLonGrid, OffDiskError, ProjectedGrid
from convml_tt.data.sources.base import SourceFileError, UnknownBandError, group_scenes
from convml_tt.data.sources.gridded import GriddedSource, read_header

from gridded_fixtures import SE_ATLANTIC, START, cloud_fields, write_les_field

SRC = GriddedSource()
#: a domain across the prime meridian, inside the LES field
DOMAIN = (-2.0, -11.0, 2.0, -9.0)


@pytest.fixture(scope="module")
def les(tmp_path_factory):
    d = tmp_path_factory.mktemp("les")
    return {"producer": write_les_field(d / "les_producer.nc"),
            "canonical": write_les_field(d / "les_canonical.nc", producer=False),
            "zarr": write_les_field(d / "les_producer.zarr", fmt="zarr")}


def _scenes(path):
    return group_scenes([SRC.identify(path)])


def _window_arrays(scene, resolution_km=1.0, bands=("lwp", "refl")):
    with SRC.open_window(scene, list(bands), DOMAIN, resolution_km) as w:
        out = {}
        for b in bands:
            out[b] = w.read(b, np.empty(w.shape, np.float32))
        out["lat"], out["lon"] = w.latlon()
        out["x"], out["y"] = w.x, w.y
        return out, w


def test_identify_and_scenes(les):
    for path in les.values():
        f = SRC.identify(path)
        assert (f.source, f.platform, f.product, f.sector) == ("gridded", "ucla-les", "se-atlantic-sc", "")
        assert f.bands == ("lwp", "refl")
        assert f.times == tuple(START + dt.timedelta(hours=k) for k in range(3))
        scenes = _scenes(path)
        assert [s.start for s in scenes] == list(f.times)
        assert dict(scenes[1].files) == {"lwp": path, "refl": path}
    h = read_header(les["producer"])
    assert isinstance(h.grid, LatLonGrid)
    assert h.x.values[0] == pytest.approx(-3.0) and h.x.values[-1] == pytest.approx(2.99)  # 0..360 -> -180..180
    assert np.all(np.diff(h.x.values) > 0) and np.all(np.diff(h.y.values) < 0)  # west to east, north to south
    table = SRC.band_table(scene=_scenes(les["producer"])[0])
    assert [(b.name, b.kind, b.units) for b in table] == [("lwp", "field", "kg m-2"), ("refl", "field", "1")]
    assert SRC.band_table().get("anything").kind == "field"


def test_producer_layout_equals_the_canonical_field(les):
    """0..360 longitudes and descending latitudes (the producer's file) read as the same field
    written with -180..180 longitudes and ascending latitudes, scene by scene."""
    for s_prod, s_can, s_zarr in zip(_scenes(les["producer"]), _scenes(les["canonical"]), _scenes(les["zarr"])):
        a, wa = _window_arrays(s_prod)
        b, wb = _window_arrays(s_can)
        z, _ = _window_arrays(s_zarr)
        assert wa.shape == wb.shape and wa.shape[0] > 200 and wa.shape[1] > 400 and wa.grid == wb.grid == LatLonGrid()
        for k in ("lwp", "refl", "lat", "y"):
            np.testing.assert_array_equal(a[k], b[k])
            np.testing.assert_array_equal(a[k], z[k])
        for k in ("lon", "x"):  # the files' float32 longitudes near 360 are 3e-5 degree apart
            np.testing.assert_allclose(a[k], b[k], rtol=0, atol=2e-5)
            np.testing.assert_array_equal(a[k], z[k])
        assert a["x"][0] < 0 < a["x"][-1] and np.all(np.diff(a["x"]) > 0) and np.all(np.diff(a["y"]) < 0)
        assert np.isfinite(a["lwp"]).all() and a["lwp"].max() > 0.1  # cloud cells, no fill inside the domain
    # the values are the generator's field at those cells (lwp packed to 2e-5 kg m-2)
    lat = np.round(SE_ATLANTIC["lat"][0] + 0.01 * np.arange(400), 6)
    lon = np.round(SE_ATLANTIC["lon"][0] + 0.01 * np.arange(600), 6)
    lwp, refl = cloud_fields(lat, lon, [START + dt.timedelta(hours=k) for k in range(3)])
    r = np.searchsorted(lat, a["y"].round(6))
    c = np.searchsorted(lon, a["x"].round(6))
    assert np.array_equal(lat[r], a["y"].round(6)) and np.array_equal(lon[c], a["x"].round(6))
    np.testing.assert_allclose(a["lwp"], lwp[2][np.ix_(r, c)], atol=1.01e-5)
    np.testing.assert_allclose(a["refl"], refl[2][np.ix_(r, c)], atol=1e-6)


def test_block_means(les):
    s = _scenes(les["producer"])[0]
    with SRC.open_window(s, ["lwp"], DOMAIN, 3.3) as w:  # three cells of 1.11 km
        coarse = w.read("lwp", np.empty(w.shape, np.float32))
        assert w.block == (3, 3) and w.pixel_km == pytest.approx((3.336, 3.336), rel=1e-3)
        xc, yc = w.x, w.y
    with SRC.open_window(s, ["lwp"], (-2.5, -11.5, 2.5, -8.5), None) as w:
        fine = w.read("lwp", np.empty(w.shape, np.float32))
        xf, yf = w.x, w.y
    # blocks are counted from the grid's first cell: the fine cells around each block centre
    for i, j in ((0, 0), (10, 50), (len(yc) - 1, len(xc) - 1)):
        c = int(np.flatnonzero(np.abs(xf - xc[j] + 0.01) < 1e-6)[0])
        r = int(np.flatnonzero(np.abs(yf - yc[i] - 0.01) < 1e-6)[0])
        assert coarse[i, j] == pytest.approx(fine[r:r + 3, c:c + 3].mean(), rel=1e-5)
        assert xc[j] == pytest.approx(xf[c:c + 3].mean(), abs=1e-9)


LAMBERT = {"grid_mapping_name": "lambert_conformal_conic", "standard_parallel": [10.0, 20.0],
           "longitude_of_central_meridian": -58.0, "latitude_of_projection_origin": 13.0,
           "false_easting": 0.0, "false_northing": 0.0, "semi_major_axis": 6371229.0, "semi_minor_axis": 6371229.0}


def _write_lambert(path):
    """A field ``y + 2 x`` (x, y in km) on a Lambert conformal grid (x/y in km, CF projection attributes,
    no crs_wkt) at ICON's absolute time axis."""
    x = np.arange(-150.0, 151.0, 2.5)  # km
    y = np.arange(-100.0, 101.0, 2.5)
    with netCDF4.Dataset(path, "w") as nc:
        nc.source_id = "ICON-LAM"
        for n, v in (("x", x), ("y", y)):
            nc.createDimension(n, v.size)
            var = nc.createVariable(n, "f8", (n,))
            var.setncatts({"units": "km", "standard_name": f"projection_{n}_coordinate"})
            var[:] = v
        nc.createDimension("time", 1)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "day as %Y%m%d.%f"
        t[:] = [20200202.5]
        crs = nc.createVariable("lambert", "i4")
        crs.setncatts(LAMBERT)
        v = nc.createVariable("clivi", "f4", ("time", "y", "x"))
        v.setncatts({"units": "kg m-2", "grid_mapping": "lambert"})
        v[:] = np.add.outer(y, 2 * x).astype(np.float32)[None]
    return path


def test_projected_grid_file(tmp_path):
    path = _write_lambert(tmp_path / "icon_lam.nc")
    f = SRC.identify(path)
    assert (f.platform, f.start, f.bands) == ("icon-lam", dt.datetime(2020, 2, 2, 12), ("clivi",))
    scene = group_scenes([f])[0]
    with SRC.open_window(scene, ["clivi"], (-58.5, 12.5, -57.5, 13.5), 5.0) as w:
        assert isinstance(w.grid, ProjectedGrid) and w.block == (2, 2)
        values = w.read("clivi", np.empty(w.shape, np.float32))
        lat, lon = w.latlon()
        assert w.x_attrs["units"] == "m" and w.grid_mapping[1]["grid_mapping_name"] == "lambert_conformal_conic"
        # block means of a linear field are the field at the block centres (x, y in metres)
        np.testing.assert_allclose(values, np.add.outer(w.y / 1e3, 2 * w.x / 1e3), atol=1e-4)
        crs = pyproj.CRS.from_cf(LAMBERT)
        want_lon, want_lat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(
            *np.meshgrid(w.x, w.y))
        np.testing.assert_allclose(lat, want_lat, atol=1e-5)
        np.testing.assert_allclose(lon, want_lon, atol=1e-5)


def test_tiles_of_a_projected_composite(tmp_path):
    """A composite of the Lambert field keeps its grid ('crs' with the projection), and tiles cut from it
    are the field at the tile's pixels, projected here by pyproj."""
    from convml_tt.data.composites import make_composite
    from convml_tt.data.composites.reader import CompositeReader
    from convml_tt.data.tiles import Tile

    path = _write_lambert(tmp_path / "icon_lam.nc")
    out = tmp_path / "composite.nc"
    make_composite(path, (-58.6, 12.4, -57.4, 13.6), kind="gridded.clivi", resolution_km=2.5, out_path=out)
    reader = CompositeReader(out)
    try:
        assert isinstance(reader.sg.grid, ProjectedGrid) and reader.units == "kg m-2"
        assert reader.platform == "icon-lam" and reader.time.startswith("2020-02-02T12:00:00")
        tile = Tile(13.0, -58.0, 60e3, 16)
        got = reader.tile(tile, "bilinear")[:, :, 0]
        laea = pyproj.CRS("+proj=laea +lat_0=13 +lon_0=-58 +R=6371229 +units=m +no_defs")
        u, v = tile.local_coords()
        gx, gy = pyproj.Transformer.from_crs(laea, pyproj.CRS.from_cf(LAMBERT), always_xy=True).transform(
            *np.meshgrid(u, v))
        np.testing.assert_allclose(got, np.asarray(gy) / 1e3 + 2 * np.asarray(gx) / 1e3, atol=2e-3)
    finally:
        reader.close()


def _write(path, coords: dict, variables: dict, attrs: dict | None = None):
    """A small netCDF: ``coords``/``variables`` map names to (dims, values, attrs)."""
    with netCDF4.Dataset(path, "w") as nc:
        nc.setncatts(attrs or {})
        for name, (dims, values, a) in {**coords, **variables}.items():
            for d, n in zip(dims, np.shape(values)):
                if d not in nc.dimensions:
                    nc.createDimension(d, n)
            v = nc.createVariable(name, "f8", dims)
            v.setncatts(a)
            v[:] = values
    return path


TIME = {"time": (("time",), [0.0], {"units": "hours since 2020-01-01"})}


def test_files_the_source_refuses(tmp_path, les):
    field = {"lwp": (("time", "y", "x"), np.zeros((1, 3, 4)), {"units": "kg m-2"})}
    cases = {
        "no_grid.nc": (TIME, "has no grid the gridded source can read: it needs 1-D latitude/longitude coordinates"),
        "curvilinear.nc": ({**TIME, "lat": (("y", "x"), np.zeros((3, 4)), {"units": "degrees_north"}),
                            "lon": (("y", "x"), np.zeros((3, 4)), {"units": "degrees_east"})},
                           "are 2-D \\(a curvilinear grid\\)"),
        "no_time.nc": ({"lat": (("y",), [1.0, 2.0, 3.0], {"units": "degrees_north"}),
                        "lon": (("x",), [1.0, 2.0, 3.0, 4.0], {"units": "degrees_east"})},
                       "has no time: a gridded file needs a time coordinate"),
    }
    for name, (coords, message) in cases.items():
        path = _write(tmp_path / name, coords, field)
        assert SRC.identify(path) is None
        why = SRC.explain(path)
        assert why.startswith(str(path)) and "\n" not in why
        assert __import__("re").search(message, why), why
        with pytest.raises(SourceFileError, match=message):
            read_header(path)
    icon = _write(tmp_path / "icon_native.nc", {**TIME, "clat": (("ncells",), [0.1, 0.2], {"units": "radian",
                  "standard_name": "latitude"}), "clon": (("ncells",), [0.1, 0.2], {"units": "radian",
                  "standard_name": "longitude"})}, {"clwvi": (("time", "ncells"), np.zeros((1, 2)), {})})
    assert "unstructured grid" in SRC.explain(icon) and "cdo remapcon" in SRC.explain(icon)
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"this is not netCDF")
    assert "cannot be read as CF netCDF or zarr" in SRC.explain(broken)
    assert SRC.identify(tmp_path / "OR_ABI-L1b-RadC-M6C01_G16_s20200011200000_e2_c3.nc") is None
    assert SRC.explain(les["producer"]) == ""


def test_bad_requests(les, tmp_path):
    scene = _scenes(les["producer"])[0]
    with pytest.raises(UnknownBandError, match="has no variable 'qv'; its variables are lwp, refl"):
        SRC.open_window(scene, ["qv"], DOMAIN, 1.0)
    with pytest.raises(OffDiskError, match="les_producer.nc: the domain \\(10.0, 0.0, 11.0, 1.0\\) is not wholly "
                                           "inside its grid, which covers lon -3 to 2.99, lat -12 to -8.01"):
        SRC.open_window(scene, ["lwp"], (10.0, 0.0, 11.0, 1.0), 1.0)
    with pytest.raises(ValueError, match="resolution_km=1.7 is not a whole multiple of the grid spacing "
                                         "\\(1.112 km\\)"):
        SRC.open_window(scene, ["lwp"], DOMAIN, 1.7)
    levels = _write(tmp_path / "levels.nc", {**TIME, "lat": (("lat",), [1.0, 2.0, 3.0], {"units": "degrees_north"}),
                                             "lon": (("lon",), [1.0, 2.0], {"units": "degrees_east"}),
                                             "z": (("z",), [100.0, 200.0], {})},
                    {"ql": (("time", "z", "lat", "lon"), np.zeros((1, 2, 3, 2)), {}),
                     "lwp": (("time", "lat", "lon"), np.zeros((1, 3, 2)), {})})
    f = SRC.identify(levels)
    assert f.bands == ("lwp",)
    scene = group_scenes([f])[0]
    scene = type(scene)(**{**scene.__dict__, "files": {"ql": levels}})
    with pytest.raises(ValueError, match="select one z first"):
        SRC.open_window(scene, ["ql"], (1.2, 1.2, 1.8, 2.8), None)
