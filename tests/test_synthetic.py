"""Tests of convml_tt.data.synthetic: faithful synthetic ABI L1b scenes."""
from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest
from scipy import ndimage

from convml_tt.data import synthetic as syn
from convml_tt.data.sources.goes_abi import OffDiskError, calibrate, open_abi, pixel_latlon, read_abi
from convml_tt.data.sources.goes_abi import ABIKey
from synthetic_fixtures import SYNTHETIC_KWARGS, SYNTHETIC_START

T0 = dt.datetime(2020, 1, 2, 14)


def _fields(time, **kw):
    """The in-memory fields of a scene of the shared fixture."""
    args = dict(seed=SYNTHETIC_KWARGS["seed"], satellite=16, center=SYNTHETIC_KWARGS["center"],
                size_km=SYNTHETIC_KWARGS["size_km"], bands=SYNTHETIC_KWARGS["bands"])
    args.update(kw)
    return syn.make_scene_fields(time, **args)


# --- files: names, layout, variables, packing --------------------------------
def test_file_naming_and_cache_layout(synthetic_scenes, synthetic_data_root):
    assert len(synthetic_scenes) == 3
    for i, scene in enumerate(synthetic_scenes):
        assert scene.time == SYNTHETIC_START + i * dt.timedelta(hours=1)
        assert sorted(scene.files) == [1, 2, 3]
        for band, path in scene.files.items():
            key = ABIKey.parse(path.name)
            assert (key.band, key.satellite, key.sector, key.product, key.mode) == (band, 16, "M1", "Rad", 6)
            assert key.start == scene.time and key.end > key.start and key.created > key.end
            assert path == synthetic_data_root / "sources" / "goes16" / key.key
            assert key.key.startswith(f"ABI-L1b-RadM/2020/002/{scene.time:%H}/OR_ABI-L1b-RadM1-M6C{band:02d}_G16_s2020002")
        # label map beside the files, with a name the ABI key regex does not match
        assert scene.labels.parent == scene.files[1].parent and scene.labels.exists()
        assert not scene.labels.name.startswith("OR_ABI")
        with pytest.raises(ValueError):
            ABIKey.parse(scene.labels.name)
    leftovers = [p for p in synthetic_data_root.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_variables_attributes_and_packing(synthetic_scenes):
    files = synthetic_scenes[0].files
    shapes = {1: 300, 2: 600, 3: 300}
    spacing = {1: 28e-6, 2: 14e-6, 3: 28e-6}
    for band, path in files.items():
        with netCDF4.Dataset(path) as nc:
            nc.set_auto_maskandscale(False)
            assert nc.data_model == "NETCDF4"
            rad = nc["Rad"]
            assert rad.dtype == np.int16 and rad.dimensions == ("y", "x")
            assert rad.shape == (shapes[band],) * 2
            wl, res, bits, scale, offset, esun = syn.BAND_CONSTANTS[band]
            assert rad._Unsigned == "true"
            assert rad.scale_factor.dtype == np.float32 and rad.scale_factor == np.float32(scale)
            assert rad.add_offset == np.float32(offset)
            assert rad._FillValue == 2**bits - 1 and rad._FillValue.dtype == np.int16
            assert list(rad.valid_range) == [0, 2**bits - 2]
            assert rad.sensor_band_bit_depth == bits
            assert rad.units == "W m-2 sr-1 um-1"
            assert rad.grid_mapping == "goes_imager_projection"
            assert rad.chunking() == [226, 226] and rad.filters()["zlib"]
            raw = rad[:]
            assert raw.min() >= 0 and raw.max() <= 2**bits - 2
            dqf = nc["DQF"]
            assert dqf.dtype == np.int8 and dqf._Unsigned == "true"
            assert list(dqf.flag_values) == [0, 1, 2, 3]
            assert dqf.flag_meanings.split()[0] == "good_pixel_qf"
            assert (dqf[:] == 0).all()
            for name, sign in (("x", 1), ("y", -1)):
                c = nc[name]
                assert c.dtype == np.int16
                assert c.scale_factor == np.float32(sign * spacing[band])
            # row 0 north, and pixel centres on the full-disk fixed grid
            x = nc["x"][:] * float(nc["x"].scale_factor) + float(nc["x"].add_offset)
            y = nc["y"][:] * float(nc["y"].scale_factor) + float(nc["y"].add_offset)
            s = spacing[band]
            assert np.allclose((x / s - 0.5) % 1.0, 0.0, atol=2e-3) or np.allclose((x / s - 0.5) % 1.0, 1.0, atol=2e-3)
            k = x / s - 0.5
            assert np.abs(k - np.rint(k)).max() < 2e-3 and np.abs(y / s - 0.5 - np.rint(y / s - 0.5)).max() < 2e-3
            proj = nc["goes_imager_projection"]
            for attr, val in (("perspective_point_height", 35786023.0), ("semi_major_axis", 6378137.0),
                              ("semi_minor_axis", 6356752.31414), ("longitude_of_projection_origin", -75.0),
                              ("latitude_of_projection_origin", 0.0), ("inverse_flattening", 298.2572221)):
                assert getattr(proj, attr) == pytest.approx(val)
            assert proj.sweep_angle_axis == "x" and proj.grid_mapping_name == "geostationary"
            assert int(nc["band_id"][0]) == band
            assert float(nc["band_wavelength"][0]) == pytest.approx(wl)
            assert float(nc["esun"][...]) == pytest.approx(esun)
            d = float(nc["earth_sun_distance_anomaly_in_AU"][...])
            assert 0.98 < d < 1.02
            assert float(nc["kappa0"][...]) == pytest.approx(math.pi * d * d / esun, rel=1e-6)
            for name in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2"):
                assert np.isnan(float(nc[name][...]))
            assert float(nc["nominal_satellite_subpoint_lon"][...]) == pytest.approx(-75.2)
            assert float(nc["nominal_satellite_height"][...]) == pytest.approx(35786.023)
            for name in ("t", "time_bounds", "x_image", "y_image", "geospatial_lat_lon_extent", "yaw_flip_flag"):
                assert name in nc.variables
            tb = nc["time_bounds"][:]
            assert tb[0] < float(nc["t"][...]) < tb[1]
            ext = nc["geospatial_lat_lon_extent"]
            assert ext.geospatial_southbound_latitude < 15 < ext.geospatial_northbound_latitude
            assert ext.geospatial_westbound_longitude < -50 < ext.geospatial_eastbound_longitude
            assert nc.dataset_name == path.name
            assert nc.platform_ID == "G16" and nc.scene_id == "Mesoscale"
            assert nc.spatial_resolution == f"{res:g}km at nadir"
            assert nc.time_coverage_start.startswith("2020-01-02T14:00:00")
            assert nc.timeline_id == "ABI Mode 6"
            assert "SYNTHETIC" in nc.comment


# --- reading back through convml_tt.data.sources.goes_abi ---------------------------------
def test_round_trip_reflectance_within_packing_precision(synthetic_scenes):
    scene = synthetic_scenes[1]
    fields = _fields(scene.time)
    for band, path in scene.files.items():
        ds = read_abi(path, band=band)
        refl = calibrate(ds).values
        # the radiance carries cos(solar zenith angle) of the scan time and place
        want = fields.reflectance[band] * syn.illumination(fields.geometry, fields.resolution_km[band], scene.time)
        assert refl.shape == want.shape
        kappa0 = float(ds["kappa0"])
        step = syn.BAND_CONSTANTS[band][3] * kappa0  # reflectance of one count
        err = np.abs(refl - want)
        assert np.isfinite(refl).all()
        assert err.max() <= 0.5 * step * 1.001 + 1e-6, (band, err.max(), step)


def test_navigation_centre_and_grid(synthetic_scenes):
    for band, path in synthetic_scenes[0].files.items():
        ds = open_abi(path, band=band)
        lat, lon = pixel_latlon(ds.isel(x=slice(None), y=slice(None)))
        n = ds.sizes["x"]
        clat = float(lat[n // 2, n // 2])
        clon = float(lon[n // 2, n // 2])
        # snapped to the 2 km grid: the centre pixel is within ~2 km of the request
        assert abs(clat - 15.0) < 0.03 and abs(clon + 50.0) < 0.03
        # extent ~300 km
        assert 2.4 < float(lat[0, n // 2] - lat[-1, n // 2]) < 3.4
        ds.close()


def test_sector_aligned_across_bands(synthetic_scenes):
    """The 0.5 km pixels tile the 1 km pixels exactly (2x2 per 1 km pixel)."""
    files = synthetic_scenes[0].files
    x1 = open_abi(files[1])["x"].values
    x2 = open_abi(files[2])["x"].values
    y1 = open_abi(files[1])["y"].values
    y2 = open_abi(files[2])["y"].values
    assert np.allclose(0.5 * (x2[0::2] + x2[1::2]), x1, atol=1e-8)
    assert np.allclose(0.5 * (y2[0::2] + y2[1::2]), y1, atol=1e-8)


# --- determinism --------------------------------------------------------------
def test_seed_determinism(tmp_path):
    kw = dict(count=1, size_km=60, progress=False)
    a = syn.write_synthetic_scenes(tmp_path / "a", T0, seed=3, **kw)[0]
    b = syn.write_synthetic_scenes(tmp_path / "b", T0, seed=3, **kw)[0]
    c = syn.write_synthetic_scenes(tmp_path / "c", T0, seed=4, **kw)[0]
    for band in (1, 2, 3):
        assert a.files[band].name == b.files[band].name
        ra, rb, rc = (netCDF4.Dataset(s.files[band])["Rad"] for s in (a, b, c))
        for r in (ra, rb, rc):
            r.set_auto_maskandscale(False)
        assert ra[:].tobytes() == rb[:].tobytes()
        assert ra[:].tobytes() != rc[:].tobytes()
    f1 = syn.make_scene_fields(T0, seed=5, size_km=80)
    f2 = syn.make_scene_fields(T0, seed=5, size_km=80)
    for band in (1, 2, 3):
        assert f1.reflectance[band].tobytes() == f2.reflectance[band].tobytes()
    assert f1.labels.tobytes() == f2.labels.tobytes()


def test_scenes_written_by_workers_are_the_same_bytes(tmp_path):
    """Scenes written by 2 worker processes (the demo's) are the files one process writes, byte for byte."""
    import hashlib

    kw = dict(count=2, size_km=60, progress=False, interval=dt.timedelta(hours=3))
    one = syn.write_synthetic_scenes(tmp_path / "one", T0, **kw)
    two = syn.write_synthetic_scenes(tmp_path / "two", T0, workers=2, **kw)
    assert [sc.time for sc in two] == [sc.time for sc in one]

    def digest(root):
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*.nc"))}

    got, want = digest(tmp_path / "two"), digest(tmp_path / "one")
    assert len(want) == 2 * 4 and got == want


# --- regime labels ------------------------------------------------------------
def test_label_map_present_and_matches(synthetic_scenes):
    scene = synthetic_scenes[0]
    labels = syn.load_regime_labels(scene.labels)
    assert labels.dims == ("y", "x") and labels.dtype == np.int8
    assert labels.attrs["regimes"] == syn.REGIMES
    assert syn.load_regime_labels(scene.files[2]).equals(labels)  # found beside an ABI file
    assert syn.load_regime_labels(scene).equals(labels)
    fields = _fields(scene.time)
    assert np.array_equal(labels.values, fields.labels)
    # on the 1 km grid of band 1
    ds = open_abi(scene.files[1])
    assert np.allclose(labels["x"].values, ds["x"].values, atol=1e-9)
    assert np.allclose(labels["y"].values, ds["y"].values, atol=1e-9)
    # regime_at at pixel centres gives the map back; outside -> -1
    lat, lon = pixel_latlon(ds)
    rows = np.array([0, 17, 150, 299])
    cols = np.array([5, 123, 200, 299])
    got = syn.regime_at(labels, lat.values[rows, cols], lon.values[rows, cols])
    assert np.array_equal(got, labels.values[rows, cols])
    assert syn.regime_at(labels, 40.0, -50.0) == -1
    assert syn.regime_at(labels, 0.0, 100.0) == -1  # off the disk



def test_regime_labeler_gives_majority_regime_of_tile(synthetic_scenes, tmp_path):
    """RegimeLabeler: the label map's most common regime over a tile, the
    share of the tile it covers, None without a label map; picklable."""
    import pickle

    from convml_tt.data.labels import Labeler
    from convml_tt.data.tiles import Tile

    scene = synthetic_scenes[0]
    files = [str(scene.files[b]) for b in sorted(scene.files)]
    labels = syn.load_regime_labels(scene.labels)
    labeler = syn.RegimeLabeler()
    assert isinstance(labeler, Labeler)
    mixed = 0
    # a 16-pixel tile has its pixel centres on the labeler's 16 x 16 points
    for lat in np.linspace(14.0, 16.0, 5):
        for lon in np.linspace(-51.0, -49.0, 5):
            tile = Tile(float(lat), float(lon), 40e3, 16)
            got = labeler.label(tile, files)
            assert list(got) == ["regime", "regime_name", "regime_fraction"]
            found = syn.regime_at(labels, *tile.pixel_latlon()).ravel()
            counts = np.bincount(found[found >= 0], minlength=len(syn.REGIMES))
            assert got["regime"] == counts.argmax() and isinstance(got["regime"], int)
            assert got["regime_name"] == syn.REGIMES[got["regime"]]
            assert got["regime_fraction"] == round(counts.max() / found.size, 4)
            mixed += got["regime_fraction"] < 1
    assert mixed > 0, "no tile straddles two regimes: the check above is not exercised"
    # the label map is found from any of the scene's files, also the last one
    tile = Tile(15.0, -50.0, 40e3, 16)
    assert syn.RegimeLabeler().label(tile, ["missing.nc", files[-1]]) == labeler.label(tile, files)
    # off the map: None
    assert labeler.label(Tile(40.0, -50.0, 40e3, 16), files) is None
    # files without a label map: an ABI file alone in its folder, a netCDF
    # without a regime variable, a file that is not netCDF, a missing file
    alone = tmp_path / scene.files[1].name
    alone.write_bytes(scene.files[1].read_bytes())
    other = tmp_path / "other.nc"
    import xarray as xr

    xr.Dataset({"a": ("x", np.arange(3))}).to_netcdf(other)
    junk = tmp_path / "junk.nc"
    junk.write_text("not netCDF")
    for paths in ([str(alone)], [str(other)], [str(junk)], [str(tmp_path / "none.nc")], []):
        assert syn.RegimeLabeler().label(tile, paths) is None, paths
    # picklable, without its cache of label maps, and the same after the trip
    assert labeler._maps
    copy = pickle.loads(pickle.dumps(labeler))
    assert type(copy) is syn.RegimeLabeler and copy._maps == {}
    assert copy.label(tile, files) == labeler.label(tile, files)


def test_all_regimes_present_in_default_sector():
    for seed in (0, 1, 2):
        for day in (0, 2):
            f = syn.make_scene_fields(T0 + dt.timedelta(days=day), seed=seed, labels_only=True)
            present = set(np.unique(f.labels)) - {-1}
            assert len(present) >= 5, (seed, day, present)
            # regions are large: the median region holds several 200 km tiles
            areas = [np.count_nonzero(f.labels == k) for k in present]
            assert np.median(areas) > 3 * 200 * 200 * 0.75


def test_regions_drift_between_times():
    kw = dict(seed=0, labels_only=True, size_km=600)
    f0 = syn.make_scene_fields(T0, **kw)
    hours = 3
    f1 = syn.make_scene_fields(T0 + dt.timedelta(hours=hours), **kw)
    assert not np.array_equal(f0.labels, f1.labels)
    # the layout moved with the drift: labels(t1, p) == labels(t0, p - drift)
    lab0 = syn.load_regime_labels  # noqa: F841 (API exercised elsewhere)
    x, y = f1.xy()
    xx, yy = np.meshgrid(x[100:-100:7], y[100:-100:7])
    lat, lon = f1.geometry.grid.scan_to_latlon(xx, yy)
    de, dn = (v * hours for v in syn.DRIFT_KMH)
    k = math.pi / 180 * 6371.0
    lat0 = lat - dn / k
    lon0 = lon - de / (k * math.cos(math.radians(15.0)))

    def at(fields, la, lo):
        import xarray as xr

        xs, ys = fields.xy()
        da = xr.DataArray(fields.labels, dims=("y", "x"), coords={"x": xs, "y": ys})
        da.attrs.update(perspective_point_height=35786023.0, semi_major_axis=6378137.0,
                        semi_minor_axis=6356752.31414, longitude_of_projection_origin=-75.0)
        return syn.regime_at(da, la, lo)

    same = at(f1, lat, lon) == at(f0, lat0, lon0)
    unmoved = at(f1, lat, lon) == at(f0, lat, lon)
    assert same.mean() > 0.97
    assert unmoved.mean() < same.mean() - 0.05


# --- cloud fraction and organisation ------------------------------------------
@pytest.fixture(scope="module")
def big_fields():
    """A 500 km scene holding both gravel and flowers (checked), with the
    nominal regime parameters (no day-to-day variability)."""
    f = syn.make_scene_fields(T0, seed=0, size_km=500, bands=(2,), variability=0.0)
    return f


@pytest.fixture(scope="module")
def varied_fields():
    """The same scene with the default day-to-day variability."""
    return syn.make_scene_fields(T0, seed=0, size_km=500, bands=(2,))


def test_cloud_fraction_per_regime(big_fields):
    cf = syn.cloud_fraction_by_regime(big_fields.reflectance[2], big_fields.labels)
    assert len(cf) >= 5
    for name, value in cf.items():
        assert value == pytest.approx(syn.CLOUD_FRACTION[name], abs=0.01), name
    assert syn.CLOUD_FRACTION["gravel"] == syn.CLOUD_FRACTION["flowers"]
    assert abs(cf["gravel"] - cf["flowers"]) < 0.01


def test_day_to_day_factors():
    nominal = syn.day_to_day(0, T0, variability=0.0)
    assert nominal.length_scale == 1.0
    assert set(nominal.cloud_fraction.values()) == {1.0} == set(nominal.brightness.values())
    days = [syn.day_to_day(0, T0 + dt.timedelta(days=d)) for d in range(200)]
    scale = np.array([d.length_scale for d in days])
    cf = np.array([d.cloud_fraction["gravel"] for d in days])
    br = np.array([d.brightness["fish"] for d in days])
    # uniform in the logarithm over the documented ranges, different every day
    lo, hi = np.exp(-syn.DAY_TO_DAY["length_scale"]), np.exp(syn.DAY_TO_DAY["length_scale"])
    assert lo <= scale.min() < lo * 1.05 and hi / 1.05 < scale.max() <= hi
    assert np.exp(-0.25) <= cf.min() and cf.max() <= np.exp(0.25) and cf.std() > 0.1
    assert np.exp(-0.12) <= br.min() and br.max() <= np.exp(0.12)
    assert abs(np.log(scale).mean()) < 0.05
    assert syn.day_to_day(0, T0) == days[0]  # deterministic
    assert syn.day_to_day(1, T0) != days[0]  # seeded
    # the Sc deck cannot pass full cover
    assert all(d.regime_cloud_fraction("stratocumulus") <= 0.97 for d in days)
    with pytest.raises(ValueError, match="variability"):
        syn.day_to_day(0, T0, variability=-1)


def test_day_to_day_cloud_fraction_is_honoured(varied_fields):
    """Each regime's cloud fraction is the scene's (not the nominal) value,
    and the label file records it."""
    day = varied_fields.day
    cf = syn.cloud_fraction_by_regime(varied_fields.reflectance[2], varied_fields.labels)
    moved = 0
    for name, value in cf.items():
        assert value == pytest.approx(day.regime_cloud_fraction(name), abs=0.01), name
        moved += abs(day.regime_cloud_fraction(name) - syn.CLOUD_FRACTION[name]) > 0.01
    assert moved >= 3


def test_day_to_day_length_scale_sizes_the_objects(big_fields, varied_fields):
    """Object areas scale with the square of the scene's length-scale factor
    (same random draws, same regime layout, only the length scale differs)."""
    s = varied_fields.day.length_scale
    assert abs(np.log(s)) > 0.1, "pick a scene whose length scale differs from 1"
    k = syn.REGIMES.index("flowers")
    lab = np.repeat(np.repeat(big_fields.labels, 2, 0), 2, 1)
    m = ndimage.binary_erosion(lab == k, iterations=10)
    size = {}
    for name, f in (("nominal", big_fields), ("varied", varied_fields)):
        # a threshold at the nominal cloud fraction, so only sizes differ
        refl = f.reflectance[2][m]
        thr = np.quantile(refl, 1 - syn.CLOUD_FRACTION["flowers"])
        cloudy = np.zeros(lab.shape, bool)
        cloudy[m] = refl > thr
        sizes = _objects(cloudy).astype(float)
        size[name] = (sizes**2).sum() / sizes.sum()
    ratio = size["varied"] / size["nominal"]
    assert ratio == pytest.approx(s**2, rel=0.4), (ratio, s)


def _objects(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask)
    return np.bincount(lab.ravel())[1:]


def test_equal_cloud_fraction_but_different_organisation(big_fields):
    """gravel and flowers: same cloud fraction, very different object sizes
    and spatial spectra."""
    refl = big_fields.reflectance[2]
    lab = np.repeat(np.repeat(big_fields.labels, 2, 0), 2, 1)
    cloudy = refl > syn.CLOUD_REFLECTANCE_THRESHOLD
    stats = {}
    for name in ("gravel", "flowers"):
        k = syn.REGIMES.index(name)
        # the largest square window inside the region, for object statistics
        m = ndimage.binary_erosion(lab == k, iterations=10)
        sizes = _objects(cloudy & m)
        # area-weighted mean object size (pixels of 0.5 km)
        stats[name] = (sizes.astype(float) ** 2).sum() / sizes.sum()
    assert stats["flowers"] > 20 * stats["gravel"], stats


def _elongation(mask: np.ndarray, min_pixels: int = 200) -> float:
    """Area-weighted mean elongation (major / minor axis of the second
    moments) of the cloud objects of ``mask`` with at least ``min_pixels``."""
    lab, _ = ndimage.label(ndimage.binary_closing(mask, iterations=2))
    ratios, areas = [], []
    for i, sl in enumerate(ndimage.find_objects(lab)):
        yy, xx = np.nonzero(lab[sl] == i + 1)
        if yy.size >= min_pixels:
            ev = np.linalg.eigvalsh(np.cov(np.vstack([yy, xx]).astype(float)))
            ratios.append(np.sqrt(ev[1] / max(ev[0], 1e-9)))
            areas.append(yy.size)
    assert areas, "no large cloud objects"
    return float(np.average(ratios, weights=areas))


def test_fish_and_flowers_differ_in_shape_not_amount(big_fields):
    """fish and flowers: same cloud fraction, but fish bands are elongated
    (measured 3.2 : 1) where flowers are roundish patches (1.8 : 1)."""
    assert syn.CLOUD_FRACTION["fish"] == syn.CLOUD_FRACTION["flowers"]
    cf = syn.cloud_fraction_by_regime(big_fields.reflectance[2], big_fields.labels)
    assert abs(cf["fish"] - cf["flowers"]) < 0.01
    lab = np.repeat(np.repeat(big_fields.labels, 2, 0), 2, 1)
    cloudy = big_fields.reflectance[2] > syn.CLOUD_REFLECTANCE_THRESHOLD
    el = {name: _elongation(cloudy & ndimage.binary_erosion(lab == syn.REGIMES.index(name), iterations=10))
          for name in ("fish", "flowers")}
    assert el["fish"] > 1.5 * el["flowers"], el


# --- bad input ----------------------------------------------------------------
def test_off_disk_centre_is_a_clear_error(tmp_path):
    with pytest.raises(OffDiskError, match="off the Earth's disk"):
        syn.write_synthetic_scenes(tmp_path, T0, count=1, center=(10.0, 100.0), progress=False)
    assert not any(tmp_path.rglob("*.nc"))
    with pytest.raises(ValueError, match="count"):
        syn.write_synthetic_scenes(tmp_path, T0, count=0, progress=False)
    with pytest.raises(ValueError, match="band"):
        syn.write_synthetic_scenes(tmp_path, T0, count=1, bands=(14,), size_km=20, progress=False)
    with pytest.raises(ValueError, match="satellite"):
        syn.write_synthetic_scenes(tmp_path, T0, count=1, satellite=15, progress=False)



def test_scene_settings_same_as_keywords(tmp_path):
    from convml_tt.config import SceneSettings

    kw = dict(count=2, interval=dt.timedelta(hours=3), seed=2, size_km=20, bands=(2, 1))
    a = syn.write_synthetic_scenes(tmp_path / "a", T0, progress=False, **kw)
    b = syn.write_synthetic_scenes(tmp_path / "b", settings=SceneSettings(start=T0, **kw), progress=False)
    assert [s.time for s in a] == [s.time for s in b]
    for sa, sb in zip(a, b):
        assert sa.files.keys() == sb.files.keys()
        for p in list(sa.files.values()) + [sa.labels]:
            assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()
    with pytest.raises(TypeError, match="settings"):
        syn.write_synthetic_scenes(tmp_path, T0, settings=SceneSettings(start=T0), progress=False)
    with pytest.raises(TypeError, match="start"):
        syn.write_synthetic_scenes(tmp_path, progress=False)
    # the settings check what the keywords are checked for, with the same words
    for bad, match in ((dict(count=0), "count"), (dict(sector="X"), "sector"),
                       (dict(variability=3), "variability"), (dict(region_km=-1), "region_km")):
        with pytest.raises(ValueError, match=match):
            SceneSettings(**bad)


# --- command line -------------------------------------------------------------
def test_cli_synthetic_writes_scenes(tmp_path, capsys):
    from convml_tt.cli import main

    rc = main(["synthetic", "--data-root", str(tmp_path), "--start", "2020-01-02T14:00",
               "--count", "2", "--interval", "6h", "--seed", "1", "--center", "12", "-55",
               "--size-km", "40", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out.split()
    files = sorted(tmp_path.rglob("OR_ABI-L1b-RadM1-*.nc"))
    assert len(files) == 6 and all(str(f) in out for f in files)
    assert len(list(tmp_path.rglob(f"{syn.LABEL_PREFIX}*.nc"))) == 2
    assert {ABIKey.parse(f.name).start.hour for f in files} == {14, 20}
    rc = main(["synthetic", "--data-root", str(tmp_path), "--center", "0", "100", "--count", "1", "--quiet"])
    assert rc == 1 and "off the Earth's disk" in capsys.readouterr().err


# --- cross-check with satpy (an independent reader) ---------------------------
def test_satpy_abi_l1b_reader_agrees(synthetic_scenes):
    """satpy's abi_l1b reader opens the files; its reflectances (percent) agree
    with convml_tt.data.sources.goes_abi to float32 rounding (<= 1e-5 relative) and its
    longitudes/latitudes to 1e-5 degrees (measured: ~3e-6, from satpy decoding
    the int16 scan angles in float64 and xarray in float32: ~0.3 m)."""
    satpy = pytest.importorskip("satpy")
    scene = synthetic_scenes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(reader="abi_l1b", filenames=[str(p) for p in scene.files.values()])
        names = [f"C{b:02d}" for b in sorted(scene.files)]
        scn.load(names, calibration="reflectance")
        for band, name in zip(sorted(scene.files), names):
            da = scn[name]
            assert da.attrs["units"] == "%"
            ours = calibrate(read_abi(scene.files[band])).values
            theirs = np.asarray(da.values, dtype=np.float64)
            assert theirs.shape == ours.shape
            np.testing.assert_allclose(theirs, 100 * ours, rtol=1e-5, atol=1e-4)
            lons, lats = da.attrs["area"].get_lonlats()
            lat, lon = pixel_latlon(open_abi(scene.files[band]))
            assert np.abs(lats - lat.values).max() < 1e-5
            assert np.abs(lons - lon.values).max() < 1e-5
            assert da.attrs["platform_name"] == "GOES-16"
            assert da.attrs["start_time"] == scene.time
