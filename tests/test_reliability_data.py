"""The data steps say what they did not use and refuse what they cannot do
right: a cache of two satellites, a scene missing a band, a domain outside a
sector whose lat/lon extent seems to hold it, options out of range."""
from __future__ import annotations

import datetime as dt
import logging
import re
import shutil

import pytest
import yaml

from convml_tt.cli import main
from convml_tt.config import CompositeSettings, TripletSettings
from convml_tt.data import composites as C
from convml_tt.data.sources.goes_abi import OffDiskError
from convml_tt.data.dataset import make_triplets
from convml_tt.data.sources.goes_abi import GOESCatalogue, MissingBandsError
from synthetic_fixtures import DOMAIN, SMALL, SYNTHETIC_START

T0, T1 = SYNTHETIC_START, SYNTHETIC_START + dt.timedelta(hours=1)
#: tiles small enough that a distant tile fits in the same scene
TINY = dict(SMALL, tile_size_m=20e3, tile_pixels=16)
TINY_ARGS = ["--tile-size-m", "20e3", "--tile-pixels", "16", "--distant", "same_scene"]
BOTH = r"GOES-16 \(2 scenes\), GOES-19 \(2 scenes\)"


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def _dom(domain) -> list[str]:
    return [f"{v:g}" for v in domain]


@pytest.fixture(scope="module")
def two_satellites(tmp_path_factory):
    """A source cache with GOES-16 and GOES-19 scenes of the same two scan times
    (both satellites at 75W see the same sector)."""
    from convml_tt.data.synthetic import write_synthetic_scenes

    root = tmp_path_factory.mktemp("two_satellites")
    for sat in (16, 19):
        write_synthetic_scenes(root, T0, count=2, interval=T1 - T0, seed=sat, satellite=sat, sector="M1",
                               center=(15.0, -50.0), size_km=300.0, progress=False)
    return root


@pytest.fixture()
def mixed_root(two_satellites, tmp_path):
    """A private copy of ``two_satellites`` (no composites yet)."""
    shutil.copytree(two_satellites / "sources", tmp_path / "root" / "sources")
    return tmp_path / "root"


@pytest.fixture()
def band_missing_root(synthetic_scenes, synthetic_data_root, tmp_path):
    """A copy of the 3-scene synthetic cache whose second scene has lost band 3."""
    root = tmp_path / "root"
    shutil.copytree(synthetic_data_root / "sources", root / "sources")
    lost = synthetic_scenes[1].files[3]
    (root / lost.relative_to(synthetic_data_root)).unlink()
    return root


# --- two satellites at the same times ----------------------------------------------------------
def test_scenes_never_pair_bands_of_two_satellites(mixed_root):
    lost = next((mixed_root / "sources" / "goes16").rglob(f"*C03_G16_s{T0:%Y%j%H}*.nc"))
    lost.unlink()  # GOES-19 has band 3 at that time; it must not fill the gap
    scenes, skipped = C.scan_sources(mixed_root)
    sats = [{C.as_scene({b: p}).platform for b, p in s.items()} for s in scenes]
    sats = [{int(p[4:]) for p in s} for s in sats]
    assert sats == [{19}, {16}, {19}]
    assert all(f"goes{next(iter(s))}" in str(p) for s, sc in zip(sats, scenes) for p in sc.values())
    assert [(s.satellite, s.start, s.missing) for s in skipped] == [(16, T0, (3,))]
    assert C.find_scenes(mixed_root) == scenes


def test_a_file_in_another_satellites_folder_is_reported(mixed_root):
    g19 = next((mixed_root / "sources" / "goes19").rglob(f"*C03_G19_s{T0:%Y%j%H}*.nc"))
    stray = mixed_root / "sources" / "goes16" / g19.name
    shutil.copy(g19, stray)
    scenes, skipped = C.scan_sources(mixed_root)
    assert len(scenes) == 4 and all(stray != p for s in scenes for p in s.values())
    assert len(skipped) == 1 and "is in goes16/, not goes19/" in skipped[0].describe()


def test_composites_are_made_per_satellite(mixed_root):
    paths = C.make_composites(mixed_root, DOMAIN, progress=False)
    assert sorted(p.relative_to(mixed_root / "composites").parts[0] for p in paths) == ["goes16"] * 2 + ["goes19"] * 2
    assert paths.skipped == []
    only = C.make_composites(mixed_root, DOMAIN, satellite=19, progress=False)
    assert len(only) == 2 and all("goes19" in str(p) for p in only)


def test_mixed_satellites_are_refused_before_compositing(mixed_root, tmp_path):
    # one scene per satellite at T0: split by date, train would be one satellite and study the other
    kw = dict(start=T0, end=T0, n_train=1, n_study=1, distant="same_scene", progress=False, **TINY)
    with pytest.raises(ValueError, match=r"several satellites: GOES-16 \(1 scene\), GOES-19 \(1 scene\); "
                                         r".*--satellite N \(satellite=N, one of 16, 19\)"):
        make_triplets(mixed_root, DOMAIN, tmp_path / "ds", **kw)
    assert not (mixed_root / "composites").exists()
    assert not list((tmp_path / "ds").rglob("*.png"))
    # composites given explicitly: the same refusal, before sampling
    comps = C.make_composites(mixed_root, DOMAIN, start=T0, end=T0, progress=False)
    with pytest.raises(ValueError, match=r"the 2 composites come from several satellites"):
        make_triplets(mixed_root, DOMAIN, tmp_path / "ds", composites=comps, **kw)
    assert not list((tmp_path / "ds").rglob("*.png"))


def test_a_dataset_of_the_chosen_satellite(mixed_root, tmp_path):
    out = make_triplets(mixed_root, DOMAIN, tmp_path / "ds", n_train=2, n_study=1, satellite=19, seed=1,
                        distant="same_scene", progress=False, **TINY)
    metas = [yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*_meta.yaml"))]
    assert len(metas) == 3
    assert {m[k]["satellite"] for m in metas for k in ("anchor", "neighbor", "distant")} == {19}
    assert yaml.safe_load((out / "meta.yaml").read_text())["params"]["satellite"] == 19
    # composites of both satellites given explicitly: the chosen one is used
    comps = C.make_composites(mixed_root, DOMAIN, progress=False)
    again = make_triplets(mixed_root, DOMAIN, tmp_path / "ds2", n_train=1, satellite=16,
                          distant="same_scene", composites=comps, progress=False, **TINY)
    meta = yaml.safe_load(next((again / "train").glob("*_meta.yaml")).read_text())
    assert meta["anchor"]["satellite"] == 16


def test_a_satellite_the_cache_lacks(mixed_root, tmp_path):
    with pytest.raises(ValueError, match=rf"include no scene of GOES-17; there are scenes of {BOTH}"):
        make_triplets(mixed_root, DOMAIN, tmp_path / "ds", n_train=1, satellite=17, progress=False, **TINY)
    with pytest.raises(FileNotFoundError, match=rf"no cached scenes of GOES-17 .*the cache has scenes of {BOTH}"):
        C.make_composites(mixed_root, DOMAIN, satellite=17, progress=False)
    comps = C.make_composites(mixed_root, DOMAIN, satellite=16, progress=False)
    with pytest.raises(ValueError, match=r"include no scene of GOES-19; there are scenes of GOES-16 \(2 scenes\)"):
        make_triplets(mixed_root, DOMAIN, tmp_path / "ds", n_train=1, satellite=19, composites=comps,
                      progress=False, **TINY)


def test_cli_triplets_of_two_satellites(mixed_root, tmp_path, capsys):
    argv = ["triplets", "--data-root", str(mixed_root), "--domain", *_dom(DOMAIN), "--n-train", "1",
            *TINY_ARGS, "--quiet"]
    assert main(argv + ["--out", str(tmp_path / "a")]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and re.search(rf"several satellites: {BOTH}.*--satellite N", err)
    assert main(argv + ["--out", str(tmp_path / "b"), "--satellite", "17"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "no scene of GOES-17" in err
    assert main(argv + ["--out", str(tmp_path / "c"), "--satellite", "19"]) == 0
    assert all("goes19" in p for p in yaml.safe_load((tmp_path / "c" / "meta.yaml").read_text())["scenes"]["train"])
    assert main(["composite", "--data-root", str(mixed_root), "--domain", *_dom(DOMAIN), "--satellite", "17",
                 "--quiet"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and re.search(rf"GOES-17 .*the cache has scenes of {BOTH}", err)


# --- a scene missing a band ------------------------------------------------------------------------
def test_composites_report_a_scene_missing_a_band(band_missing_root, synthetic_scenes, caplog):
    with caplog.at_level(logging.WARNING, logger="convml_tt"):
        paths = C.make_composites(band_missing_root, DOMAIN, progress=False)
    assert len(paths) == 2
    (s,) = paths.skipped
    assert (s.satellite, s.start, s.missing) == (16, synthetic_scenes[1].time, (3,))
    assert s.files == tuple(synthetic_scenes[1].files[b].name for b in (1, 2))
    line = s.describe()
    assert line.startswith(f"skipped GOES-16 RadM1 scene {synthetic_scenes[1].time:%Y-%m-%dT%H:%M:%S}: band 3 missing")
    assert synthetic_scenes[1].files[2].name in line
    assert [r.getMessage() for r in caplog.records] == [line]


def test_strict_composites_refuse_a_scene_missing_a_band(band_missing_root):
    with pytest.raises(MissingBandsError, match=r"1 cached scene\(s\) cannot be composited .*band 3 missing.*"
                                                r"drop --strict"):
        C.make_composites(band_missing_root, DOMAIN, strict=True, progress=False)
    assert not (band_missing_root / "composites").exists()


def test_cli_composite_warns_of_skipped_scenes_and_strict_fails(band_missing_root, synthetic_scenes, capsys):
    argv = ["composite", "--data-root", str(band_missing_root), "--domain", *_dom(DOMAIN), "--quiet"]
    assert main(argv + ["--strict"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "band 3 missing" in err and "drop --strict" in err
    assert not (band_missing_root / "composites").exists()
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    t = synthetic_scenes[1].time
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"convml_tt composite: warning: skipped GOES-16 RadM1 scene {t:%Y-%m-%dT%H:%M:%S}: band 3 missing "
        f"(needs bands 1, 2, 3) (files found: {synthetic_scenes[1].files[1].name}, "
        f"{synthetic_scenes[1].files[2].name})")
    # then the coverage table: every scene, composited or skipped, and why
    assert lines[1] == "2 scene(s) composited, 1 skipped:" and lines[2].split() == ["scene", "status", "reason"]
    assert [ln.split()[1] for ln in lines[3:5]] == ["composited", "composited"]
    assert lines[5].startswith(f"GOES-16 RadM1 {t:%Y-%m-%dT%H:%M:%S}  skipped     band 3 missing")


def test_cli_triplets_warn_of_skipped_scenes(band_missing_root, tmp_path, capsys):
    assert main(["triplets", "--data-root", str(band_missing_root), "--domain", *_dom(DOMAIN), "--n-train", "1",
                 *TINY_ARGS, "--out",
                 str(tmp_path / "ds"), "--quiet"]) == 0
    lines = _err(capsys).splitlines()
    assert len(lines) == 1 and lines[0].startswith("convml_tt triplets: warning: skipped GOES-16 RadM1 scene")


# --- a domain the sector's lat/lon extent seems to hold ------------------------------------------
def test_domain_inside_the_extent_but_outside_the_sector(synthetic_scenes, capsys):
    files = synthetic_scenes[0].files
    with pytest.raises(OffDiskError) as big:
        C.make_composite(files, (-60.0, 10.0, -40.0, 20.0))
    lon0, lon1, lat0, lat1 = map(float, re.search(r"lon (\S+) to (\S+), lat (\S+) to ([-\d.]+)", str(big.value)).groups())
    domain = (lon0 + 0.02, lat0 + 0.02, lon1 - 0.02, lat1 - 0.02)  # inside the printed extent
    with pytest.raises(OffDiskError) as err:
        C.make_composite(files, domain)
    msg = str(err.value)
    assert "rectangle of scan angles, not of latitude and longitude" in msg
    fit = tuple(map(float, re.search(r"e\.g\. the domain (\S+) (\S+) (\S+) (\S+) \(", msg).groups()))
    centre = ((domain[0] + domain[2]) / 2, (domain[1] + domain[3]) / 2)
    assert ((fit[0] + fit[2]) / 2, (fit[1] + fit[3]) / 2) == pytest.approx(centre, abs=0.01)
    assert C.make_composite(files, fit).rgb.shape[2] == 3  # the suggestion fits
    # a domain whose centre is off the sector: a box at the sector's centre
    with pytest.raises(OffDiskError, match=r"e\.g\. the domain .* a box of its proportions at the sector's centre"):
        C.make_composite(files, (-52.5, 14.5, -51.5, 15.5))
    root = files[1].parents[6]  # {root}/sources/goes16/ABI-L1b-RadM/YYYY/DDD/HH/file; nothing is written
    assert main(["composite", "--data-root", str(root), "--domain", *_dom(domain), "--start", T0.isoformat(),
                 "--end", T0.isoformat(), "--quiet"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "rectangle of scan angles" in err and "e.g. the domain" in err


# --- options out of range -------------------------------------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["fetch", "--start", "2020-01-01", "--end", "2020-01-03", "--near-local-noon", "-50", "--tolerance", "0"],
     "0 minutes is out of range: use 0 < minutes <= 720"),
    (["fetch", "--start", "2020-01-01", "--end", "2020-01-03", "--near-local-noon", "-50", "--tolerance", "-5"],
     "-5 minutes is out of range: use 0 < minutes <= 720"),
    (["fetch", "--start", "2020-01-01", "--end", "2020-01-03", "--tolerance", "ten"], "'ten' is not a number"),
    (["fetch", "--start", "2020-01-01", "--end", "2020-01-03", "--satellite", "15"],
     "'15' is not a GOES-R satellite: use 16, 17, 18 or 19"),
    (["composite", "--domain", *_dom(DOMAIN), "--satellite", "20"], "'20' is not a GOES-R satellite"),
    (["triplets", "--domain", *_dom(DOMAIN), "--n-train", "1", "--out", "ds", "--satellite", "G15"],
     "'G15' is not a GOES-R satellite"),
    (["synthetic", "--satellite", "1"], "'1' is not a GOES-R satellite"),
])
def test_cli_ranges_are_checked_where_parsed(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and says in _err(capsys)


def test_library_ranges(tmp_path):
    cat = GOESCatalogue(satellite=16, sector="F", data_root=tmp_path, offline=True)
    for tol in (dt.timedelta(0), dt.timedelta(minutes=-5), dt.timedelta(hours=13)):
        with pytest.raises(ValueError, match=r"out of range: use 0 < tolerance <= 12 h"):
            cat.query("2020-01-01", "2020-01-03", near_local_noon=-50.0, tolerance=tol)
    for bad in (15, 20, 16.5, "G15", True):  # "16" and "goes16" are the platform goes16
        with pytest.raises(ValueError, match="is not a GOES-R satellite: use 16, 17, 18 or 19"):
            CompositeSettings(domain=DOMAIN, satellite=bad)
        with pytest.raises(ValueError, match="is not a GOES-R satellite"):
            TripletSettings(domain=DOMAIN, satellite=bad)
    assert TripletSettings(domain=DOMAIN, satellite=18).satellite == 18
    assert CompositeSettings(domain=DOMAIN, satellite="goes16").satellite == 16  # platform ids
    assert CompositeSettings(domain=DOMAIN, satellite="Himawari9").satellite == "himawari9"
    assert "satellite" not in TripletSettings(domain=DOMAIN).to_yaml_dict()  # as older datasets say it
