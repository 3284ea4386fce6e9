"""The ``satpy`` source: imagers read through satpy.Scene onto the library's fixed grid.

Inputs are real files satpy reads: the project's synthetic ABI L1b files
(``abi_l1b``), and Himawari-9 AHI HSD and Meteosat-11 SEVIRI netCDF files
written by :mod:`imager_fixtures` in the producers' layouts, with the truth
(the physical values their counts encode) beside them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from convml_tt.data.sources.base import SceneMismatchError, UnknownBandError, group_scenes
from convml_tt.data.sources.goes_abi import OffDiskError

from fci_fixtures import FCI_START, write_fci_chunk
from imager_fixtures import AHI_START, SEVIRI_START, write_ahi_hsd, write_seviri_nc
from synthetic_fixtures import DOMAIN

pytest.importorskip("satpy")

#: domains inside the AHI (14.9-16.1N, 149.0-150.2E) and SEVIRI (7.7-9.5S, 3.9-5.7E) files
AHI_DOMAIN = (149.2, 15.1, 150.0, 15.9)
SEVIRI_DOMAIN = (4.2, -9.2, 5.4, -8.0)
#: a domain inside the FCI chunk (8.6-9.2S, across the disc)
FCI_DOMAIN = (0.0, -9.1, 1.0, -8.7)
#: the vis_06 pixel (row north first, column) whose pixel_quality says "not good"
FCI_BAD = (40, 5600)
#: the SEVIRI scan line (north first) its producer flagged as bad
BAD_LINE = 20


@pytest.fixture(scope="module")
def ahi(tmp_path_factory):
    """``(folder, paths, truth)`` of AHI B01-B04 and B13 in 2 segments each."""
    folder = tmp_path_factory.mktemp("ahi")
    paths, truth = write_ahi_hsd(folder)
    return folder, paths, truth


@pytest.fixture(scope="module")
def seviri(tmp_path_factory):
    """``(path, truth)`` of a SEVIRI file whose line :data:`BAD_LINE` is flagged bad."""
    return write_seviri_nc(tmp_path_factory.mktemp("seviri"), bad_line=BAD_LINE)


@pytest.fixture(scope="module")
def fci(tmp_path_factory):
    """``(path, truth)`` of an FCI FDHSI chunk whose vis_06 pixel :data:`FCI_BAD` is flagged."""
    return write_fci_chunk(tmp_path_factory.mktemp("fci"), bad_pixel=FCI_BAD)


@pytest.fixture(scope="module")
def source():
    from convml_tt.data.sources.satpy_reader import SatpySource

    return SatpySource()


def _scene(source, paths):
    found = [source.identify(p) for p in paths]
    scenes = group_scenes([f for f in found if f is not None])
    assert len(scenes) == 1
    return scenes[0]


def _regridded(values, tx, ty, wx, wy):
    """``values`` (on pixel centres ``tx``, ``ty``, radians) on the raster
    ``wx``, ``wy``: the mean of the source pixels inside each output pixel
    (finer sources; NaN if any is NaN) or the source pixel holding its
    centre (coarser ones)."""
    def weights(t, w):
        half = max(abs(t[1] - t[0]), abs(w[1] - w[0])) / 2
        return (np.abs(w[:, None] - t[None, :]) < half * (1 - 1e-6)).astype(float)

    my, mx = weights(ty, wy), weights(tx, wx)
    assert my.sum(1).min() >= 1 and mx.sum(1).min() >= 1
    out = (my @ np.nan_to_num(values) @ mx.T) / np.outer(my.sum(1), mx.sum(1))
    out[my @ np.isnan(values) @ mx.T > 0] = np.nan
    return out


def _read(window, band):
    out = np.full(window.shape, -1.0, np.float32)
    assert window.read(band, out) is out
    return out


# --- ABI through satpy equals the native reader -----------------------------------------------
@pytest.mark.parametrize("resolution_km", [1.0, 2.0])
def test_abi_through_satpy_equals_the_native_reader(synthetic_scenes, source, resolution_km):
    """satpy's abi_l1b reader on the project's synthetic L1b files, through
    the satpy source, gives the native reader's window (the band-list
    composite C01+C02+C03: each band calibrated and brought to the raster)
    within 1e-5 reflectance, on the same raster and the same lat/lon; whole
    composites (true colour: sun-zenith corrected, simulated green) agree
    alike."""
    from convml_tt.data.composites import make_composite

    files = synthetic_scenes[0].files
    scene = _scene(source, list(files.values()))
    assert (scene.source, scene.platform, scene.product, scene.sector) == ("satpy", "goes16", "abi_l1b", "M1")
    assert set(scene.files) == {1, 2, 3}
    native = make_composite(files, DOMAIN, kind="C01+C02+C03", resolution_km=resolution_km)
    with source.open_window(scene, ["C01", 2, "c03"], DOMAIN, resolution_km) as w:
        assert w.shape == native.C01_C02_C03.shape[:2]
        assert np.abs(w.x - native.x.values).max() < 1e-8 and np.abs(w.y - native.y.values).max() < 1e-8
        for k, band in enumerate((1, 2, 3)):
            ours, theirs = _read(w, band), native.C01_C02_C03.values[..., k]
            assert np.isfinite(ours).all()
            assert np.abs(ours - theirs).max() < 1e-5
        lat, lon = w.latlon()
        assert np.abs(lat - native.lat.values).max() < 1e-5 and np.abs(lon - native.lon.values).max() < 1e-5
        assert w.grid.sweep_angle_axis == "x" and w.grid.longitude_of_projection_origin == -75.0
    # whole composites: the native goes_abi source against the files read through satpy
    for kind in ("truecolor", "C01+C02+C03"):
        ours = make_composite(files, DOMAIN, kind=kind, resolution_km=resolution_km, source="satpy")
        theirs = make_composite(files, DOMAIN, kind=kind, resolution_km=resolution_km)
        assert (ours.attrs["source"], theirs.attrs["source"]) == ("satpy", "goes_abi")
        assert ours.attrs["title"] == theirs.attrs["title"] == f"GOES-16 ABI {kind} composite"
        name = theirs.attrs["composite_variable"]
        a, b = ours[name].values, theirs[name].values
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b)) < 1e-5, kind
        assert np.abs(ours.lat.values - theirs.lat.values).max() < 1e-5


# --- AHI -----------------------------------------------------------------------------------------
def test_ahi_files_open_with_plain_satpy_and_give_the_values_written(ahi):
    import satpy

    folder, paths, truth = ahi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
        scn.load(["B01", "B03", "B13"])
    for band in ("B01", "B03", "B13"):
        arr = scn[band]
        values, tx, ty = truth[band]
        h = arr.attrs["area"].crs.coordinate_operation.params[1].value
        x, y = arr.attrs["area"].get_proj_vectors()
        assert np.abs(x / h - tx).max() < 1e-12 and np.abs(y / h - ty).max() < 1e-12
        scale = 1.0 if band == "B13" else 100.0
        assert np.abs(arr.values / scale - values).max() < (1e-4 if band == "B13" else 1e-6)
        assert arr.attrs["platform_name"] == "Himawari-9" and arr.attrs["start_time"] == AHI_START


def test_ahi_window_is_the_truth_on_the_fixed_grid(ahi, source):
    """Through the source at 1 km: B01/B02 (1 km) as written, B03 (0.5 km)
    2 x 2 means, B13 (2 km) replicated; reflectances not sun-zenith
    corrected, B13 in K; sweep-y grid of Himawari-9, row 0 north."""
    folder, paths, truth = ahi
    scene = _scene(source, paths)
    assert (scene.platform, scene.product, scene.sector, scene.start) == ("himawari9", "ahi_hsd", "FLDK", AHI_START)
    assert sorted(scene.files) == ["B01", "B02", "B03", "B04", "B13"]
    with source.open_window(scene, ["B03", "B02", "B01", "B13"], AHI_DOMAIN, 1.0) as w:
        assert w.grid.sweep_angle_axis == "y" and w.grid.longitude_of_projection_origin == 140.7
        assert np.all(np.diff(w.x) > 0) and np.all(np.diff(w.y) < 0)
        assert len(w.files) == 8  # both segments of each band read
        for band in ("B03", "B02", "B01", "B13"):
            values, tx, ty = truth[band]
            expected = _regridded(values, tx, ty, w.x, w.y)
            tol = 1e-3 if band == "B13" else 2e-6
            assert np.abs(_read(w, band) - expected).max() < tol, band
        lat, lon = w.latlon()
        lon_min, lat_min, lon_max, lat_max = AHI_DOMAIN
        assert lat.max() > lat_max and lat.min() < lat_min and lon.min() < lon_min and lon.max() > lon_max
        assert lat.max() - lat_max < 0.15 and lon_min - lon.min() < 0.15  # the domain plus a 2-pixel margin


def test_ahi_scene_from_one_segment_finds_the_others(ahi, source):
    """A scene grouped from the first segment files alone reads the second
    segments found beside them."""
    folder, paths, truth = ahi
    scene = _scene(source, [p for p in paths if "_S0102" in p.name])
    with source.open_window(scene, ["B13"], AHI_DOMAIN, 2.0) as w:
        values, tx, ty = truth["B13"]
        assert len(w.files) == 2
        assert np.abs(_read(w, "B13") - _regridded(values, tx, ty, w.x, w.y)).max() < 1e-3


def test_ahi_missing_segments(source, tmp_path):
    """Segments 1-2 of 4: read on their own area (a domain reaching into
    segment 3 is outside the sector); segments 1, 2 and 4: satpy pads the
    gap with NaN."""
    paths, truth = write_ahi_hsd(tmp_path, segments=4, bands=("B13",))
    values, tx, ty = truth["B13"]
    for p in paths:
        if "_S0304" in p.name or "_S0404" in p.name:
            p.rename(p.with_suffix(".kept"))
    scene = _scene(source, list(tmp_path.glob("*.DAT")))
    with pytest.raises(OffDiskError, match=r"not wholly inside the sector of Himawari-9 ahi_hsdFLDK .*covers about "
                                           r"lon 148.99 to 150.23, lat 15.51 to 16.12"):
        source.open_window(scene, ["B13"], AHI_DOMAIN, 2.0)
    north = (149.4, 15.75, 149.9, 15.95)
    with source.open_window(scene, ["B13"], north, 2.0) as w:
        assert np.abs(_read(w, "B13") - _regridded(values, tx, ty, w.x, w.y)).max() < 1e-3
    (tmp_path / paths[-1].with_suffix(".kept").name).rename(paths[-1])  # segment 4 back: a gap at 3
    with source.open_window(_scene(source, list(tmp_path.glob("*.DAT"))), ["B13"], AHI_DOMAIN, 2.0) as w:
        out = _read(w, "B13")
        gap = (w.y < ty[32] + 1e-9) & (w.y > ty[47] - 1e-9)  # the rows of segment 3 (2-km rows 32-47)
        assert gap.sum() == 16 and np.isnan(out[gap]).all() and np.isfinite(out[~gap]).all()
        assert np.abs(out[~gap] - _regridded(values, tx, ty, w.x, w.y)[~gap]).max() < 1e-3


def test_ahi_bad_band_and_resolution_and_domain(ahi, source):
    folder, paths, truth = ahi
    scene = _scene(source, paths)
    with pytest.raises(UnknownBandError, match=r"ahi has no band 'B17'.*B01 \(0.47 um\).*B16 \(13.3 um\)"):
        source.open_window(scene, ["B17"], AHI_DOMAIN, 1.0)
    with pytest.raises(ValueError, match=r"has no file with band B05 \(it has B01, B02, B03, B04, B13\)"):
        source.open_window(scene, ["B05"], AHI_DOMAIN, 2.0)
    with pytest.raises(ValueError, match=r"resolution 0.75 km is not a whole multiple or divisor.*choose e.g."):
        source.open_window(scene, ["B13"], AHI_DOMAIN, 0.75)
    with pytest.raises(OffDiskError, match=r"outside the sector of Himawari-9 ahi_hsdFLDK"):
        source.open_window(scene, ["B13"], (160.0, 15.0, 161.0, 16.0), 2.0)


# --- SEVIRI --------------------------------------------------------------------------------------
def test_seviri_file_opens_with_plain_satpy_and_gives_the_values_written(seviri):
    """satpy reads the values written; its own line masking (0.60) blanks the
    mirror image of the flagged line (it flips the image north-up but not
    the flags), which is why the source applies the flags itself: when this
    fails because satpy masks the flagged line, the source can leave the
    flags to satpy again."""
    import satpy

    path, truth = seviri
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(filenames=[str(path)], reader="seviri_l1b_nc")
        scn.load(["VIS006", "IR_108"])
    mirror = len(truth["VIS006"][2]) - 1 - BAD_LINE
    for band, scale, tol in (("VIS006", 100.0, 1e-6), ("IR_108", 1.0, 1e-3)):
        values, tx, ty = truth[band]
        got = scn[band].values / scale
        assert np.isnan(values[BAD_LINE]).all() and np.isnan(got).sum(0).tolist() == [1] * got.shape[1]
        assert np.isnan(got[mirror]).all() and np.isfinite(got[BAD_LINE]).all()
        good = [i for i in range(got.shape[0]) if i not in (BAD_LINE, mirror)]
        assert np.abs(got[good] - values[good]).max() < tol
        x, y = scn[band].attrs["area"].get_proj_vectors()
        assert np.abs(x / 35785831.0 - tx).max() < 1e-12 and np.abs(y / 35785831.0 - ty).max() < 1e-12
    assert scn["IR_108"].attrs["platform_name"] == "Meteosat-11"


def test_seviri_window_and_quality_policies(seviri, source):
    """At 3 km the window holds the values written; the producer's bad line
    is NaN (keep-saturated, strict) unless quality='all'; at 1 km the 3-km
    pixels are replicated."""
    path, truth = seviri
    scene = _scene(source, [path])
    assert (scene.platform, scene.product, scene.sector, scene.start) == ("meteosat11", "seviri_l1b_nc", "", SEVIRI_START)
    assert "HRV" not in scene.files and len(scene.files) == 11
    with source.open_window(scene, ["VIS006", "IR_108"], SEVIRI_DOMAIN, 3.0) as w:
        assert w.grid.perspective_point_height == 35785831.0 and w.grid.sweep_angle_axis == "y"
        for band, tol in (("VIS006", 1e-6), ("IR_108", 1e-3)):
            values, tx, ty = truth[band]
            got, expected = _read(w, band), _regridded(values, tx, ty, w.x, w.y)
            assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got).any()
            assert np.nanmax(np.abs(got - expected)) < tol
    with source.open_window(scene, ["IR_108"], SEVIRI_DOMAIN, 3.0, quality="all") as w:
        assert np.isfinite(_read(w, "IR_108")).all()
    with source.open_window(scene, ["IR_108"], SEVIRI_DOMAIN, 1.0, quality="strict") as w:
        values, tx, ty = truth["IR_108"]
        got, expected = _read(w, "IR_108"), _regridded(values, tx, ty, w.x, w.y)
        assert w.shape[0] > 140 and np.array_equal(np.isnan(got), np.isnan(expected))
        assert np.nanmax(np.abs(got - expected)) < 1e-3
    with pytest.raises(ValueError, match="quality='loose' must be one of strict, keep-saturated, all"):
        source.open_window(scene, ["IR_108"], SEVIRI_DOMAIN, 3.0, quality="loose")


def test_seviri_file_renamed_to_another_satellite_is_refused(seviri, source, tmp_path):
    path, truth = seviri
    renamed = tmp_path / path.name.replace("MSG4", "MSG3")
    shutil.copy(path, renamed)
    scene = _scene(source, [renamed])
    assert scene.platform == "meteosat10"
    with pytest.raises(SceneMismatchError, match=r"the file names say meteosat10 .* satpy reads platform Meteosat-11"):
        source.open_window(scene, ["IR_108"], SEVIRI_DOMAIN, 3.0)


# --- FCI ----------------------------------------------------------------------------------------
def test_fci_chunk_opens_with_plain_satpy_and_gives_the_values_written(fci):
    """(Computed in one thread: satpy's FCI reader reads its netCDF4 handle
    without a lock, which fails now and then in several threads.)"""
    import satpy

    path, truth = fci
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(filenames=[str(path)], reader="fci_l1c_nc")
        scn.load(["vis_06", "ir_105"], pad_data=False)
    for band, scale, tol in (("vis_06", 100.0, 1e-6), ("ir_105", 1.0, 1e-3)):
        arr = scn[band].compute(scheduler="synchronous")
        values, tx, ty = truth[band]
        x, y = arr.attrs["area"].get_proj_vectors()
        assert np.abs(x / 35786400.0 - tx).max() < 1e-9 and np.abs(y[::-1] / 35786400.0 - ty).max() < 1e-9  # south up
        got = arr.values[::-1] / scale
        assert np.array_equal(np.isnan(got), np.isnan(values)) and np.isnan(got).any()  # off the disc
        assert np.nanmax(np.abs(got - values)) < tol
        assert arr.attrs["platform_name"] == "Meteosat-12" and arr.attrs["start_time"] == FCI_START


def test_fci_window_north_up_and_pixel_quality(fci, source):
    """The south-up chunk comes north-up; strict makes the pixel whose
    pixel_quality is not 0 NaN, keep-saturated keeps it."""
    path, truth = fci
    scene = _scene(source, [path])
    assert (scene.platform, scene.product, scene.sector, scene.start) == ("mtg-i1", "fci_l1c_nc", "FD", FCI_START)
    assert source.band_table(scene.platform).sensor == "fci" == source.band_table("meteosat12").sensor
    bands = ["vis_06", "vis_05", "vis_04", "ir_105"]
    with source.open_window(scene, bands, FCI_DOMAIN, 1.0) as w:
        assert w.grid.sweep_angle_axis == "y" and np.all(np.diff(w.y) < 0) and np.all(np.diff(w.x) > 0)
        for band in bands:
            values, tx, ty = truth[band]
            expected = _regridded(values, tx, ty, w.x, w.y)
            assert np.abs(_read(w, band) - expected).max() < (1e-3 if band == "ir_105" else 1e-6), band
        vx, vy = truth["vis_06"][1][FCI_BAD[1]], truth["vis_06"][2][FCI_BAD[0]]
        bad = (np.argmin(np.abs(w.y - vy)), np.argmin(np.abs(w.x - vx)))
        assert abs(w.x[bad[1]] - vx) < 1e-9 and abs(w.y[bad[0]] - vy) < 1e-9
        assert np.isfinite(_read(w, "vis_06")[bad])
    with source.open_window(scene, ["vis_06", "ir_105"], FCI_DOMAIN, 1.0, quality="strict") as w:
        strict = _read(w, "vis_06")
        assert np.isnan(strict[bad]) and np.isnan(strict).sum() == 1 and np.isfinite(_read(w, "ir_105")).all()


# --- recognising files -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("HS_H09_20230615_0300_B03_FLDK_R05_S0110.DAT", ("himawari9", "ahi_hsd", "FLDK", "2023-06-15 03:00:00", ("B03",))),
    ("HS_H08_20150101_0000_B13_JP02_R20_S0101.DAT.bz2", ("himawari8", "ahi_hsd", "JP02", "2015-01-01 00:02:30", ("B13",))),
    ("W_XX-EUMETSAT-Darmstadt,VIS+IR+HRV+IMAGERY,MSG2+SEVIRI_C_EUMG_20190101120000.nc",
     ("meteosat9", "seviri_l1b_nc", "", "2019-01-01 12:00:00", ("VIS006", "VIS008"))),
    ("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY--L2P-NC4E_C_EUMT_20240410114434_IDPFI_OPE_"
     "20240410113925_20240410113934_N__C_0070_0067.nc", ("mtg-i1", "fci_l1c_nc", "FD", "2024-04-10 11:30:00", ("vis_04", "vis_05"))),
    ("OR_ABI-L1b-RadM1-M6C13_G16_s20200021400000_e20200021400070_c20200021400076.nc",
     ("goes16", "abi_l1b", "M1", "2020-01-02 14:00:00", (13,))),
])
def test_identify_by_satpys_file_patterns(source, name, expected):
    f = source.identify(Path("/any/folder") / name)
    got = (f.platform, f.product, f.sector, str(f.start), f.bands[:len(expected[4])])
    assert got == expected and f.source == "satpy"


@pytest.mark.parametrize("name", ["HS_H07_20230615_0300_B03_FLDK_R05_S0110.DAT", "notes.txt",
                                  "W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-TRAIL--L2P-NC4E_C_EUMT_"
                                  "20240410114434_IDPFI_OPE_20240410113925_20240410113934_N__C_0070_0041.nc"])
def test_identify_leaves_other_files(source, name):
    assert source.identify(Path(name)) is None


def test_identify_does_not_import_satpy(ahi):
    """Recognising files needs satpy's YAML and trollsift only; satpy itself
    is imported when a window is opened."""
    folder, paths, truth = ahi
    code = ("import sys; import convml_tt, convml_tt.data.composites; "
            "from convml_tt.data.sources.satpy_reader import SatpySource; "
            f"f = SatpySource().identify({str(paths[0])!r}); assert f.platform == 'himawari9'; "
            "print('satpy' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


# --- the registry and the command line -------------------------------------------------------------
def test_registry_gives_abi_files_to_goes_abi_unless_satpy_is_named(synthetic_scenes, ahi, tmp_path, capsys):
    from convml_tt.cli import main
    from convml_tt.data.sources import identify, list_sources

    folder, paths, truth = ahi
    abi_file = synthetic_scenes[0].files[1]
    assert list_sources()[:2] == ["goes_abi", "satpy"]
    assert identify(abi_file).source == "goes_abi" and identify(abi_file, ["satpy"]).source == "satpy"
    assert identify(paths[0]).source == "satpy" and identify(paths[0], ["goes_abi"]) is None
    odd = tmp_path / "HS_H07_20230615_0300_B03_FLDK_R05_S0110.DAT"
    odd.write_bytes(b"not HSD")
    rc = main(["composite", "--data-root", str(tmp_path), "--input", str(odd), "--domain", *map(str, AHI_DOMAIN),
               "--recipe", "ahi_truecolor", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert str(odd) in err and "no registered source recognises this file" in err and "satpy: any geostationary" in err


def test_cli_composite_of_ahi_files_equals_satpys_own_bands(ahi, tmp_path, capsys):
    """``convml_tt composite --input DIR --source satpy --recipe ahi_truecolor``
    writes a composite whose values are satpy's own loaded bands on its pixels
    (B01/B02 as they are, B03 2 x 2 means at 1 km) with --sunz off, and those
    divided by cos(SZA) by default (the files recognised without --source)."""
    import satpy

    from convml_tt.cli import main
    from convml_tt.data.composites import load_composite
    from convml_tt.data.composites.reader import open_composite
    from convml_tt.data.geometry import solar

    folder, paths, truth = ahi
    root = tmp_path / "root"
    common = ["composite", "--data-root", str(root), "--input", str(folder), "--recipe", "ahi_truecolor",
              "--domain", *map(str, AHI_DOMAIN), "--quiet"]
    assert main(common + ["--source", "satpy", "--sunz", "off"]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    raw = load_composite(path, load=True)
    assert path.parts[-4] == "himawari9" and raw.rgb.dims == ("y", "x", "channel")
    assert raw.attrs["platform"] == "himawari9" and raw.attrs["source"] == "satpy"
    assert raw.attrs["product"] == "ahi_hsd" and raw.attrs["title"] == "Himawari-9 AHI ahi_truecolor composite"
    assert raw.time.values == np.datetime64(AHI_START) and raw.attrs["sunz"] == 0
    gm = raw[raw.rgb.attrs["grid_mapping"]].attrs
    assert gm["sweep_angle_axis"] == "y" and gm["longitude_of_projection_origin"] == 140.7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(filenames=[str(p) for p in paths], reader="ahi_hsd")
        scn.load(["B03", "B02", "B01"])
    for k, band in enumerate(("B03", "B02", "B01")):
        arr = scn[band]
        h = arr.attrs["area"].crs.coordinate_operation.params[1].value
        x, y = arr.attrs["area"].get_proj_vectors()
        expected = _regridded(arr.values / 100.0, x / h, y / h, raw.x.values, raw.y.values)
        assert np.abs(raw.rgb.values[..., k] - expected).max() < 1e-6, band
    reader = open_composite(path)
    assert reader.platform == "himawari9" and reader.sg.grid.sweep_angle_axis == "y"
    assert main(common) == 0  # recognised without --source; the recipe's default sun-zenith correction
    corrected = load_composite(Path(capsys.readouterr().out.strip().splitlines()[-1]), load=True)
    assert corrected.attrs["sunz"] == 1
    f = solar.sunz_correction_factor(solar.cos_solar_zenith(AHI_START, raw.lat.values, raw.lon.values))
    np.testing.assert_allclose(corrected.rgb.values, raw.rgb.values * f[..., None], rtol=1e-5)


def test_cli_triplets_from_ahi_files(ahi, tmp_path):
    """AHI files through the whole sampling step: composites of the AHI
    recipe, tiles on Himawari's sweep-y fixed grid, organisation indices from
    the recipe's cloud mask."""
    import yaml
    from PIL import Image

    from convml_tt.cli import main

    folder, paths, truth = ahi
    out = tmp_path / "ds"
    assert main(["triplets", "--data-root", str(tmp_path), "--input", str(folder), "--recipe", "ahi_truecolor",
                 "--domain", *map(str, AHI_DOMAIN), "--tile-size-m", "15e3", "--tile-pixels", "16", "--n-train", "4",
                 "--distant", "same_scene", "--out", str(out), "--quiet"]) == 0
    metas = sorted((out / "train").glob("*_meta.yaml"))
    assert len(metas) == 4
    for m in metas:
        meta = yaml.safe_load(m.read_text())
        for role in ("anchor", "neighbor", "distant"):
            tile = meta[role]
            assert tile["satellite"] == "himawari9" and tile["time"] == AHI_START.isoformat()
            lon_min, lat_min, lon_max, lat_max = AHI_DOMAIN
            assert lon_min < tile["lon"] < lon_max and lat_min < tile["lat"] < lat_max
            assert 0.0 <= tile["indices"]["cloud_fraction"] <= 1.0
            with Image.open(m.parent / m.name.replace("meta.yaml", f"{role}.png")) as im:
                assert im.size == (16, 16) and im.mode == "RGB"


def test_cli_recipe_of_another_sensor_is_named(seviri, tmp_path, capsys):
    from convml_tt.cli import main

    path, truth = seviri
    rc = main(["composite", "--data-root", str(tmp_path), "--input", str(path), "--source", "satpy",
               "--recipe", "ahi_B13", "--domain", *map(str, SEVIRI_DOMAIN), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "no scenes" in err
    rc = main(["composite", "--data-root", str(tmp_path), "--input", str(path), "--recipe", "seviri_IR_108",
               "--domain", *map(str, SEVIRI_DOMAIN), "--quiet"])
    assert rc == 0
    from convml_tt.data.composites import load_composite

    ds = load_composite(Path(capsys.readouterr().out.strip().splitlines()[-1]), load=True)
    values, tx, ty = truth["IR_108"]
    expected = _regridded(values, tx, ty, ds.x.values, ds.y.values)
    assert np.array_equal(np.isnan(ds.seviri_IR_108.values), np.isnan(expected))
    assert np.nanmax(np.abs(ds.seviri_IR_108.values - expected)) < 1e-3 and ds.seviri_IR_108.attrs["units"] == "K"


# --- band tables and recipes -----------------------------------------------------------------------
def test_band_tables_agree_with_satpys_readers():
    """Each band's central wavelength lies in the range satpy's reader gives
    it, and the tables know every band satpy reads for these sensors."""
    import yaml

    from convml_tt.data.sources.bands import AHI_BANDS, FCI_BANDS, SEVIRI_BANDS
    from convml_tt.data.sources.imagers import satpy_config_dirs

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)
    for reader, table in (("ahi_hsd", AHI_BANDS), ("seviri_l1b_nc", SEVIRI_BANDS), ("fci_l1c_nc", FCI_BANDS)):
        path = next(d / "readers" / f"{reader}.yaml" for d in satpy_config_dirs() if (d / "readers" / f"{reader}.yaml").exists())
        datasets = yaml.load(path.read_text(), Loader=Loader)["datasets"]
        channels = {k: v for k, v in datasets.items() if "wavelength" in v}
        assert sorted(channels) == sorted(b.name for b in table), reader
        for band in table:
            lo, _, hi = channels[band.name]["wavelength"]
            assert lo <= band.wavelength_um <= hi, (reader, band)
            calib = channels[band.name]["calibration"]
            assert ("reflectance" in calib) == band.reflective, (reader, band)


def test_imager_recipes_name_bands_of_their_sensor():
    from convml_tt.data.composites import get_recipe
    from convml_tt.data.sources.bands import band_table

    expected = {"ahi_truecolor": ("ahi", ("B03", "B02", "B01")), "ahi_B13": ("ahi", ("B13",)),
                "seviri_natural": ("seviri", ("IR_016", "VIS008", "VIS006")), "seviri_IR_108": ("seviri", ("IR_108",)),
                "fci_truecolor": ("fci", ("vis_06", "vis_05", "vis_04")), "fci_ir_105": ("fci", ("ir_105",))}
    for name, (sensor, bands) in expected.items():
        r = get_recipe(name)
        assert (r.sensor, r.bands) == (sensor, bands)
        table = band_table(sensor)
        kinds = {table.get(b).kind for b in r.bands}
        assert kinds == ({"emissive"} if r.units == "K" else {"reflective"})
        assert r.cloud_mask is not None and (r.max_sza is None) == (r.units == "K") and r.sunz == (r.units == "1")
    assert get_recipe("ahi_truecolor").read_into == {"B03": 0, "B02": 1, "B01": 2}
    with pytest.raises(ValueError, match="must be a band name of the ahi band table"):
        from convml_tt.data.composites import Recipe

        Recipe(name="bad", bands=(3,), sensor="ahi")
