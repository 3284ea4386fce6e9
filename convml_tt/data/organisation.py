"""Cloud-organisation indices of a tile's cloud mask (numpy/scipy only).

:func:`indices` takes a 2-D boolean cloud mask (``True`` = cloud) with square
pixels of ``pixel_size_m`` metres and returns a dict of floats (``n_objects``
an int):

``cloud_fraction``
    fraction of cloudy pixels (0-1).
``n_objects``
    number of cloud objects: 4-connected regions of cloudy pixels (pixels
    sharing an edge; ``scipy.ndimage.label`` with its default cross
    structure), as cloudmetrics' default ``object_connectivity=1``.
``mean_object_size_m``, ``max_object_size_m``
    object length scales in metres: ``sqrt(mean object area)`` and
    ``sqrt(largest object area)`` (cloudmetrics' ``mean_length_scale`` and
    ``max_length_scale`` times the pixel size). Note the mean is the square
    root of the mean area, not the mean of the square roots.
``iorg``
    organisation index I_org (Weger et al. 1992; Tompkins & Semie 2017,
    doi:10.1002/2016MS000802): the area under the curve of the cumulative
    distribution of the nearest-neighbour distances ``d_i`` of the object
    centroids plotted against that of a Poisson point process of the same
    density, ``F(r) = 1 - exp(-lambda pi r^2)``, ``lambda = N / (H W)``
    (objects per pixel), for ``r`` from 0 to the domain diagonal. The
    integral is evaluated exactly: with the scene's CDF a step function,
    ``I_org = mean_i F(R) - F(d_i) = mean_i exp(-lambda pi d_i^2) - exp(-lambda pi R^2)``,
    ``R = sqrt(H^2 + W^2)``. Below 0.5: more regular than random; 0.5:
    random; above 0.5: clustered. The domain is not periodic (tiles are
    cut out of larger scenes), nearest neighbours come from a k-d tree
    (``scipy.spatial.cKDTree``). cloudmetrics integrates the same curve
    with the trapezium rule on 10000 distance bins, which differs from the
    exact value by a fraction of a bin (measured: up to 1.3e-3 on blob
    masks, 5e-3 on white noise with thousands of objects).
``scai``
    Simple Convective Aggregation Index (Tobin et al. 2012,
    doi:10.1175/JCLI-D-11-00258.1): ``N / N_max * D0 / L * 1000`` with
    ``D0`` the geometric mean distance between all pairs of object
    centroids, ``L = sqrt(H W) * pixel_size_m`` the domain length and
    ``N_max = H W / 2`` (half the number of pixels, the most objects a
    mask can hold), as cloudmetrics' ``scai`` with
    ``reference_lengthscale`` the domain length in pixels. Smaller is more
    aggregated.
``cop``
    Convective Organisation Potential (White et al. 2018,
    doi:10.1175/JAS-D-16-0307.1): the mean over all pairs of objects of
    ``(r_i + r_j) / d_ij`` with ``r = sqrt(area / pi)`` the radius of the
    object's equal-area circle and ``d_ij`` the distance between centroids.
``mean_object_elongation``
    how elongated the cloud objects are: for each object, the axis ratio
    ``sqrt(l1 / l2)`` of the ellipse of its second moments (``l1 >= l2`` the
    eigenvalues of the covariance of its pixel positions, each pixel a
    square of side 1: ``1/12`` added to both variances), so 1 for a disc or
    a square and ``k`` for a ``k x 1`` bar; the area-weighted mean over the
    objects (large objects count more than specks). Not in cloudmetrics; a
    measure of the elongated bands of "fish" against the round patches of
    "flowers".
``open_sky``
    largest open-sky area (Antonissen 2019, as in cloudmetrics'
    ``open_sky`` with its default ``summary_measure="max"``): for each
    clear pixel, the rectangle spanned by the clear runs through it along
    its row and column (bounded by the nearest cloudy pixel or the domain
    edge in each of the four directions), as a fraction of the domain
    area; the maximum over clear pixels. (cloudmetrics' bounds are one
    pixel shorter at the west/north edge and one longer at the east/south
    edge of the domain; this function counts clear pixels.)

``iorg`` uses the nearest-neighbour distance of every object up to
:data:`MAX_NN_QUERIES` objects; with more, the mean over that many objects
drawn at random (fixed seed; their neighbours are searched among all
objects), a standard error of ~0.005. Pair computations (``scai``'s
``D0`` and ``cop``) are exact up to
:data:`MAX_EXACT_OBJECTS` objects; with more (noise-like masks), they are
computed over a random subset of that many objects, drawn with a fixed seed
(the same mask always gives the same values), so a tile costs a bounded
time; measured deviation from the exact values: a few per cent
(docs/organisation.md). Centroid distances below
:data:`MIN_PAIR_DISTANCE_PX` (one pixel; only nested objects, e.g. a cloud
inside a ring of cloud, come that close) are raised to it, so ``cop`` and
``scai`` stay finite.

``fractal_dimension``, ``orientation``, ``spectral_length_m``,
``spectral_slope`` and, when asked (``wavelet=True``), ``woi1``-``woi3``
come from :mod:`convml_tt.data.organisation_fields` (cloudmetrics'
definitions); the spectral and wavelet ones measure a *field*, the tile's
cloud signal (:func:`~convml_tt.data.cloud_masks.cloud_signal`).

An index that is not defined for a mask is NaN, never a stand-in number,
and ``index_flags`` says why (bits, :data:`FLAG_MEANINGS`, the indices each
makes NaN in :data:`UNDEFINED_BY`): no cloud (sizes, elongation, the
point-pattern and field indices), fewer than two objects (``iorg``,
``scai``, ``cop``: no nearest neighbour, no pair), overcast (cloud fraction
>= :data:`OVERCAST_FRACTION`: the pattern is one of holes in a deck, so the
point-pattern indices and the orientation), no cloud edge at some box size
(``fractal_dimension``), a constant field (spectral and wavelet indices), a
spectral fit that did not converge, one cloudy pixel (``orientation``).
No warning is ever emitted.

:func:`cloud_mask` applies a recipe's :class:`~convml_tt.data.composites.recipes.CloudMask`
to a tile's physical values, :func:`tile_indices` does both
(:mod:`convml_tt.data.cloud_masks`, importable from here).
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

__all__ = [
    "INDEX_NAMES",
    "FIELD_INDEX_NAMES",
    "WAVELET_NAMES",
    "FLAGS_NAME",
    "FLAG_MEANINGS",
    "UNDEFINED_BY",
    "OVERCAST_FRACTION",
    "MAX_EXACT_OBJECTS",
    "MAX_NN_QUERIES",
    "MIN_PAIR_DISTANCE_PX",
    "indices",
    "open_sky",
    "cloud_mask",
    "tile_indices",
]

#: keys of the dict :func:`indices` returns, in order
INDEX_NAMES = ("cloud_fraction", "iorg", "scai", "cop", "n_objects", "mean_object_size_m",
               "max_object_size_m", "open_sky", "mean_object_elongation", "fractal_dimension", "orientation",
               "spectral_length_m", "spectral_slope")
#: the per-tile reasons of NaN indices (bits of :data:`FLAG_MEANINGS`), after the indices
FLAGS_NAME = "index_flags"
#: the scale, shape and direction indices (:mod:`convml_tt.data.organisation_fields`)
FIELD_INDEX_NAMES = ("fractal_dimension", "orientation", "spectral_length_m", "spectral_slope")
#: the wavelet organisation indices, computed only when asked (``wavelet=True``)
WAVELET_NAMES = ("woi1", "woi2", "woi3")
#: why indices are NaN: bits of ``index_flags`` (CF ``flag_masks``)
NO_CLOUD, ONE_OBJECT, OVERCAST, NO_EDGES, FLAT_FIELD, FIT_FAILED, ONE_PIXEL = 1, 2, 4, 8, 16, 32, 64
#: CF ``flag_meanings`` of ``index_flags``, in bit order
FLAG_MEANINGS = ("no_cloud", "fewer_than_two_objects", "overcast", "no_cloud_edges_at_some_box_size",
                 "constant_field", "spectral_fit_failed", "one_cloudy_pixel")
_POINT = ("iorg", "scai", "cop")
#: the indices each flag makes undefined (NaN)
UNDEFINED_BY = {
    NO_CLOUD: _POINT + ("mean_object_size_m", "max_object_size_m", "mean_object_elongation")
    + FIELD_INDEX_NAMES + WAVELET_NAMES,
    ONE_OBJECT: _POINT,
    OVERCAST: _POINT + ("orientation",),
    NO_EDGES: ("fractal_dimension",),
    FLAT_FIELD: ("spectral_length_m", "spectral_slope") + WAVELET_NAMES,
    FIT_FAILED: ("spectral_slope",),
    ONE_PIXEL: ("orientation",),
}
#: cloud fraction from which a tile is overcast: its clouds are one deck with
#: holes, and the point-pattern indices (iorg, scai, cop) and the orientation
#: are not defined
OVERCAST_FRACTION = 0.95
#: most objects whose pairs are all used for ``scai`` and ``cop``
MAX_EXACT_OBJECTS = 500
#: most objects whose nearest-neighbour distances are all used for ``iorg``
MAX_NN_QUERIES = 1000
#: smallest centroid distance (pixels) used in ``scai`` and ``cop``
MIN_PAIR_DISTANCE_PX = 1.0


def _checked_mask(mask: Any, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows, columns) cloud mask, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one pixel, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be boolean (True = cloud) or hold only 0 and 1, got dtype {arr.dtype}")
    zero, one = arr == 0, arr == 1
    if not np.all(zero | one):
        raise ValueError(f"{name} must be boolean (True = cloud) or hold only 0 and 1, got other values "
                         f"(e.g. {arr[~(zero | one)].ravel()[:1].tolist()})")
    return one


def _checked_pixel_size(pixel_size_m: Any) -> float:
    if isinstance(pixel_size_m, (bool, np.bool_)) or not isinstance(pixel_size_m, (Real, np.number)):
        raise TypeError(f"pixel_size_m must be a number of metres, got {type(pixel_size_m).__name__}")
    px = float(pixel_size_m)
    if not math.isfinite(px) or px <= 0:
        raise ValueError(f"pixel_size_m must be a positive, finite number of metres, got {pixel_size_m!r}")
    return px


def _clear_runs(mask: np.ndarray) -> np.ndarray:
    """Length (pixels, int32) of the run of clear pixels along its row
    through each clear pixel of ``mask`` (2-D bool, True = cloud), clear
    pixels in raster order."""
    ny, nx = mask.shape
    # 0, then each row followed by a 0 (not clear), so that no run crosses
    # rows and the run boundaries alternate start, end, start, ...
    # (boolean arrays: numpy finds their nonzeros several times faster)
    buf = np.zeros(ny * (nx + 1) + 1, bool)
    np.logical_not(mask, out=buf[1:].reshape(ny, nx + 1)[:, :nx])
    edges = np.flatnonzero(buf[1:] != buf[:-1])
    lengths = (edges[1::2] - edges[0::2]).astype(np.int32)
    return np.repeat(lengths, lengths)


def _open_sky_areas(mask: np.ndarray) -> np.ndarray:
    """Area (pixels) of the open-sky rectangle of each clear pixel of
    ``mask``, clear pixels in raster order: the product of the clear runs
    through the pixel along its row and its column."""
    along_rows = _clear_runs(mask)
    mask_t = np.ascontiguousarray(mask.T)
    along_cols = np.zeros(mask_t.shape, np.int32 if mask.size < 2**31 else np.int64)
    along_cols[~mask_t] = _clear_runs(mask_t)
    return along_cols.T[~mask] * along_rows


def _clear_run_starts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, lengths)`` of the runs of clear pixels along the rows of
    ``mask`` (True = cloud); ``starts`` are flat indices into the rows
    padded by one column, ``(ny, nx + 1)``."""
    ny, nx = mask.shape
    buf = np.zeros(ny * (nx + 1) + 1, bool)
    np.logical_not(mask, out=buf[1:].reshape(ny, nx + 1)[:, :nx])
    edges = np.flatnonzero(buf[1:] != buf[:-1])
    return edges[0::2], edges[1::2] - edges[0::2]


def _run_pixels(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The flat indices of every pixel of the runs ``(starts, lengths)``."""
    shift = np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
    return np.arange(int(lengths.sum())) - shift


def _open_sky_max(mask: np.ndarray) -> int:
    """Largest open-sky rectangle (pixels) of a mask with a clear pixel: the
    same value as ``_open_sky_areas(mask).max()``, found from the runs.

    A lower bound comes from the longest row run and the longest column run
    (the best pixel of each); only row runs long enough to beat it (length
    times the longest column run) are then searched pixel by pixel, the
    column run through each pixel found by bisection. When that leaves more
    than a quarter of the clear pixels, every pixel is computed."""
    ny, nx = mask.shape
    row_starts, row_len = _clear_run_starts(mask)
    col_starts, col_len = _clear_run_starts(np.ascontiguousarray(mask.T))

    def down(flat):  # column run through the pixels at these padded row-grid indices
        r, c = np.divmod(flat, nx + 1)
        return col_len[np.searchsorted(col_starts, c * (ny + 1) + r, "right") - 1]

    def across(flat_t):  # row run through the pixels at these padded column-grid indices
        c, r = np.divmod(flat_t, ny + 1)
        return row_len[np.searchsorted(row_starts, r * (nx + 1) + c, "right") - 1]

    i, j = int(row_len.argmax()), int(col_len.argmax())
    best = max(int(row_len[i]) * int(down(np.arange(row_starts[i], row_starts[i] + row_len[i])).max()),
               int(col_len[j]) * int(across(np.arange(col_starts[j], col_starts[j] + col_len[j])).max()))
    better = row_len * int(col_len[j]) > best
    n_search = int(row_len[better].sum())
    if n_search == 0:
        return best
    if 4 * n_search > mask.size - int(np.count_nonzero(mask)):
        return int(_open_sky_areas(mask).max())
    starts, lengths = row_starts[better], row_len[better]
    return max(best, int((np.repeat(lengths, lengths) * down(_run_pixels(starts, lengths))).max()))


def open_sky(mask, summary: str = "max") -> float:
    """Open-sky index of a 2-D cloud mask (``True`` = cloud): the ``"max"``
    (default) or ``"mean"`` over clear pixels of the area of the clear
    rectangle through each (see the module docstring), as a fraction of the
    domain area; 1 for an all-clear mask, 0 for an all-cloudy one."""
    m = _checked_mask(mask)
    if summary not in ("max", "mean"):
        raise ValueError(f"summary must be 'max' or 'mean', got {summary!r}")
    n_clear = m.size - int(np.count_nonzero(m))
    if n_clear == 0:
        return 0.0
    value = _open_sky_max(m) if summary == "max" else _open_sky_areas(m).mean()
    return float(value) / m.size


_PAIR_LAYOUT: list[tuple[np.ndarray, np.ndarray]] = []


def _pair_layout() -> tuple[np.ndarray, np.ndarray]:
    """``(starts, second)`` of the ``pdist`` order of the pairs (i < j) of
    ``MAX_EXACT_OBJECTS`` points: the pairs of each ``i`` are one contiguous
    run from ``starts[i]``; ``second[k]`` is ``j`` of pair ``k``. The pairs
    of the *last* ``n`` points are the last ``n (n - 1) / 2`` pairs, in
    ``pdist`` order, so one layout serves every ``n``. Built once (~1 MB)."""
    if not _PAIR_LAYOUT or len(_PAIR_LAYOUT[0][0]) != MAX_EXACT_OBJECTS - 1:
        i, j = np.triu_indices(MAX_EXACT_OBJECTS, k=1)
        _PAIR_LAYOUT[:] = [(np.flatnonzero(np.diff(i, prepend=-1)), j.astype(np.intp))]
    return _PAIR_LAYOUT[0]


def _pair_means(pos: np.ndarray, radius: np.ndarray) -> tuple[float, float]:
    """``(mean log d_ij, mean (r_i + r_j) / d_ij)`` over the pairs i < j of
    ``2 <= n <= MAX_EXACT_OBJECTS`` points ``pos`` (n, 2) with radii
    ``radius`` (n,), pixels; distances below ``MIN_PAIR_DISTANCE_PX`` are
    raised to it."""
    n = len(pos)
    d = pdist(pos, "sqeuclidean")
    np.maximum(d, MIN_PAIR_DISTANCE_PX ** 2, out=d)
    mean_log = 0.5 * float(np.log(d).mean())
    np.sqrt(d, out=d)
    np.reciprocal(d, out=d)
    # sum over pairs of (r_i + r_j) / d_ij = sum_k r_k * (sum of 1 / d over
    # the pairs holding k): the r_i terms run by run, the r_j ones binned
    # (no BLAS dot products: they may start threads)
    starts, second = _pair_layout()
    off = MAX_EXACT_OBJECTS - n
    per_object = np.bincount(second[-d.size:], weights=d, minlength=MAX_EXACT_OBJECTS)[off:]
    per_object[:-1] += np.add.reduceat(d, starts[off:] - starts[off])
    return mean_log, float((radius * per_object).sum()) / d.size


def _areas_and_centroids(mask: np.ndarray, labels: np.ndarray, n: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area (pixels, float), centroid ``(row, column)`` (pixels, the mean
    of the pixel indices) and elongation (the axis ratio of the ellipse of
    second moments, >= 1) of each of the ``n`` labelled objects, summed over
    the horizontal runs of cloud (far fewer than cloudy pixels, but for
    noise)."""
    ny, nx = mask.shape
    # clear, then each row followed by one clear pixel, so that no run
    # crosses rows and the run boundaries alternate start, end, start, ...
    buf = np.zeros(ny * (nx + 1) + 1, bool)
    buf[1:].reshape(ny, nx + 1)[:, :nx] = mask
    edges = np.flatnonzero(buf[1:] != buf[:-1])
    starts = edges[0::2]
    length = (edges[1::2] - starts).astype(np.float64)
    row, col = np.divmod(starts, nx + 1)
    lab = labels[row, col]
    area = np.bincount(lab, weights=length, minlength=n + 1)[1:]
    row_sum = np.bincount(lab, weights=row * length, minlength=n + 1)[1:]
    # columns col .. col + length - 1 sum to length * (col + (length - 1) / 2)
    mid = col + 0.5 * (length - 1)
    col_sum = np.bincount(lab, weights=length * mid, minlength=n + 1)[1:]
    # second moments: sum over k < length of (col + k)^2, row^2 and row (col + k)
    col2 = length * col * col + col * length * (length - 1) + (length - 1) * length * (2 * length - 1) / 6.0
    col2_sum = np.bincount(lab, weights=col2, minlength=n + 1)[1:]
    row2_sum = np.bincount(lab, weights=length * row * row, minlength=n + 1)[1:]
    rc_sum = np.bincount(lab, weights=length * row * mid, minlength=n + 1)[1:]
    mr, mc = row_sum / area, col_sum / area
    # covariance of the pixel positions, each pixel a unit square (+1/12)
    vr = np.maximum(row2_sum / area - mr * mr, 0.0) + 1.0 / 12.0
    vc = np.maximum(col2_sum / area - mc * mc, 0.0) + 1.0 / 12.0
    cv = rc_sum / area - mr * mc
    half_tr = 0.5 * (vr + vc)
    root = np.sqrt(np.maximum(half_tr * half_tr - (vr * vc - cv * cv), 0.0))
    elong = np.sqrt((half_tr + root) / np.maximum(half_tr - root, 1e-12 * half_tr))
    return area, np.column_stack((mr, mc)), elong


def _flagged(out: dict[str, Any], flags: int) -> dict[str, Any]:
    """``out`` with the indices undefined under ``flags`` set to NaN and
    ``index_flags`` set."""
    for bit, names in UNDEFINED_BY.items():
        if flags & bit:
            for k in names:
                if k in out:
                    out[k] = float("nan")
    out[FLAGS_NAME] = int(flags)
    return out


def _field_indices(out: dict[str, Any], m: np.ndarray, field: np.ndarray, px: float, wavelet: bool) -> int:
    """Fill the scale, shape and direction indices (organisation_fields) of
    mask ``m`` and ``field`` into ``out``; returns the flags they raise."""
    from . import organisation_fields as F

    flags = 0
    out["fractal_dimension"] = F.fractal_dimension(m)
    if not math.isfinite(out["fractal_dimension"]):
        flags |= NO_EDGES
    out["orientation"] = F.orientation(m)
    if not math.isfinite(out["orientation"]):
        flags |= ONE_PIXEL
    n = min(field.shape)
    r0, c0 = (field.shape[0] - n) // 2, (field.shape[1] - n) // 2
    sq = field[r0:r0 + n, c0:c0 + n]
    if not np.ptp(sq) > 0:
        return flags | FLAT_FIELD
    k, e = F.spectra(sq)
    out["spectral_length_m"] = F.spectral_length_px(k, e) * px
    out["spectral_slope"] = F.spectral_slope(k, e)
    if not math.isfinite(out["spectral_slope"]):
        flags |= FIT_FAILED
    if wavelet:
        out["woi1"], out["woi2"], out["woi3"] = F.wavelet_indices(field)
    return flags


def indices(mask, pixel_size_m: float, field=None, wavelet: bool = False) -> dict[str, float]:
    """Organisation indices of one cloud mask.

    Parameters
    ----------
    mask:
        2-D ``(rows, columns)`` cloud mask: boolean (``True`` = cloud) or
        numbers that are all 0 or 1.
    pixel_size_m:
        side of the (square) pixels, metres.
    field:
        the scalar field of the spectral and wavelet indices, same shape as
        ``mask`` (e.g. the cloud signal of :func:`cloud_signal`); default:
        the mask as 0/1. NaN counts as 0.
    wavelet:
        also compute the wavelet indices ``woi1``, ``woi2``, ``woi3``
        (:data:`WAVELET_NAMES`; ~8 ms per 256 x 256 px tile, so only when
        asked).

    Returns
    -------
    dict
        ``cloud_fraction`` (1), ``iorg`` (1), ``scai`` (1), ``cop`` (1),
        ``n_objects`` (int), ``mean_object_size_m`` (m),
        ``max_object_size_m`` (m), ``open_sky`` (1),
        ``mean_object_elongation`` (1), ``fractal_dimension`` (1),
        ``orientation`` (1), ``spectral_length_m`` (m), ``spectral_slope``
        (1), the wavelet indices when asked, and ``index_flags`` (int, the
        reasons of the NaN values: :data:`FLAG_MEANINGS`). An index that is
        undefined for the mask is NaN, never a stand-in number.

    Raises ``ValueError`` for a mask that is not 2-D, empty or not 0/1, or a
    pixel size that is not positive; ``TypeError`` for a pixel size that is
    not a number.
    """
    m = _checked_mask(mask)
    px = _checked_pixel_size(pixel_size_m)
    if field is None:
        f = m.astype(np.float64)
    else:
        f = np.asarray(field, np.float64)
        if f.shape != m.shape:
            raise ValueError(f"field of shape {f.shape} must have the mask's shape {m.shape}")
        if not np.isfinite(f).all():  # (a cloud signal has no NaN: no copy then)
            f = np.where(np.isfinite(f), f, 0.0)
    ny, nx = m.shape
    npix = ny * nx
    n_cloud = int(np.count_nonzero(m))
    nan = float("nan")
    out: dict[str, Any] = {
        "cloud_fraction": n_cloud / npix,
        "iorg": nan, "scai": nan, "cop": nan, "n_objects": 0,
        "mean_object_size_m": nan, "max_object_size_m": nan,
        "open_sky": 1.0 if n_cloud == 0 else 0.0,
        "mean_object_elongation": nan,
        "fractal_dimension": nan, "orientation": nan, "spectral_length_m": nan, "spectral_slope": nan,
    }
    if wavelet:
        out.update(dict.fromkeys(WAVELET_NAMES, nan))
    if n_cloud == 0:
        return _flagged(out, NO_CLOUD)
    flags = OVERCAST if n_cloud >= OVERCAST_FRACTION * npix else 0
    if n_cloud == npix:
        # all cloudy: one object, the whole domain
        out.update(n_objects=1, mean_object_size_m=math.sqrt(npix) * px, max_object_size_m=math.sqrt(npix) * px,
                   mean_object_elongation=max(ny, nx) / min(ny, nx))
        flags |= ONE_OBJECT | _field_indices(out, m, f, px, wavelet)
        return _flagged(out, flags)
    out["open_sky"] = _open_sky_max(m) / npix
    flags |= _field_indices(out, m, f, px, wavelet)

    labels, n = ndimage.label(m)
    area, pos, elong = _areas_and_centroids(m, labels, n)
    out["n_objects"] = int(n)
    out["mean_object_elongation"] = float((area * elong).sum() / area.sum())
    out["mean_object_size_m"] = math.sqrt(n_cloud / n) * px
    out["max_object_size_m"] = math.sqrt(float(area.max())) * px
    if n < 2:
        return _flagged(out, flags | ONE_OBJECT)
    if flags & OVERCAST:  # the pattern is one of holes in a deck: no point pattern to measure
        return _flagged(out, flags)

    # I_org: exact integral of the nearest-neighbour CDF against the Poisson
    # CDF, over every object's nearest neighbour or a random subset of them
    tree = cKDTree(pos, balanced_tree=False, compact_nodes=False)
    query = pos
    if n > MAX_NN_QUERIES:
        query = pos[np.random.default_rng(n).choice(n, MAX_NN_QUERIES, replace=False)]
    nn = tree.query(query, k=2)[0][:, 1]
    lam_pi = math.pi * n / npix
    out["iorg"] = float(np.exp(-lam_pi * nn * nn).mean() - math.exp(-lam_pi * (ny * ny + nx * nx)))

    # pair indices (scai's D0, cop) over all objects, or a random subset of them
    if n > MAX_EXACT_OBJECTS:
        # a random subset, the same for the same mask (a regular one, e.g.
        # every k-th label, would under-sample close pairs: labels run in
        # raster order)
        pick = np.sort(np.random.default_rng(n).choice(n, MAX_EXACT_OBJECTS, replace=False))
        pos_p, area_p = pos[pick], area[pick]
    else:
        pos_p, area_p = pos, area
    mean_log_d, out["cop"] = _pair_means(pos_p, np.sqrt(area_p / math.pi))
    out["scai"] = n / (npix / 2.0) * math.exp(mean_log_d) / math.sqrt(npix) * 1000.0
    return _flagged(out, flags)


# the cloud masks of composites (kept importable from here)
from .cloud_masks import cloud_mask, cloud_signal, tile_indices  # noqa: E402
