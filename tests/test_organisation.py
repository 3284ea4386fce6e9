"""Organisation indices of cloud masks (convml_tt.data.organisation) against
cloudmetrics 0.3.0 as an oracle, analytic point patterns, degenerate masks,
the recipes' cloud masks, synthetic scenes and the real GOES-17 daytime scan."""
from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import pdist

from convml_tt.data import organisation as org
from convml_tt.data.composites import recipes as R
from convml_tt.data.organisation import INDEX_NAMES, cloud_mask, indices, open_sky, tile_indices

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
REAL_DAY = "s20193002000275"
#: inside the GOES-17 mesoscale sector of 2019-10-27 20:00 UTC: the marine
#: stratocumulus off California (the largest box around -125 E 32 N that fits)
REAL_SC_DOMAIN = (-126.88, 30.59, -123.12, 33.41)


# -----------------------------------------------------------------------------
# masks
# -----------------------------------------------------------------------------
def blob_masks(n_masks: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smoothed-noise masks: blob sizes 0.7-3 px, cloud fractions 5-50 %."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_masks):
        field = ndimage.gaussian_filter(rng.standard_normal((size, size)), rng.uniform(0.7, 3.0))
        out.append(field > np.quantile(field, rng.uniform(0.5, 0.95)))
    return out


def synthetic_masks(size: int = 64) -> list[np.ndarray]:
    """Band-2 cloud masks (reflectance > 0.10, the scenes' own definition)
    of 64 x 64 px (128 km) tiles of two synthetic scenes at 2 km."""
    from convml_tt.data.synthetic import CLOUD_REFLECTANCE_THRESHOLD, make_scene_fields

    out = []
    for seed in (3, 4):
        f = make_scene_fields(dt.datetime(2020, 1, 1, 14), seed=seed, bands=(2,), resolution_km=2.0, size_km=600)
        refl = f.reflectance[2]
        for i in range(0, refl.shape[0] - size + 1, size):
            for j in range(0, refl.shape[1] - size + 1, size):
                out.append(refl[i:i + size, j:j + size] > CLOUD_REFLECTANCE_THRESHOLD)
    return out


def points_mask(points: np.ndarray, size: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[points[:, 0], points[:, 1]] = True
    return m


# -----------------------------------------------------------------------------
# the oracle
# -----------------------------------------------------------------------------
@pytest.fixture
def cloudmetrics(monkeypatch):
    """cloudmetrics 0.3.0 (it calls np.trapz, which numpy 2 removed)."""
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    import cloudmetrics

    return cloudmetrics


def reference(cm, mask: np.ndarray, pixel_size_m: float) -> dict:
    """cloudmetrics' values of our indices, non-periodic, 4-connected objects."""
    m = cm.mask
    kw = dict(periodic_domain=False, object_connectivity=1)
    with warnings.catch_warnings():
        # cloudmetrics warns (and gives NaN) for fewer than two objects
        warnings.simplefilter("ignore")
        return _reference(m, mask, pixel_size_m, kw)


def _or_nan(fn, *args, **kwargs) -> float:
    try:
        return float(fn(*args, **kwargs))
    except ValueError:  # cloudmetrics' sizes of a mask without objects
        return float("nan")


def _reference(m, mask, pixel_size_m, kw):
    return {
        "cloud_fraction": m.cloud_fraction(mask),
        "iorg": m.iorg_objects(mask, **kw),
        # reference_lengthscale: the domain length (pixels), as Tobin et al. (2012)
        "scai": m.scai_objects(mask, reference_lengthscale=math.sqrt(mask.size), **kw),
        "cop": m.cop_objects(mask, **kw),
        "n_objects": m.num_objects(mask, **kw),
        "mean_object_size_m": _or_nan(m.mean_object_length_scale, mask, **kw) * pixel_size_m,
        "max_object_size_m": _or_nan(m.max_object_length_scale, mask, **kw) * pixel_size_m,
    }


def reference_open_sky(cm, mask: np.ndarray) -> float:
    # the pure-Python function under numba's jit: same values, no compile (but slow)
    return cm.mask.open_sky.py_func(mask.astype(np.int64), summary_measure="max", periodic_domain=False)


def _min_pair_px(mask: np.ndarray) -> float:
    lab, n = ndimage.label(mask)
    if n < 2:
        return math.inf
    return float(pdist(np.array(ndimage.center_of_mass(mask, lab, range(1, n + 1)))).min())


def same(a: dict, b: dict) -> bool:
    """Equal dicts, NaN equal to NaN."""
    return list(a) == list(b) and all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values()))


def check_reasons(ours: dict) -> None:
    """Every NaN index is explained by a bit of ``index_flags`` and every
    set bit's indices are NaN; the rest are finite."""
    flags = ours[org.FLAGS_NAME]
    undefined = {k for bit, names in org.UNDEFINED_BY.items() if flags & bit for k in names}
    for k, v in ours.items():
        if k == org.FLAGS_NAME:
            continue
        assert math.isnan(v) == (k in undefined), (k, v, flags)


def field_reference(cm, mask: np.ndarray, field: np.ndarray, separation: int) -> dict:
    """cloudmetrics' fractal dimension, orientation, spectral length and
    slope and wavelet indices of ``mask`` and ``field``."""
    k, e, _ = cm.scalar.compute_spectra(field)
    cm.scalar.woi._CACHED_VALUES.clear()  # it caches by id(), which numpy may reuse
    w = [getattr(cm.scalar, f"woi{i}")(field, separation_scale=separation) for i in (1, 2, 3)]
    cm.scalar.woi._CACHED_VALUES.clear()
    return {"fractal_dimension": cm.mask.fractal_dimension(mask), "orientation": cm.mask.orientation(mask * 1.0),
            "spectral_length_px": cm.scalar.spectral_length_moment(k, e),
            "spectral_slope": cm.scalar.spectral_slope(k, e), "woi1": w[0], "woi2": w[1], "woi3": w[2]}


def test_indices_match_cloudmetrics(cloudmetrics, capsys):
    masks = blob_masks(40) + synthetic_masks()
    assert len(masks) >= 50
    pixel = 2000.0
    diffs = {k: [] for k in INDEX_NAMES + org.WAVELET_NAMES}
    compared_pairs = compared_fields = 0
    for n_mask, mask in enumerate(masks):
        field = np.where(mask, ndimage.gaussian_filter(mask * 1.0, 2.0) + 0.1, 0.0) if n_mask % 2 else None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = indices(mask, pixel, field=field, wavelet=True)
        ref = reference(cloudmetrics, mask, pixel)
        assert list(ours) == list(INDEX_NAMES) + list(org.WAVELET_NAMES) + [org.FLAGS_NAME]
        check_reasons(ours)
        assert ours["n_objects"] == ref["n_objects"]
        for k in ("cloud_fraction", "mean_object_size_m", "max_object_size_m"):
            if ours["n_objects"] == 0 and k != "cloud_fraction":
                assert math.isnan(ours[k])  # cloudmetrics: an error
                continue
            diffs[k].append(abs(ours[k] - ref[k]))
            assert ours[k] == pytest.approx(ref[k], rel=1e-12, abs=1e-12), k
        # cloudmetrics' open-sky bounds differ by one pixel at the domain
        # edges, so a rectangle of a x b pixels may be counted (a +- 1)(b +- 1)
        if n_mask % 3 == 0:
            ny, nx = mask.shape
            ref_os = reference_open_sky(cloudmetrics, mask)
            diffs["open_sky"].append(abs(ours["open_sky"] - ref_os))
            assert abs(ours["open_sky"] - ref_os) <= (ny + nx + 1) / mask.size
        # the scale, shape and direction indices on the same mask and field
        # (every third mask: cloudmetrics' spectra, fits and wavelets are slow)
        if n_mask % 3 == 1 and ours["n_objects"] > 0 and not ours[org.FLAGS_NAME] & (org.NO_EDGES | org.FLAT_FIELD):
            compared_fields += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fr = field_reference(cloudmetrics, mask, mask * 1.0 if field is None else field,
                                     int(math.log2(mask.shape[0])) - 3)
            fr["spectral_length_m"] = fr.pop("spectral_length_px") * pixel
            for k, v in fr.items():
                if k == "orientation" and ours[org.FLAGS_NAME] & org.OVERCAST:
                    continue
                diffs[k].append(abs(ours[k] - v) / max(abs(v), 1e-300))
                # the slope: a non-linear fit, converged to its tolerance from FFTs of two libraries
                tol = dict(rel=1e-4, abs=1e-6) if k == "spectral_slope" else dict(rel=1e-6, abs=1e-12)
                assert ours[k] == pytest.approx(v, **tol), k
        if ours["n_objects"] < 2 or ours[org.FLAGS_NAME] & org.OVERCAST:
            continue
        diffs["iorg"].append(abs(ours["iorg"] - ref["iorg"]))
        assert abs(ours["iorg"] - ref["iorg"]) < 3e-3
        if ours["n_objects"] <= org.MAX_EXACT_OBJECTS and _min_pair_px(mask) >= org.MIN_PAIR_DISTANCE_PX:
            compared_pairs += 1
            for k in ("scai", "cop"):
                diffs[k].append(abs(ours[k] - ref[k]) / abs(ref[k]))
                assert ours[k] == pytest.approx(ref[k], rel=1e-9), k
    assert compared_pairs >= 50 and compared_fields >= 20
    with capsys.disabled():
        print("\nmax |ours - cloudmetrics| over", len(masks), "masks (scai, cop and the field indices: relative):",
              {k: float(f"{max(v):.2e}") for k, v in diffs.items() if v})


def test_real_tiles_match_cloudmetrics(cloudmetrics, real_c01):
    """64 x 64 px tiles of the real scan's C01 cloud mask."""
    values, _ = real_c01
    mask = cloud_mask(values, "C01")
    n = 0
    for i in range(0, mask.shape[0] - 63, 64):
        for j in range(0, mask.shape[1] - 63, 64):
            tile = mask[i:i + 64, j:j + 64]
            ours, ref = indices(tile, 1000.0), reference(cloudmetrics, tile, 1000.0)
            assert ours["n_objects"] == ref["n_objects"]
            assert ours["cloud_fraction"] == ref["cloud_fraction"]
            assert ours["max_object_size_m"] == pytest.approx(ref["max_object_size_m"])
            if ours["n_objects"] >= 2 and not ours[org.FLAGS_NAME] & org.OVERCAST:
                assert abs(ours["iorg"] - ref["iorg"]) < 3e-3
                n += 1
    assert n >= 6


# -----------------------------------------------------------------------------
# analytic point patterns
# -----------------------------------------------------------------------------
def _sparse_random_points(rng, n_points: int, size: int) -> np.ndarray:
    """Uniform random points on the even sub-lattice (so no two touch)."""
    half = size // 2
    flat = rng.choice(half * half, n_points, replace=False)
    return np.column_stack((flat // half * 2, flat % half * 2))


def test_iorg_regular_random_clustered():
    size = 256
    # a regular lattice of 2 x 2 px objects every 16 px
    lattice = np.zeros((size, size), bool)
    for di in (4, 5):
        for dj in (4, 5):
            lattice[di::16, dj::16] = True
    res = indices(lattice, 1000.0)
    assert res["n_objects"] == 256 and res["iorg"] < 0.1
    assert res["mean_object_size_m"] == res["max_object_size_m"] == pytest.approx(2000.0)
    # Poisson points (the even sub-lattice only forbids touching)
    poisson = [indices(points_mask(_sparse_random_points(np.random.default_rng(s), 200, size), size), 1.0)["iorg"]
               for s in range(10)]
    assert 0.45 < np.mean(poisson) < 0.53 and max(abs(v - 0.5) for v in poisson) < 0.08
    # ten clusters of 20 points (standard deviation 4 px)
    clustered = []
    for s in range(5):
        rng = np.random.default_rng(s)
        centres = rng.uniform(20, size - 20, (10, 2))
        pts = (centres[:, None, :] + rng.normal(0, 4, (10, 20, 2))).reshape(-1, 2)
        pts = np.clip(np.round(pts / 2) * 2, 0, size - 2).astype(int)
        clustered.append(indices(points_mask(pts, size), 1.0)["iorg"])
    assert min(clustered) > 0.85


def test_iorg_is_the_exact_integral():
    """I_org equals the area under the scene-vs-Poisson CDF curve computed
    by brute force on a fine grid of distances."""
    rng = np.random.default_rng(7)
    size = 64
    mask = points_mask(_sparse_random_points(rng, 40, size), size)
    lab, n = ndimage.label(mask)
    pos = np.array(ndimage.center_of_mass(mask, lab, range(1, n + 1)))
    d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    nn = d.min(1)
    r = np.linspace(0, math.hypot(size, size), 200001)
    scene = (nn[None, :] <= r[:, None]).mean(1)
    poisson = 1 - np.exp(-n / size**2 * np.pi * r**2)
    area = np.sum(0.5 * (scene[1:] + scene[:-1]) * np.diff(poisson))
    assert indices(mask, 1.0)["iorg"] == pytest.approx(area, abs=1e-4)


def test_scai_and_cop_by_hand():
    """Two 2 x 2 px objects 10 px apart in a 20 x 20 mask."""
    mask = np.zeros((20, 20), bool)
    mask[4:6, 4:6] = True
    mask[4:6, 14:16] = True
    res = indices(mask, 500.0)
    assert res["n_objects"] == 2
    r = math.sqrt(4 / math.pi)
    assert res["cop"] == pytest.approx(2 * r / 10)
    # N / N_max * D0 / L * 1000 with N_max = 400 / 2, D0 = 10 px, L = 20 px
    assert res["scai"] == pytest.approx(2 / 200 * 10 / 20 * 1000)
    assert res["mean_object_size_m"] == res["max_object_size_m"] == pytest.approx(1000.0)
    # 4-connected: a diagonal neighbour is another object
    diag = np.zeros((5, 5), bool)
    diag[1, 1] = diag[2, 2] = True
    assert indices(diag, 1.0)["n_objects"] == 2


def test_nested_objects_stay_finite():
    """A cloud inside a ring of cloud: both centroids at the same point."""
    mask = np.zeros((9, 9), bool)
    mask[1:8, 1:8] = True
    mask[2:7, 2:7] = False
    mask[4, 4] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = indices(mask, 1.0)
    assert res["n_objects"] == 2
    assert all(math.isfinite(v) for v in res.values())
    # the distance is raised to one pixel: (r_ring + r_dot) / 1
    assert res["cop"] == pytest.approx(math.sqrt(24 / math.pi) + math.sqrt(1 / math.pi))


def test_open_sky_by_hand():
    # one full row of cloud (row 2) in a 5 x 5 mask: the largest clear
    # rectangle is 5 columns x 2 rows below it
    mask = np.zeros((5, 5), bool)
    mask[2] = True
    assert open_sky(mask) == pytest.approx(10 / 25)
    assert indices(mask, 1.0)["open_sky"] == pytest.approx(10 / 25)
    # one cloudy pixel: rows and columns through it are cut, the others not
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert open_sky(mask) == 1.0
    # "mean": clear pixels of row 2 / column 2 have 2 x 5 rectangles
    assert open_sky(mask, "mean") == pytest.approx((16 * 25 + 8 * 10) / 24 / 25)
    checker = (np.add.outer(np.arange(6), np.arange(6)) % 2).astype(bool)
    assert open_sky(checker) == pytest.approx(1 / 36)
    with pytest.raises(ValueError, match="summary"):
        open_sky(mask, "median")


def test_many_objects_use_a_subset():
    """Above MAX_EXACT_OBJECTS, scai and cop come from a random subset of
    objects, above MAX_NN_QUERIES iorg from a random subset of
    nearest-neighbour distances: close to the exact values, and the same
    for the same mask."""
    from scipy.spatial import cKDTree

    # the pair sums use one cached layout of the pairs for every n: brute force
    rng = np.random.default_rng(1)
    for n in (2, 3, 17, org.MAX_EXACT_OBJECTS):
        pos, radius = rng.uniform(0, 64, (n, 2)), rng.uniform(0.5, 3, n)
        i, j = np.triu_indices(n, k=1)
        d = np.maximum(np.hypot(*(pos[i] - pos[j]).T), org.MIN_PAIR_DISTANCE_PX)
        mean_log, cop = org._pair_means(pos, radius)
        assert mean_log == pytest.approx(np.log(d).mean(), rel=1e-12)
        assert cop == pytest.approx(((radius[i] + radius[j]) / d).mean(), rel=1e-12)
    size = 128
    for n_points in (1500, 3000):
        pts = _sparse_random_points(np.random.default_rng(3), n_points, size)
        mask = points_mask(pts, size)
        res = indices(mask, 1.0)
        assert res["n_objects"] == n_points > org.MAX_EXACT_OBJECTS
        assert same(indices(mask, 1.0), res)
        d = pdist(pts.astype(float))
        exact_scai = n_points / (size * size / 2) * math.exp(np.log(d).mean()) / size * 1000
        exact_cop = (2 * math.sqrt(1 / math.pi) / d).mean()
        assert res["scai"] == pytest.approx(exact_scai, rel=0.02)
        assert res["cop"] == pytest.approx(exact_cop, rel=0.03)
        nn = cKDTree(pts).query(pts, k=2)[0][:, 1]
        lam_pi = math.pi * n_points / size**2
        exact_iorg = np.exp(-lam_pi * nn**2).mean() - math.exp(-lam_pi * 2 * size**2)
        tol = 1e-12 if n_points <= org.MAX_NN_QUERIES else 0.015
        assert res["iorg"] == pytest.approx(exact_iorg, abs=tol)


# -----------------------------------------------------------------------------
# degenerate masks and bad input
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["clear", "cloudy", "one object", "one pixel", "overcast"])
def test_undefined_indices_are_nan_with_their_reason(case):
    """No cloud, one object or an overcast tile: the indices that are not
    defined are NaN, each explained by a bit of ``index_flags``, never a
    stand-in number (the old 0.5 / 0 looked like a random field / complete
    aggregation)."""
    mask = np.zeros((32, 48), bool)
    if case == "cloudy":
        mask[:] = True
    elif case == "one object":
        mask[5:15, 10:30] = True
    elif case == "one pixel":
        mask[0, 47] = True
    elif case == "overcast":  # a deck with a few small holes: many objects? no, one deck and two specks
        mask[:] = True
        mask[3:5, 3:5] = mask[20:22, 30:32] = False
        mask[10, 10:12] = False
        mask[10:13, 40] = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = indices(mask, 1000.0)
        res_int = indices(mask.astype(np.uint8), 1000.0)
    assert same(res, res_int)
    assert list(res) == list(INDEX_NAMES) + [org.FLAGS_NAME]
    assert isinstance(res["n_objects"], int) and isinstance(res[org.FLAGS_NAME], int)
    check_reasons(res)
    flags = {"clear": org.NO_CLOUD, "cloudy": org.ONE_OBJECT | org.OVERCAST | org.NO_EDGES | org.FLAT_FIELD,
             "one object": org.ONE_OBJECT, "one pixel": org.ONE_OBJECT, "overcast": org.ONE_OBJECT | org.OVERCAST}
    assert res[org.FLAGS_NAME] & flags[case] == flags[case], res[org.FLAGS_NAME]
    assert math.isnan(res["iorg"]) and math.isnan(res["scai"]) and math.isnan(res["cop"])
    nan = float("nan")
    expected = {
        "clear": dict(cloud_fraction=0.0, n_objects=0, mean_object_size_m=nan, max_object_size_m=nan, open_sky=1.0,
                      mean_object_elongation=nan),
        "cloudy": dict(cloud_fraction=1.0, n_objects=1, mean_object_size_m=math.sqrt(32 * 48) * 1000,
                       max_object_size_m=math.sqrt(32 * 48) * 1000, open_sky=0.0),
        "one object": dict(cloud_fraction=200 / (32 * 48), n_objects=1, mean_object_size_m=math.sqrt(200) * 1000,
                           max_object_size_m=math.sqrt(200) * 1000, open_sky=1.0),
        "one pixel": dict(cloud_fraction=1 / (32 * 48), n_objects=1, mean_object_size_m=1000.0,
                          max_object_size_m=1000.0, open_sky=1.0),
        "overcast": dict(cloud_fraction=(32 * 48 - 13) / (32 * 48), n_objects=1),
    }[case]
    for k, v in expected.items():
        assert res[k] == pytest.approx(v, nan_ok=True), k
    # the names of the reasons, as CF flag_meanings
    assert len(org.FLAG_MEANINGS) == len(org.UNDEFINED_BY)


def test_bad_input_is_refused():
    good = np.zeros((8, 8), bool)
    for bad, what in [(np.zeros(8, bool), "2-D"), (np.zeros((2, 8, 8), bool), "2-D"),
                      (np.zeros((0, 8), bool), "at least one pixel"),
                      (np.full((8, 8), 2), "only 0 and 1"), (np.full((8, 8), np.nan), "only 0 and 1"),
                      (np.full((8, 8), "a"), "boolean")]:
        with pytest.raises(ValueError, match=what) as err:
            indices(bad, 1000.0)
        assert "mask" in str(err.value) and "\n" not in str(err.value)
    for px in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="pixel_size_m must be a positive"):
            indices(good, px)
    for px in ("1000", True, None):
        with pytest.raises(TypeError, match="pixel_size_m"):
            indices(good, px)
    # 0/1 numbers are accepted, as are numpy scalars for the pixel size
    assert indices(np.eye(8), np.float32(2.0))["n_objects"] == 8


# -----------------------------------------------------------------------------
# recipes' cloud masks
# -----------------------------------------------------------------------------
def test_every_builtin_recipe_has_a_cloud_mask():
    from convml_tt.data.synthetic import CLOUD_REFLECTANCE_THRESHOLD

    for recipe in R.list_recipes():
        cm = recipe.cloud_mask
        assert cm is not None and cm.description, recipe.name
        recipe.plane_index(cm.plane)
        if recipe.units == "K":
            assert cm.below is not None and 200 < cm.below < 300
        else:
            assert cm.above is not None and 0 < cm.above < 0.3
    tc = R.get_recipe("truecolor").cloud_mask
    assert tc.plane == "red" and tc.above == CLOUD_REFLECTANCE_THRESHOLD
    # a band list takes the first band's mask, on that band's channel
    assert R.get_recipe("C08+C13").cloud_mask.below == R.get_recipe("C08").cloud_mask.below


def test_cloud_mask_of_tile_values():
    rgb = np.full((4, 5, 3), 0.05, np.float32)
    rgb[0, :, 0] = 0.5            # bright red: cloud
    rgb[1, :, 2] = 0.5            # bright blue only: not cloud for truecolor (red plane)
    rgb[0, 0, :] = np.nan         # no data: never cloud
    m = cloud_mask(rgb, "truecolor")
    assert m.dtype == bool and m.shape == (4, 5)
    assert m[0, 1:].all() and not m[0, 0] and not m[1:].any()
    bt = np.full((6, 6), 290.0)
    bt[2:4, 2:4] = 270.0
    bt[0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = cloud_mask(bt, "C13")
        res = tile_indices(bt, "C13", 2000.0)
    assert m.sum() == 4 and m[2:4, 2:4].all()
    assert res["n_objects"] == 1 and res["cloud_fraction"] == pytest.approx(4 / 36)
    assert res["max_object_size_m"] == pytest.approx(4000.0)
    # (H, W, 1) works for a one-plane recipe; a band list picks its channel
    assert cloud_mask(bt[..., None], 13).sum() == 4
    wv = np.full((6, 6), 250.0)   # water vapour band: no high cloud
    assert cloud_mask(np.stack([wv, bt], -1), "C08+C13").sum() == 0
    assert cloud_mask(np.stack([bt, wv], -1), "C13+C08").sum() == 4


def test_cloud_mask_refusals():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        cloud_mask(np.zeros((4, 4)), "truecolor")
    with pytest.raises(ValueError, match="plane"):
        cloud_mask(np.zeros((4, 4, 2)), "truecolor")
    with pytest.raises(ValueError, match="shape"):
        cloud_mask(np.zeros(4), "C13")
    with pytest.raises(ValueError, match="numbers"):
        cloud_mask(np.full((4, 4), "x"), "C13")
    bare = R.Recipe(name="bare13", bands=(13,))
    with pytest.raises(ValueError, match="no cloud mask"):
        cloud_mask(np.zeros((4, 4)), bare)
    with pytest.raises(ValueError, match="pixel_size_m"):
        tile_indices(np.full((4, 4), 280.0), "C13", -1)


def test_synthetic_regimes_through_truecolor():
    """True-colour tiles of a synthetic scene: the recipe's mask gives each
    regime its nominal cloud fraction and the expected organisation."""
    from convml_tt.data.synthetic import REGIMES, make_scene_fields

    f = make_scene_fields(dt.datetime(2020, 1, 1, 14), seed=3, bands=(1, 2, 3), resolution_km=2.0, size_km=600)
    rgb = np.stack([f.reflectance[2], f.reflectance[3], f.reflectance[1]], -1)
    t = 32
    by_regime: dict[str, list[dict]] = {}
    for i in range(0, f.labels.shape[0] - t + 1, t):
        for j in range(0, f.labels.shape[1] - t + 1, t):
            lab = f.labels[i:i + t, j:j + t]
            if (lab == lab[0, 0]).all():
                res = tile_indices(rgb[i:i + t, j:j + t], "truecolor", 2000.0)
                by_regime.setdefault(REGIMES[lab[0, 0]], []).append(res)
    med = {name: {k: float(np.median([r[k] for r in rs])) for k in INDEX_NAMES} for name, rs in by_regime.items()}
    assert {"clear", "sugar", "flowers", "stratocumulus"} <= set(med)
    cf = {name: m["cloud_fraction"] for name, m in med.items()}
    assert cf["clear"] < 0.05 < cf["sugar"] < 0.2 < cf["flowers"] < 0.45 < cf["stratocumulus"]
    # sugar: many small, evenly spread cumuli; flowers: few large patches
    assert med["sugar"]["n_objects"] > 5 * med["flowers"]["n_objects"]
    assert med["flowers"]["mean_object_size_m"] > 3 * med["sugar"]["mean_object_size_m"]
    assert med["sugar"]["iorg"] < 0.5


def test_truecolor_mask_of_a_synthetic_composite_is_the_scenes_cloud(synthetic_scenes):
    """A 0.5 km true-colour composite of a synthetic scene (files written
    with cos(SZA), composite sun-zenith corrected by default): the recipe's
    mask equals the scene's own cloud (band-2 reflectance factor of its
    fields > CLOUD_REFLECTANCE_THRESHOLD) at every pixel."""
    from synthetic_fixtures import DOMAIN, SYNTHETIC_KWARGS

    from convml_tt.data.composites import make_composite
    from convml_tt.data.synthetic import CLOUD_REFLECTANCE_THRESHOLD, make_scene_fields

    scene = synthetic_scenes[0]
    ds = make_composite(scene.files, DOMAIN, resolution_km=0.5)
    assert int(ds.attrs["sunz"]) == 1
    mask = cloud_mask(ds["rgb"].values, "truecolor")
    kw = {k: SYNTHETIC_KWARGS[k] for k in ("seed", "satellite", "center", "size_km")}
    fields = make_scene_fields(scene.time, bands=(2,), **kw)
    xs, ys = (np.asarray(a) for a in fields.xy(2))
    col = np.rint((ds["x"].values - xs[0]) / (xs[1] - xs[0])).astype(int)
    row = np.rint((ds["y"].values - ys[0]) / (ys[1] - ys[0])).astype(int)
    assert np.allclose(xs[col], ds["x"].values, atol=1e-7) and np.allclose(ys[row], ds["y"].values, atol=1e-7)
    truth = fields.reflectance[2][np.ix_(row, col)] > CLOUD_REFLECTANCE_THRESHOLD
    assert 0.1 < truth.mean() < 0.9
    assert (mask == truth).mean() > 0.999


# -----------------------------------------------------------------------------
# the real daytime scan
# -----------------------------------------------------------------------------
def _real_composite(band: int):
    from convml_tt.data.composites import make_composite

    files = sorted(REAL.glob(f"OR_ABI-L1b-RadM1-M6C{band:02d}_G17_{REAL_DAY}_*.nc"))
    if not files:
        pytest.skip(f"real GOES-17 band {band} file not in {REAL}")
    ds = make_composite({band: files[0]}, REAL_SC_DOMAIN, kind=f"C{band:02d}", resolution_km=1.0)
    return ds[f"C{band:02d}"].values, ds


@pytest.fixture(scope="module")
def real_c01():
    return _real_composite(1)


def test_real_stratocumulus_scan(real_c01):
    values, ds = real_c01
    assert int(ds.attrs.get("sunz", 0)) == 0          # C01: plain reflectance factor
    ny, nx = values.shape
    assert ny >= 128 and nx >= 256
    # 128 x 128 px (1 km) tiles: the broken stratocumulus of the south-west
    # corner and the cloud streets of the north-west one
    sw, nw = values[-128:, :128], values[:128, :128]
    out = {}
    for name, tile in (("sw", sw), ("nw", nw)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = out[name] = tile_indices(tile, "C01", 1000.0)
        assert 0.3 < res["cloud_fraction"] < 0.95
        assert res["n_objects"] >= 10
        assert 0.3 < res["iorg"] < 0.95 and res["scai"] > 0 and res["cop"] > 0 and 0 < res["open_sky"] < 0.5
        assert 1000.0 < res["mean_object_size_m"] < res["max_object_size_m"] <= 128e3 * math.sqrt(2)
    # the infrared mask of the same place sees the cold (high) cloud but not
    # the warmest stratocumulus tops: less cloud than the visible mask
    c13, _ = _real_composite(13)
    res13 = tile_indices(c13[-128:, :128], "C13", 1000.0)
    assert 0.1 < res13["cloud_fraction"] < out["sw"]["cloud_fraction"]
    whole = tile_indices(c13, "C13", 1000.0)
    assert 0.2 < whole["cloud_fraction"] < 0.95 and whole["n_objects"] >= 10


def test_indices_are_invariant_under_flips_and_transposes():
    """The indices do not depend on which way is north: a transposed,
    flipped or strided view gives the same values (cloudmetrics' open-sky
    bounds are not symmetric; ours are)."""
    big = blob_masks(1, size=96, seed=5)[0]
    mask = big[::2, ::2]                  # a non-contiguous view
    base = indices(np.ascontiguousarray(mask), 1000.0)
    assert base["n_objects"] >= 5
    pow2 = np.ascontiguousarray(big[:64, :64])
    base2 = indices(pow2, 1000.0)
    for view in (mask, mask.T, mask[::-1], mask[:, ::-1], mask[::-1, ::-1].T):
        got = indices(view, 1000.0)
        assert got["n_objects"] == base["n_objects"]
        for k in INDEX_NAMES:
            if k == "fractal_dimension":  # boxes cut short by the edge (48 px) move with a flip
                continue
            # the spectral slope: a non-linear fit converged to its tolerance
            rel = 1e-6 if k == "spectral_slope" else 1e-9
            assert got[k] == pytest.approx(base[k], rel=rel, nan_ok=True), k
    for view in (pow2.T, pow2[::-1], pow2[:, ::-1]):
        assert indices(view, 1000.0)["fractal_dimension"] == pytest.approx(base2["fractal_dimension"], rel=1e-12)


def test_open_sky_search_equals_every_pixel():
    """The pruned search for the largest open-sky rectangle finds the same
    value as computing every clear pixel's rectangle, on masks of any shape,
    cloud fraction and texture."""
    rng = np.random.default_rng(11)
    n = 0
    for _ in range(300):
        shape = tuple(int(v) for v in rng.integers(1, 48, 2))
        field = ndimage.gaussian_filter(rng.standard_normal(shape), rng.uniform(0.01, 3))
        mask = field > np.quantile(field, rng.uniform(0.02, 0.995))
        if mask.all():
            continue
        assert org._open_sky_max(mask) == org._open_sky_areas(mask).max(), shape
        n += 1
    for mask in blob_masks(8, size=128, seed=9) + [np.eye(40, dtype=bool), ~np.eye(40, dtype=bool)]:
        if not mask.all():
            assert org._open_sky_max(mask) == org._open_sky_areas(mask).max()
    assert n > 250


def test_elongation_is_the_axis_ratio_of_the_objects():
    """A k x 1 bar has elongation k in any orientation, a disc 1; the mean is
    weighted by area, so specks do not dilute a large elongated object."""
    bar = np.zeros((64, 64), bool)
    bar[10:12, 5:45] = True  # 2 x 40
    assert indices(bar, 1.0)["mean_object_elongation"] == pytest.approx(20.0)
    assert indices(bar.T, 1.0)["mean_object_elongation"] == pytest.approx(20.0)
    yy, xx = np.mgrid[:64, :64]
    disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 15 ** 2
    assert indices(disc, 1.0)["mean_object_elongation"] == pytest.approx(1.0, abs=0.01)
    # a diagonal band of length ~60 px and width ~4 px
    diag = np.abs(yy - xx) < 3
    diag &= (yy > 10) & (yy < 54)
    e = indices(diag, 1.0)["mean_object_elongation"]
    assert 8 < e < 20
    with_specks = bar.copy()
    with_specks[50, ::8] = True  # eight 1-pixel objects: area 8 against 80
    mixed = indices(with_specks, 1.0)["mean_object_elongation"]
    assert mixed == pytest.approx((80 * 20.0 + 8 * 1.0) / 88)
    assert math.isnan(indices(np.zeros((8, 8), bool), 1.0)["mean_object_elongation"])
    assert indices(np.ones((8, 16), bool), 1.0)["mean_object_elongation"] == 2.0
