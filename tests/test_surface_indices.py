"""Surface type, scene-adaptive cloud thresholds and honest indices on the
real GOES-17 daytime scan (2019-10-27 20:00 UTC: marine stratocumulus off
California, clear land to the east)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from convml_tt.cli import main
from convml_tt.data import organisation as org
from convml_tt.data.cloud_threshold import check_threshold, composite_threshold, scene_threshold
from convml_tt.data.composites import make_composites
from convml_tt.data.composites.reader import close_composites, open_composite
from convml_tt.data.surface import land_fraction, land_mask, surface_class, tile_surface
from convml_tt.data.tiles import Tile

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY = "s20193002000275"
#: the sector's ocean (west) and the Californian coast and Central Valley (east)
DOMAIN = (-126.69, 30.72, -118.19, 36.37)

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real GOES files not available")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """C01 and C13 composites (2 km) of the daytime scan, and their arrays."""
    root = tmp_path_factory.mktemp("surface") / "root"
    src = root / "sources" / "goes17"
    src.mkdir(parents=True)
    for band in ("C01", "C13"):
        for p in sorted(REAL.glob(f"OR_ABI-L1b-RadM1-M6{band}_G17_{DAY}_*.nc")):
            (src / p.name).symlink_to(p)
    paths = {k: make_composites(root, DOMAIN, kind=k, resolution_km=2.0, progress=False)[0] for k in ("C01", "C13")}
    c01 = open_composite(paths["C01"])
    arrays = {"C01": np.asarray(c01.var[:], np.float64), "lat": np.asarray(c01.nc["lat"][:], np.float64),
              "lon": np.asarray(c01.nc["lon"][:], np.float64),
              "C13": np.asarray(open_composite(paths["C13"]).var[:], np.float64)}
    # the 2 km band grids differ by a pixel at the far edges (1 km and 2 km bands): the common part
    ny, nx = (min(a.shape[k] for a in arrays.values()) for k in (0, 1))
    arrays = {k: v[:ny, :nx] for k, v in arrays.items()}
    yield root, paths, arrays
    close_composites()


def test_land_mask_of_known_places():
    # open Pacific, San Francisco Bay's west shore (land), the Central Valley, Lake Tahoe (lakes are land)
    lat = np.array([32.0, 37.75, 36.5, 39.1, np.nan])
    lon = np.array([-125.0, -122.45, -119.8, -120.04, 0.0])
    assert land_mask(lat, lon).tolist() == [False, True, True, True, False]
    # longitudes in 0..360 are the same places
    assert land_mask(lat[:4], lon[:4] + 360).tolist() == [False, True, True, True]
    assert land_fraction([32.0, 36.5], [-125.0, -119.8]) == 0.5
    assert [surface_class(f) for f in (0.0, 0.005, 0.5, 0.995, 1.0)] == ["ocean", "ocean", "coast", "land", "land"]
    with pytest.raises(ValueError, match=r"latitudes must lie in \[-90, 90\]"):
        land_mask([95.0], [0.0])
    assert surface_class(float("nan")) == ""


def test_real_scan_land_is_flagged_and_clear_land_is_clear(day):
    _, paths, a = day
    land = land_mask(a["lat"], a["lon"])
    # the east of the domain is California: about a sixth of the domain is land
    assert 0.1 < land.mean() < 0.3
    north_east, west = land[:80, -40:], land[:, :100]   # rows run north to south
    assert north_east.mean() > 0.9 and west.mean() == 0.0
    # a tile in the Central Valley is land, one off the coast ocean, one across the shore coast
    assert tile_surface(Tile(36.0, -119.5, 64e3, 32))["surface"] == "land"
    assert tile_surface(Tile(32.0, -125.0, 64e3, 32))["surface"] == "ocean"
    assert tile_surface(Tile(35.4, -120.9, 64e3, 32))["surface"] == "coast"

    # the scene's own thresholds: the clear ocean keeps the fixed 0.16, land gets its own above its clear peak
    th = composite_threshold(paths["C01"], "C01")
    assert th["method"] == "clear_mode" and th["threshold"] == pytest.approx(0.16)
    assert 0.19 < th["threshold_land"] < 0.26
    # clear land: warm (C13 > 290 K) land pixels
    clear_land = land & (a["C13"] > 290.0)
    assert clear_land.sum() > 5000
    fixed_cf = float((a["C01"][clear_land] > 0.16).mean())
    adaptive_cf = float((a["C01"][clear_land] > th["threshold_land"]).mean())
    print(f"\nclear-land cloud fraction: fixed 0.16 -> {fixed_cf:.3f}, adaptive "
          f"{th['threshold_land']:.3f} -> {adaptive_cf:.3f}")
    assert fixed_cf > 0.4 and adaptive_cf < 0.1
    # the ocean keeps (almost all of) its cloud
    ocean = ~land & np.isfinite(a["C01"])
    assert (a["C01"][ocean] > th["threshold"]).mean() == pytest.approx((a["C01"][ocean] > 0.16).mean())
    # brightness temperature: the clear-sky peak minus at least 3.5 K, over each surface
    th13 = composite_threshold(paths["C13"], "C13")
    assert 284.0 < th13["threshold"] < 287.0 and th13["threshold_land"] <= 298.0 - 3.5
    assert float((a["C13"][clear_land] < th13["threshold_land"]).mean()) < 0.1
    # a given threshold is used as it is, over both surfaces
    assert composite_threshold(paths["C01"], "C01", 0.3) == {"threshold": 0.3, "threshold_land": 0.3,
                                                              "method": "given", "detail": "--cloud-threshold"}


def test_an_overcast_real_tile_has_no_iorg_and_says_why(day):
    _, _, a = day
    c01 = a["C01"]
    found = 0
    for i in range(0, c01.shape[0] - 31, 16):
        for j in range(0, 100, 16):  # the ocean side
            tile = c01[i:i + 32, j:j + 32]
            res = org.tile_indices(tile, "C01", 2000.0, threshold=0.16)
            if res["cloud_fraction"] >= org.OVERCAST_FRACTION:
                found += 1
                assert math.isnan(res["iorg"]) and math.isnan(res["scai"]) and math.isnan(res["cop"])
                assert res[org.FLAGS_NAME] & org.OVERCAST
                assert math.isfinite(res["spectral_length_m"])  # the deck's own texture is still measured
            elif res["n_objects"] >= 2:
                assert 0.0 < res["iorg"] < 1.0 and not res[org.FLAGS_NAME] & (org.OVERCAST | org.ONE_OBJECT)
    assert found >= 1


def test_scene_threshold_without_clear_ocean_falls_back_to_the_fixed_one():
    rng = np.random.default_rng(0)
    # all stratocumulus (0.2-0.4): no clear ocean peak to find
    assert scene_threshold(rng.uniform(0.2, 0.4, 5000), "C01")["threshold"] == 0.16
    # clear ocean at 0.06 +- 0.005 and clouds: the fixed bound (0.10) holds for truecolor
    sky = np.concatenate([rng.normal(0.06, 0.005, 6000), rng.uniform(0.2, 0.6, 4000)])
    assert scene_threshold(sky, "truecolor")["threshold"] == pytest.approx(0.10)
    # absorbing bands keep their high-cloud threshold
    assert scene_threshold(rng.uniform(230, 260, 100), "C08") == {
        "threshold": 231.0, "threshold_land": 231.0, "method": "fixed", "detail": "the recipe's fixed threshold"}


def test_thresholds_outside_the_recipes_units_are_refused(day, tmp_path, capsys):
    root, _, _ = day
    assert check_threshold(0.2, "C01") == 0.2 and check_threshold(283, "C13") == 283.0
    with pytest.raises(ValueError, match=r"C01 cloud-mask threshold: it must be a reflectance factor between 0 "
                                         r"and 1.5"):
        check_threshold(285.0, "C01")
    with pytest.raises(ValueError, match=r"brightness temperature in K between 150 and 350"):
        check_threshold(0.2, "C13")
    rc = main(["triplets", "--data-root", str(root), "--domain", *map(str, DOMAIN), "--out", str(tmp_path / "t"),
               "--n-train", "2", "--recipe", "C13", "--cloud-threshold", "0.2", "--quiet"])
    err = capsys.readouterr().err
    assert rc != 0 and "brightness temperature in K between 150 and 350" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists()


def test_surface_ocean_maps_only_ocean_cells(day):
    from convml_tt.interpretation.maps import embed_domain

    _, paths, _ = day
    kw = dict(tile_size_m=64e3, tile_pixels=32, stride=64e3, domain=DOMAIN, progress=False)
    every = embed_domain("tile_statistics", [paths["C01"]], **kw)
    ocean = embed_domain("tile_statistics", [paths["C01"]], surface="ocean", **kw)
    ok_all, ok_ocean = every["valid"].values[0] == 1, ocean["valid"].values[0] == 1
    surface = every["surface"].values[0]
    assert (surface[ok_all] == 1).sum() >= 2 and (surface[ok_all] == 0).sum() >= 10
    assert every["surface"].attrs["flag_meanings"] == "ocean land coast"
    # the ocean map holds exactly the ocean cells of the full one, with the same embeddings
    assert (ok_ocean == (ok_all & (surface == 0))).all()
    assert (ocean["land_fraction"].values[0][ok_ocean] <= 0.01).all()
    np.testing.assert_array_equal(ocean["embedding"].values[0][ok_ocean], every["embedding"].values[0][ok_ocean])
    # each cell records its threshold: the land one on land cells
    thr = every["cloud_threshold"].values[0]
    assert np.allclose(thr[ok_all & (surface == 0)], 0.16)
    assert (thr[ok_all & (surface == 1)] > 0.19).all()
    # the indices say why they are NaN, as CF flags
    flags = every[org.FLAGS_NAME]
    assert flags.attrs["flag_meanings"].split() == list(org.FLAG_MEANINGS)
    every.close()
    ocean.close()
