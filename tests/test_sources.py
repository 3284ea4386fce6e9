"""The source seam: scenes from any folder layout (--input), the ABI L1b / L2
CMIP / MCMIP source, sector and product filters, scenes whose sector does
not cover the domain (skipped and reported), files of one scene that must
belong together, sources that changed, and offline listing of any layout.

Real NOAA files (the shared goes_real data) wherever a behaviour can be shown
on them; synthetic ABI scenes (convml_tt.data.synthetic) for time series.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from convml_tt.cli import main
from convml_tt.data import composites as C
from convml_tt.data.sources import get_source, identify, list_sources
from convml_tt.data.sources.goes_abi import MissingBandsWarning
from convml_tt.data.sources.base import SceneMismatchError, UnknownBandError, hdf5_truncated

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY = "s20193002000275"
NIGHT = "s20193351027275"
REAL_DOMAIN = (-126.0, 31.0, -124.0, 33.0)


def _real(band: int, scan: str = DAY) -> Path:
    found = sorted(REAL.glob(f"OR_ABI-L1b-RadM1-M6C{band:02d}_G17_{scan}_*.nc"))
    if not found:  # as the other real-file tests: skipped where ../shared is not beside the clone
        pytest.skip(f"real GOES-17 band {band} file of scan {scan} not in {REAL}")
    return found[0]


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


# -----------------------------------------------------------------------------
# your own files, any layout
# -----------------------------------------------------------------------------
def test_real_files_in_a_flat_folder_composite_like_the_files_themselves(tmp_path, capsys):
    flat = tmp_path / "my files"
    flat.mkdir()
    for b in (1, 13):
        os.symlink(_real(b), flat / _real(b).name)
    (flat / "notes.txt").write_text("not a scan")
    root = tmp_path / "root"
    assert main(["composite", "--data-root", str(root), "--input", str(flat), "--recipe", "C13",
                 "--domain", *map(str, REAL_DOMAIN), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "/composites/goes17/" in out[0]
    via_input = C.load_composite(out[0], load=True)
    direct = C.make_composite([_real(13)], REAL_DOMAIN, kind="C13")
    np.testing.assert_array_equal(via_input.C13.values, direct.C13.values)
    assert via_input.attrs["platform"] == "goes17" and via_input.attrs["source"] == "goes_abi"
    assert via_input.attrs["satellite"] == 17  # the GOES path's attribute stays
    # a glob pattern finds the same scene
    assert main(["composite", "--data-root", str(root), "--input", str(flat / "*C01*.nc"), "--recipe", "C01",
                 "--domain", *map(str, REAL_DOMAIN), "--quiet"]) == 0


def test_an_input_no_source_reads_names_the_sources(tmp_path, capsys):
    odd = tmp_path / "model_output.nc"
    with netCDF4.Dataset(odd, "w") as nc:
        nc.createDimension("t", 2)
        nc.createVariable("v", "f4", ("t",))[:] = 1.0
    rc = main(["composite", "--data-root", str(tmp_path), "--input", str(odd), "--domain",
               *map(str, REAL_DOMAIN), "--quiet"])
    err = _err(capsys)
    assert rc == 1 and len(err.splitlines()) == 1
    assert str(odd) in err and "no registered source recognises this file" in err and "goes_abi:" in err
    rc = main(["composite", "--data-root", str(tmp_path), "--input", str(tmp_path / "nothing*.nc"), "--domain",
               *map(str, REAL_DOMAIN), "--quiet"])
    assert rc == 1 and "matches no file" in _err(capsys)
    assert identify(odd) is None and identify(_real(13)).platform == "goes17"


def test_band_tables_are_data_and_name_what_exists():
    table = get_source("goes_abi").band_table("goes16")
    assert table.get(13).name == "C13" and table.get("c13").wavelength_um == 10.3
    assert table.get("C02").resolution_km == 0.5 and table.get("C02").reflective
    assert table.nearest(0.51).name == "C01"  # ABI has no green band
    with pytest.raises(UnknownBandError, match=r"abi has no band 'B03'.*C01 \(0.47 um\)"):
        table.get("B03")
    assert "goes_abi" in list_sources()


# -----------------------------------------------------------------------------
# ABI L2 MCMIP: every band in one file
# -----------------------------------------------------------------------------
def _write_mcmip(out_dir: Path, bands=(1, 3, 13, 14)) -> Path:
    """An ABI L2 MCMIP file in NOAA's layout (CMI_Cnn packed as unsigned
    16-bit with scale and offset, DQF_Cnn, the 2 km fixed grid) made from the
    real L1b scan's calibrated values (reflective bands block-averaged to
    2 km as the L1b composite does)."""
    from convml_tt.data.sources.goes_abi.reader import WindowReader

    ref = _real(13)
    name = f"OR_ABI-L2-MCMIPM1-M6_G17_{DAY}_e20193002000344_c20193002000400.nc"
    path = out_dir / name
    with netCDF4.Dataset(ref) as src, netCDF4.Dataset(path, "w") as nc:
        ny, nx = src.dimensions["y"].size, src.dimensions["x"].size
        nc.createDimension("y", ny)
        nc.createDimension("x", nx)
        for k in src.ncattrs():
            nc.setncattr(k, src.getncattr(k))
        nc.setncattr("dataset_name", name)
        for v in ("x", "y", "goes_imager_projection"):
            s = src.variables[v]
            s.set_auto_maskandscale(False)
            d = nc.createVariable(v, s.dtype, s.dimensions)
            d.set_auto_maskandscale(False)
            d.setncatts({k: s.getncattr(k) for k in s.ncattrs()})
            d[...] = s[...]
        for b in bands:
            with WindowReader(_real(b), band=b) as r:
                h = r.header
                values = r.read(slice(0, h.sizes["y"]), slice(0, h.sizes["x"]), dqf_max=None)
            if values.shape != (ny, nx):  # 1 km -> 2 km block means (NaN if any is NaN)
                values = values.reshape(ny, 2, nx, 2).mean(axis=(1, 3))
            lo, hi = (0.0, 1.6) if b < 7 else (150.0, 350.0)
            scale = (hi - lo) / 65534
            var = nc.createVariable(f"CMI_C{b:02d}", "i2", ("y", "x"), zlib=True, fill_value=np.int16(-1))
            var.set_auto_maskandscale(False)  # the counts below are stored as they are
            var.setncatts({"_Unsigned": "true", "scale_factor": np.float32(scale), "add_offset": np.float32(lo),
                           "units": "1" if b < 7 else "K", "grid_mapping": "goes_imager_projection",
                           "valid_range": np.array([0, -2], np.int16)})
            counts = np.where(np.isfinite(values), np.rint((values - lo) / np.float32(scale)), 65535)
            var[:] = counts.astype(np.uint16).view(np.int16)
            q = nc.createVariable(f"DQF_C{b:02d}", "i1", ("y", "x"), fill_value=np.int8(-1))
            q.set_auto_maskandscale(False)
            q.setncatts({"_Unsigned": "true", "units": "1"})
            q[:] = np.where(np.isfinite(values), 0, 3).astype(np.int8)
    return path


def test_mcmip_made_from_the_real_values_composites_like_the_l1b(tmp_path):
    mcmip = _write_mcmip(tmp_path)
    found = identify(mcmip)
    assert (found.source, found.product, found.platform) == ("goes_abi", "MCMIP", "goes17")
    assert set(found.bands) == set(range(1, 17))
    for band, step in ((13, 200 / 65534), (1, 1.6 / 65534)):
        l2 = C.make_composite([mcmip], REAL_DOMAIN, kind=band, resolution_km=2.0)
        l1b = C.make_composite([_real(band)], REAL_DOMAIN, kind=band, resolution_km=2.0)
        # the same 2 km pixels (the L1b raster of a 1 km band snaps to its own 2 x 2 blocks)
        common = dict(x=l1b.x.values, y=l1b.y.values, method="nearest", tolerance=1e-7)
        a, b = l2[f"C{band:02d}"].sel(**common).values, l1b[f"C{band:02d}"].values
        assert min(a.shape) > 80 and np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) <= step
    # a multi-channel recipe reads several bands of the one file
    both = C.make_composite([mcmip], REAL_DOMAIN, kind="C13+C14", resolution_km=2.0)
    assert both.C13_C14.shape[2] == 2 and np.isfinite(both.C13_C14.values).all()


# -----------------------------------------------------------------------------
# files of one scene belong together
# -----------------------------------------------------------------------------
def test_files_of_other_scans_under_a_scenes_names_are_refused(tmp_path, capsys):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    day13 = _real(13)
    shutil.copy(_real(1), mixed / _real(1).name)
    shutil.copy(_real(13, NIGHT), mixed / day13.name)  # the night C13 under the day scan's name
    with pytest.raises(SceneMismatchError, match=r"scan start 2019-12-01T10:27:27 \(the name says "
                                                 r"2019-10-27T20:00:27\)"):
        C.make_composite(sorted(mixed.iterdir()), REAL_DOMAIN, kind="C01+C13", resolution_km=2.0)
    rc = main(["composite", "--data-root", str(tmp_path / "r"), "--input", str(mixed), "--recipe", "C01+C13",
               "--resolution-km", "2", "--domain", *map(str, REAL_DOMAIN), "--quiet"])
    err = _err(capsys)
    assert rc == 1 and len(err.splitlines()) == 1 and "not the file its name says" in err
    assert not (tmp_path / "r" / "composites").exists() or not any((tmp_path / "r" / "composites").rglob("*.nc"))
    # a GOES-17 file under a GOES-16 name
    g16 = tmp_path / "g16"
    g16.mkdir()
    shutil.copy(day13, g16 / day13.name.replace("_G17_", "_G16_"))
    with pytest.raises(SceneMismatchError, match=r"platform G17 \(the name says G16\)"):
        C.make_composite(list(g16.iterdir()), REAL_DOMAIN, kind="C13")


# -----------------------------------------------------------------------------
# time series that move: sectors, products, coverage
# -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_sectors(tmp_path_factory):
    """A cache with an M1 scene at 15N 50W and an M2 scene at 25N 60W (GOES-16)."""
    from convml_tt.data.synthetic import write_synthetic_scenes

    root = tmp_path_factory.mktemp("two_sectors")
    common = dict(count=1, satellite=16, size_km=300.0, bands=(1, 2, 3), progress=False)
    write_synthetic_scenes(root, dt.datetime(2020, 1, 2, 14), sector="M1", center=(15.0, -50.0), **common)
    write_synthetic_scenes(root, dt.datetime(2020, 1, 2, 15), sector="M2", center=(25.0, -60.0), **common)
    return root


def test_a_scene_whose_sector_misses_the_domain_is_skipped_and_reported(two_sectors, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(two_sectors / "sources", root / "sources")
    domain = (-50.5, 14.5, -49.5, 15.5)  # inside the M1 sector only
    made = C.make_composites(root, domain, progress=False)
    assert len(made) == 1 and "M1_" in made[0].name
    assert len(made.skipped) == 1 and made.skipped[0].sector == "M2"
    assert "does not cover the domain" in made.skipped[0].reason
    table = made.coverage().splitlines()
    assert table[0].split() == ["scene", "status", "reason"] and "composited" in table[1] and "skipped" in table[2]
    # the CLI: paths on stdout, the skip as a warning and the table on stderr
    assert main(["composite", "--data-root", str(root), "--domain", *map(str, domain), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and "M2 scene 2020-01-02T15:00:00" in err and "1 skipped" in err
    # --sector keeps one sector; asking for the other gives the error naming what it saw
    assert len(C.make_composites(root, domain, sector="M1", progress=False)) == 1
    rc = main(["composite", "--data-root", str(root), "--domain", *map(str, domain), "--sector", "M2", "--quiet"])
    err = _err(capsys)
    assert rc == 1 and len(err.splitlines()) == 1
    assert "no scene covers the domain" in err and "GOES-16 RadM2 2020-01-02T15:00" in err
    # a product filter the cache cannot meet names the products there are
    with pytest.raises(FileNotFoundError, match=r"product CMIP .*there are scenes .*GOES-16 RadM1, GOES-16 RadM2"):
        C.make_composites(root, domain, product="CMIP", progress=False)


def test_a_domain_outside_every_sector_lists_them(two_sectors, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(two_sectors / "sources", root / "sources")
    with pytest.raises(C.NoCoverageError, match=r"2 scene\(s\) seen, GOES-16 RadM1 .*GOES-16 RadM2 "):
        C.make_composites(root, (-30.5, 4.5, -29.5, 5.5), progress=False)


# -----------------------------------------------------------------------------
# sources that change invalidate what was made from them
# -----------------------------------------------------------------------------
def test_a_rewritten_source_rebuilds_its_composite(tmp_path):
    from convml_tt.data.synthetic import write_synthetic_scenes

    kw = dict(count=1, satellite=16, sector="M1", center=(15.0, -50.0), size_km=300.0, bands=(1, 2, 3),
              progress=False)
    write_synthetic_scenes(tmp_path, dt.datetime(2020, 1, 2, 14), seed=0, **kw)
    domain = (-50.5, 14.5, -49.5, 15.5)
    first = C.make_composites(tmp_path, domain, progress=False)[0]
    before = C.load_composite(first, load=True).rgb.values
    assert C.make_composites(tmp_path, domain, progress=False)[0] == first  # reused
    write_synthetic_scenes(tmp_path, dt.datetime(2020, 1, 2, 14), seed=1, **kw)  # same names, other clouds
    again = C.load_composite(C.make_composites(tmp_path, domain, progress=False)[0], load=True)
    assert not np.allclose(np.nan_to_num(again.rgb.values), np.nan_to_num(before))
    assert "source_stats" in again.attrs


# -----------------------------------------------------------------------------
# fetch --offline: any layout, and a cut file is not cached
# -----------------------------------------------------------------------------
def test_offline_fetch_sees_files_in_any_layout_and_not_truncated_ones(synthetic_scenes, tmp_path, capsys):
    flat = tmp_path / "sources" / "goes16"
    flat.mkdir(parents=True)
    for s in synthetic_scenes:
        for p in s.files.values():
            shutil.copy(p, flat / Path(p).name)
    argv = ["fetch", "--data-root", str(tmp_path), "--offline", "--satellite", "16", "--sector", "M1",
            "--start", "2020-01-02T13:00", "--end", "2020-01-02T18:00"]
    assert main(argv + ["--list-only"]) == 0
    assert f"{len(synthetic_scenes)} scene(s)" in capsys.readouterr().out
    # the same flat files composite
    assert len(C.make_composites(tmp_path, (-50.5, 14.5, -49.5, 15.5), progress=False)) == len(synthetic_scenes)
    # cut one file: it is not counted as cached, and --strict fails on its scan
    victim = flat / Path(synthetic_scenes[0].files[2]).name
    size = victim.stat().st_size
    with open(victim, "r+b") as fh:
        fh.truncate(size // 2)
    assert hdf5_truncated(victim) == (size // 2, size)
    with pytest.warns(MissingBandsWarning, match="lacks bands \\[2\\]"):
        assert main(argv + ["--list-only"]) == 0
    out, err = capsys.readouterr()
    assert f"{len(synthetic_scenes) - 1} scene(s)" in out and "truncated" in err
    assert main(argv + ["--list-only", "--strict"]) == 1
    assert hdf5_truncated(synthetic_scenes[1].files[2]) is None
