"""Grids (convml_tt.data.geometry.grids): round trips, CF variables, tiles on lat/lon and projected grids."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyproj
import pytest
import xarray as xr

from convml_tt.data.geometry import grids as G
from convml_tt.data.geometry.grids import FixedGrid, GridError, LatLonGrid, ProjectedGrid, grid_from_cf, grid_from_dataset
from convml_tt.data.tiles import ScanGrid, Tile, resample

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "goes_real"
REAL_C01 = REAL / "OR_ABI-L1b-RadM1-M6C01_G17_s20193002000275_e20193002000332_c20193002000379.nc"

LCC = "+proj=lcc +lat_1=10 +lat_2=20 +lat_0=15 +lon_0=-60 +ellps=WGS84 +units=m +no_defs"
GRIDS = {
    "goes16": FixedGrid(),
    "himawari": FixedGrid(longitude_of_projection_origin=140.7, sweep_angle_axis="y", cf_variable="crs"),
    "latlon": LatLonGrid(),
    "sphere": LatLonGrid(6371229.0, 6371229.0),
    "lcc": ProjectedGrid(LCC),
    "utm_km": ProjectedGrid("+proj=utm +zone=20 +ellps=WGS84 +units=km +no_defs"),
    "polar": ProjectedGrid("EPSG:3413"),
    "rotated": ProjectedGrid("+proj=ob_tran +o_proj=longlat +o_lon_p=0 +o_lat_p=30 +lon_0=120 +R=6371229 +no_defs"),
}
# points each grid sees (lat, lon), degrees
POINTS = {
    "goes16": ([15.0, -10.0, 40.0], [-60.0, -80.0, -100.0]),
    "himawari": ([15.0, -10.0, 30.0], [140.0, 120.0, 160.0]),
    "polar": ([75.0, 80.0, 65.0], [-40.0, 10.0, -150.0]),
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_round_trips(name, tmp_path):
    g = GRIDS[name]
    lat, lon = (np.array(v) for v in POINTS.get(name, ([15.0, 12.5, 17.0], [-60.0, -62.0, -57.5])))
    x, y = g.latlon_to_xy(lat, lon)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    lat2, lon2 = g.xy_to_latlon(x, y)
    np.testing.assert_allclose(lat2, lat, atol=1e-9)
    np.testing.assert_allclose(lon2, lon, atol=1e-9)
    # CF grid-mapping variable and back; hashable, equal, picklable (the PROJ objects rebuilt)
    cf_name, attrs = g.to_cf()
    back = grid_from_cf(cf_name, attrs)
    assert back == g and hash(back) == hash(g) and type(back) is type(g)
    p = pickle.loads(pickle.dumps(g))
    assert p == g
    np.testing.assert_array_equal(p.latlon_to_xy(lat, lon)[0], x)
    assert {g: 1}[back] == 1
    if name != "goes16":
        assert cf_name == "crs" and "crs_wkt" in attrs and attrs["grid_mapping_name"]
    # written as a composite would be and read back from the file
    x_attrs, y_attrs = g.coordinate_attrs()
    ds = xr.Dataset({"field": (("y", "x"), np.zeros((2, 3), np.float32), {"grid_mapping": cf_name}),
                     cf_name: ((), np.int32(0), attrs)},
                    coords={"x": ("x", np.arange(3.0), x_attrs), "y": ("y", np.arange(2.0)[::-1], y_attrs)},
                    attrs={"composite_variable": "field"})
    ds.to_netcdf(tmp_path / "c.nc")
    with xr.open_dataset(tmp_path / "c.nc") as back_ds:
        assert grid_from_dataset(back_ds) == g
        assert ScanGrid.from_dataset(back_ds).grid == g


def test_grid_attributes_by_kind():
    assert GRIDS["goes16"].coordinate_attrs()[0]["units"] == "rad"
    assert GRIDS["latlon"].coordinate_attrs()[0]["units"] == "degrees_east"
    assert GRIDS["latlon"].coordinate_attrs()[1]["units"] == "degrees_north"
    assert GRIDS["lcc"].coordinate_attrs()[0]["units"] == "m"
    assert GRIDS["rotated"].coordinate_attrs()[0]["standard_name"] == "grid_longitude"
    assert GRIDS["latlon"].to_cf()[1]["grid_mapping_name"] == "latitude_longitude"
    assert GRIDS["himawari"].to_cf()[1]["grid_mapping_name"] == "geostationary"
    assert GRIDS["lcc"].to_cf()[1]["grid_mapping_name"] == "lambert_conformal_conic"
    # a fixed grid's coordinates are geos metres over the perspective point height
    g = GRIDS["goes16"]
    px, py = pyproj.Transformer.from_crs(g.crs.geodetic_crs, g.crs, always_xy=True).transform(-60.0, 15.0)
    x, y = g.latlon_to_xy(15.0, -60.0)
    assert (x, y) == (px / g.perspective_point_height, py / g.perspective_point_height)


def test_goes_imager_projection_kept_exactly():
    if not REAL_C01.exists():
        pytest.skip("the real GOES files are not here")
    import netCDF4

    from convml_tt.data.sources import goes_abi as abi

    with netCDF4.Dataset(REAL_C01) as nc:
        p = nc["goes_imager_projection"]
        file_attrs = {k: p.getncattr(k) for k in p.ncattrs()}
    grid = FixedGrid.from_dataset(abi.open_abi(REAL_C01))
    name, attrs = grid.to_cf()
    assert name == "goes_imager_projection"
    assert list(attrs) == list(file_attrs)
    assert all(type(attrs[k]) is type(file_attrs[k]) and attrs[k] == file_attrs[k] for k in file_attrs)
    assert grid_from_cf(name, attrs) == grid == FixedGrid(longitude_of_projection_origin=-137.0)


def test_one_class_everywhere():
    from convml_tt.data import tiles
    from convml_tt.data.sources import goes_abi
    from convml_tt.data.sources.goes_abi import navigation, reader

    assert goes_abi.FixedGrid is navigation.FixedGrid is tiles.FixedGrid is G.FixedGrid
    assert reader.OffDiskError is goes_abi.OffDiskError is tiles.OffDiskError is G.OffDiskError
    assert navigation.check_bbox is G.check_bbox


def test_projected_coordinates_match_pyproj():
    lat, lon = np.array([12.0, 15.0, 18.0]), np.array([-63.0, -60.0, -57.0])
    for name, factor in (("lcc", 1.0), ("utm_km", 1e3)):
        g = GRIDS[name]
        want_x, want_y = pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS(g.crs), always_xy=True).transform(lon, lat)
        x, y = g.latlon_to_xy(lat, lon)
        np.testing.assert_allclose(x, np.asarray(want_x) * factor, atol=1e-6)  # metres, also for a CRS in km
        np.testing.assert_allclose(y, np.asarray(want_y) * factor, atol=1e-6)


def _independent_indices(tile: Tile, target: pyproj.CRS, x0, dx, y0, dy, ellps: str):
    """Fractional (row, col) of every tile pixel through pyproj's own CRS-to-CRS transformation."""
    laea = pyproj.CRS(f"+proj=laea +lat_0={tile.lat0} +lon_0={tile.lon0} +ellps={ellps} +units=m +no_defs")
    u, v = tile.local_coords()
    uu, vv = np.meshgrid(u, v)
    gx, gy = pyproj.Transformer.from_crs(laea, target, always_xy=True).transform(uu, vv)
    return (np.asarray(gy) - y0) / dy, (np.asarray(gx) - x0) / dx


@pytest.mark.parametrize("lat0,lon0", [(15.0, -60.0), (-10.0, 0.3), (55.0, 179.0)])
def test_tile_indices_on_a_latlon_grid(lat0, lon0):
    grid = LatLonGrid()
    x0, dx, y0, dy = lon0 - 2.0, 0.01, lat0 + 2.0, -0.01
    sg = ScanGrid(grid, x0, dx, y0, dy, (401, 401))
    tile = Tile(lat0, lon0, 100e3, 64)
    want_r, want_c = _independent_indices(tile, pyproj.CRS("EPSG:4326"), x0, dx, y0, dy, "WGS84")
    for coarse, tol in ((None, 1e-6), (17, 1e-3)):
        rows, cols = sg.indices(tile, coarse=coarse)
        np.testing.assert_allclose(rows, want_r, atol=tol)
        np.testing.assert_allclose(cols, want_c, atol=tol)


def test_tile_across_the_antimeridian_is_continuous():
    tile = Tile(10.0, 179.95, 50e3, 32)
    lon, _ = tile.grid_xy(LatLonGrid())
    assert np.all(np.diff(lon, axis=1) > 0)  # east of 180 the longitudes go on (> 180), no jump to -180
    assert lon.max() > 180.0 and lon.min() < 180.0
    east = Tile(10.0, -179.95, 50e3, 32).grid_xy(LatLonGrid())[0]
    assert np.all(np.diff(east, axis=1) > 0) and east.min() < -180.0


@pytest.mark.parametrize("name", ["lcc", "utm_km", "rotated"])
def test_tile_indices_on_a_projected_grid(name):
    grid = GRIDS[name]
    lat0, lon0 = 14.0, -61.0
    cx, cy = grid.latlon_to_xy(lat0, lon0)
    step = 0.01 if grid.rotated else 1000.0
    x0, y0 = float(cx) - 200 * step, float(cy) + 200 * step
    sg = ScanGrid(grid, x0, step, y0, -step, (401, 401))
    tile = Tile(lat0, lon0, 120e3, 48)
    ellps = "WGS84" if not grid.rotated else "sphere"
    target = grid.crs
    if name == "utm_km":  # the grid's coordinates are metres: the same CRS in metres
        target = pyproj.CRS("+proj=utm +zone=20 +ellps=WGS84 +units=m +no_defs")
    if grid.rotated:
        laea = pyproj.CRS(f"+proj=laea +lat_0={lat0} +lon_0={lon0} +R=6371229 +units=m +no_defs")
        u, v = tile.local_coords()
        uu, vv = np.meshgrid(u, v)
        gx, gy = pyproj.Transformer.from_crs(laea, target, always_xy=True).transform(uu, vv)
        want_r, want_c = (np.asarray(gy) - y0) / -step, (np.asarray(gx) - x0) / step
    else:
        want_r, want_c = _independent_indices(tile, target, x0, step, y0, -step, ellps)
    for coarse, tol in ((None, 1e-6), (17, 1e-3)):
        rows, cols = sg.indices(tile, coarse=coarse)
        np.testing.assert_allclose(rows, want_r, atol=tol)
        np.testing.assert_allclose(cols, want_c, atol=tol)


def test_resampling_a_latlon_composite():
    """A field linear in lon and lat on a lat/lon raster, resampled onto a tile, is that field at the tile's pixels."""
    x = np.round(-62.0 + 0.02 * np.arange(201), 10)
    y = np.round(17.0 - 0.02 * np.arange(151), 10)
    grid = LatLonGrid()
    name, attrs = grid.to_cf()
    xa, ya = grid.coordinate_attrs()
    field = (2.0 * x[None, :] + 3.0 * y[:, None]).astype(np.float64)
    ds = xr.Dataset({"f": (("y", "x"), field.astype(np.float32), {"grid_mapping": name, "units": "1"}),
                     name: ((), np.int32(0), attrs)},
                    coords={"x": ("x", x, xa), "y": ("y", y, ya)}, attrs={"composite_variable": "f"})
    tile = Tile(15.0, -60.0, 150e3, 40)
    out = resample(ds, tile)[:, :, 0]
    lat, lon = tile.pixel_latlon()
    np.testing.assert_allclose(out, 2.0 * lon + 3.0 * lat, atol=2e-4)  # float32 values ~ -100: 1e-5 relative


def test_bad_grid_descriptions():
    with pytest.raises(GridError, match="neither grid_mapping_name nor crs_wkt"):
        grid_from_cf("crs", {"long_name": "nothing"}, "run.nc")
    with pytest.raises(GridError, match="run.nc: the grid mapping 'crs' is not a CRS PROJ can read"):
        grid_from_cf("crs", {"crs_wkt": "GEOGCRS[nonsense"}, "run.nc")
    with pytest.raises(GridError, match="abi.nc: 'goes_imager_projection' lacks the attribute"):
        grid_from_cf("goes_imager_projection", {"semi_major_axis": 6378137.0}, "abi.nc")
    with pytest.raises(GridError, match="plain geographic CRS: use LatLonGrid"):
        ProjectedGrid("EPSG:4326")
    assert grid_from_cf("crs", pyproj.CRS("EPSG:4326").to_cf()) == LatLonGrid()
    ds = xr.Dataset({"v": (("y", "x"), np.zeros((2, 2)))})
    with pytest.raises(GridError, match="no grid mapping variable"):
        grid_from_dataset(ds)


def test_grid_from_crs():
    from convml_tt.data.geometry.grids import grid_from_crs

    ahi = grid_from_crs("+proj=geos +h=35785863 +a=6378137 +b=6356752.3 +lon_0=140.7 +sweep=y +units=m")
    assert ahi == FixedGrid(35785863.0, 6378137.0, 6356752.3, 140.7, "y") and ahi.to_cf()[0] == "crs"
    assert grid_from_crs(pyproj.CRS("EPSG:4326")) == LatLonGrid()
    assert grid_from_crs(LCC) == GRIDS["lcc"]
    # a CF mapping given only as crs_wkt of a geostationary projection is a fixed grid too
    assert grid_from_cf("crs", {"crs_wkt": ahi.crs.to_wkt()}) == ahi
