"""Scale, shape and direction indices of a tile (numpy/scipy only), the
definitions of cloudmetrics 0.3.0 (Janssens et al. 2021,
doi:10.1029/2020GL091001), computed without its per-call overheads.

Two take the cloud *mask* (2-D bool, True = cloud):

:func:`fractal_dimension`
    box-counting dimension of the cloud edges: for box sizes ``2^n .. 4``
    px (``2^n`` the largest power of two that fits), the number of boxes
    holding both cloud and clear pixels (boxes cut short by the tile's
    edge count when not all clear, as in cloudmetrics); minus the slope of the
    least-squares line of ``log count`` against ``log size``. 1 for smooth
    edges, towards 2 for space-filling ragged ones. NaN when some box size
    has no mixed box (no edge: all clear, all cloudy, or too few edges).
:func:`orientation`
    ``sqrt(1 - l_min / l_max)`` of the covariance of the cloudy pixels'
    positions (cloudmetrics' "orientation", from the mask's image
    moments): 0 when the cloud has no preferred direction, towards 1 when
    it lies along one direction (streets). NaN without cloud.

Three take a *field*, ``(n, n)`` numbers (the tile's cloud signal, see
:func:`convml_tt.data.organisation.tile_indices`):

:func:`spectra`
    the energy-preserving 2-D power spectrum (no window, no detrending,
    cloudmetrics' defaults), summed in annuli of integer radius
    ``1 .. n/2`` into the 1-D radial spectrum ``E(k)``, ``k = 2 pi r / n``
    (rad/px).
:func:`spectral_length_px` (``spectral_length_m`` once times the pixel size)
    ``2 pi / k_mean``, ``k_mean`` the first moment of ``E(k)`` (trapezium
    rule in ``k``; cloudmetrics' ``spectral_length_moment``; Pino et al.
    2006): the dominant scale of the cloud field, px.
:func:`spectral_slope`
    exponent ``beta`` of the power law ``b k^beta`` fitted to ``E(k)`` by
    non-linear least squares (MINPACK's Levenberg-Marquardt, the solver of
    ``scipy.optimize.curve_fit`` in cloudmetrics' ``spectral_slope``):
    steeper (more negative) for fields whose variance sits at large scales (decks, mesoscale cells), flatter for small
    scattered cumuli. NaN when the fit does not converge.
:func:`wavelet_indices` (WOI1, WOI2, WOI3; Brune et al. 2018, doi:10.1002/qj.3409)
    from the stationary 2-D Haar wavelet transform (periodic, energy
    normalised; fields not a power of two on a side are padded periodically
    to the next one), the mean squared coefficients per level and direction
    (horizontal, vertical, diagonal) split into *large* scales (the
    ``separation`` coarsest levels) and *small* ones (the rest). WOI1: the
    share of the wavelet energy at large scales (0-1); WOI2: the total
    wavelet energy per cloudy (positive) pixel (the field's units squared);
    WOI3: how unevenly the energy is spread over the three directions
    (0: isotropic; streets and bands score high).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["fractal_dimension", "orientation", "spectra", "spectral_length_px", "spectral_slope",
           "wavelet_indices", "WOI_SEPARATION_PX"]

#: wavelet levels whose scale ``2^j`` px is at least this are "large scale"
#: (the 5 coarsest levels of a 256 px tile: cloudmetrics' default
#: ``separation_scale=5`` for that size)
WOI_SEPARATION_PX = 16


def fractal_dimension(mask: np.ndarray) -> float:
    """Box-counting dimension of the edges of a 2-D bool mask (see module)."""
    # clear pixels, as cloudmetrics counts them (int32: a box of up to 2^31 pixels)
    z = (~mask).astype(np.int32 if mask.size < 2**31 else np.int64)
    p = min(z.shape)
    n = int(math.log2(p)) if p >= 8 else 0
    sizes = 2 ** np.arange(n, 1, -1)
    if len(sizes) < 2:
        return float("nan")
    counts = np.empty(len(sizes))
    ny, nx = z.shape
    if ny % sizes[0] == 0 and nx % sizes[0] == 0:
        # whole boxes at every size: sum 2 x 2 blocks level by level (the same integer sums,
        # as four strided views: ~10x faster than a reshaped sum over two axes)
        box, size = z, 1
        for i, k in enumerate(sizes[::-1]):
            while size < k:
                box = box[0::2, 0::2] + box[0::2, 1::2] + box[1::2, 0::2] + box[1::2, 1::2]
                size *= 2
            counts[len(sizes) - 1 - i] = np.count_nonzero((box > 0) & (box < k * k))
    else:
        for i, k in enumerate(sizes):
            box = np.add.reduceat(np.add.reduceat(z, np.arange(0, ny, k), axis=0), np.arange(0, nx, k), axis=1)
            counts[i] = np.count_nonzero((box > 0) & (box < k * k))
    if np.any(counts == 0):
        return float("nan")
    # the least-squares slope of log(count) on log(size), in closed form (np.polyfit's value to
    # ~1e-15 relative, without its lstsq: a tenth of the time on these few points)
    x = [math.log(k) for k in sizes.tolist()]
    y = [math.log(c) for c in counts.tolist()]
    xm, ym = math.fsum(x) / len(x), math.fsum(y) / len(y)
    sxy = math.fsum((a - xm) * (b - ym) for a, b in zip(x, y))
    sxx = math.fsum((a - xm) ** 2 for a in x)
    return float(-sxy / sxx)


def orientation(mask: np.ndarray) -> float:
    """``sqrt(1 - l_min / l_max)`` of the covariance of the cloudy pixels'
    (column, row) positions (see module); NaN without cloud."""
    n = int(np.count_nonzero(mask))
    if n == 0:
        return float("nan")
    m = mask.astype(np.float64)
    r, c = np.arange(mask.shape[0], dtype=np.float64), np.arange(mask.shape[1], dtype=np.float64)
    per_row, per_col = m.sum(axis=1), m.sum(axis=0)
    mr, mc = per_row @ r / n, per_col @ c / n
    vr, vc = per_row @ (r * r) / n - mr * mr, per_col @ (c * c) / n - mc * mc
    cv = r @ (m @ c) / n - mr * mc
    half = 0.5 * (vc + vr)
    root = math.sqrt(max(half * half - (vc * vr - cv * cv), 0.0))
    l_max, l_min = half + root, half - root
    if l_max <= 1e-12 * max(1.0, mr * mr + mc * mc):
        return float("nan")  # a single pixel
    return math.sqrt(max(0.0, 1.0 - l_min / l_max))


_RADIAL: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _radial_bins(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ri, scale, k)`` of an ``(n, n)`` spectrum, cached per ``n``: the
    annulus of each frequency of the half spectrum that ``rfft2`` returns
    (integer radius from the centre of the shifted full spectrum, flat;
    ``-1`` where a frequency is not used), cloudmetrics' per-annulus factor
    ``kp / (2 pi Ns)`` and the wavenumbers ``2 pi r / n``, ``r = 1 ..
    n/2``. ``scale`` counts a half-spectrum frequency twice when its mirror
    ``(-ky, -kx)`` is not in the half spectrum, so the annulus sums equal
    those over the full spectrum."""
    got = _RADIAL.get(n)
    if got is None:
        y, x = np.ogrid[0:n, 0:n]
        r = np.fft.ifftshift(np.hypot(x - n // 2, y - n // 2))  # the unshifted order of the FFT
        ri_full = np.rint(r).astype(np.int64)
        nb = n // 2 + 1
        ns = np.bincount(ri_full.ravel(), minlength=nb)[1:nb].astype(np.float64)
        kp = 2 * np.pi / n * np.bincount(ri_full.ravel(), weights=r.ravel(), minlength=nb)[1:nb] / ns
        half = n // 2 + 1  # rfft2's columns 0 .. n // 2
        mult = np.full(half, 2.0)
        mult[0] = 1.0
        if n % 2 == 0:
            mult[-1] = 1.0
        got = _RADIAL[n] = (ri_full[:, :half].ravel(), np.broadcast_to(mult, (n, half)).ravel().copy(),
                            kp / (2 * np.pi * ns), 2 * np.pi / n * np.arange(1, nb))
    return got


def spectra(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(k, E)``: radial wavenumbers ``2 pi r / n`` (rad/px, ``r = 1 ..
    n/2``) and the 1-D radial power spectral density of a square ``(n, n)``
    field (cloudmetrics' ``compute_spectra`` with ``dx=1`` and no window;
    from the half spectrum of a real FFT, each frequency weighted by how
    often it stands for itself and its mirror)."""
    n = field.shape[0]
    ri, mult, scale, k = _radial_bins(n)
    # scipy's pocketfft: the same values as numpy.fft.rfft2 (the same algorithm), ~1.5x faster
    from scipy.fft import rfft2

    f = rfft2(field)
    psd = (f.real ** 2 + f.imag ** 2).ravel() * mult / field.size
    e = np.bincount(ri, weights=psd, minlength=n // 2 + 1)[1:n // 2 + 1] * scale
    return k, e


def spectral_length_px(k: np.ndarray, e: np.ndarray) -> float:
    """``2 pi / k_mean`` (px), ``k_mean = int E k dk / int E dk`` (trapezium rule)."""
    num, den = np.trapezoid(e * k, k), np.trapezoid(e, k)
    if not (den > 0 and num > 0):
        return float("nan")
    return float(2 * np.pi / (num / den))


def _power_law_residuals(p: np.ndarray, k: np.ndarray, e: np.ndarray) -> np.ndarray:
    return p[1] * k ** p[0] - e


def spectral_slope(k: np.ndarray, e: np.ndarray) -> float:
    """Exponent of ``b k^a`` fitted to ``E(k)`` (non-linear least squares
    from ``a = b = 1``, as cloudmetrics' ``curve_fit``: the same MINPACK
    ``lmdif`` call, the same result, without curve_fit's covariance
    estimate, a third of the time); NaN when it does not converge."""
    from scipy.optimize import leastsq

    try:
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            (a, _b), ier = leastsq(_power_law_residuals, (1.0, 1.0), args=(k, e))
    except (RuntimeError, ValueError, TypeError):
        return float("nan")
    if ier not in (1, 2, 3, 4):  # curve_fit's "optimal parameters not found"
        return float("nan")
    return float(a) if math.isfinite(a) else float("nan")


def _swt_energy(field: np.ndarray) -> np.ndarray:
    """Mean squared coefficients ``(levels, 3)`` (horizontal, vertical,
    diagonal), coarsest level first, of the energy-normalised periodic
    stationary Haar transform of a ``(2^L, 2^L)`` field."""
    n = field.shape[0]
    levels = int(math.log2(n))
    a = field.astype(np.float64)
    out = np.empty((levels, 3))
    for j in range(levels):
        s = 2 ** j
        lo0, hi0 = a + np.roll(a, -s, 0), np.roll(a, -s, 0) - a
        h = (np.roll(lo0, -s, 1) - lo0) * 0.25        # low along rows, high along columns
        v = (hi0 + np.roll(hi0, -s, 1)) * 0.25
        d = (np.roll(hi0, -s, 1) - hi0) * 0.25
        out[levels - 1 - j] = (np.mean(h * h), np.mean(v * v), np.mean(d * d))
        a = (lo0 + np.roll(lo0, -s, 1)) * 0.25
    return out


def _pad_pow2(field: np.ndarray) -> np.ndarray:
    size = max(field.shape)
    p = 1 << max(0, (size - 1).bit_length())
    pads = [((p - s) // 2, p - s - (p - s) // 2) for s in field.shape]
    return np.pad(field, pads, mode="wrap") if any(sum(x) for x in pads) else field


def wavelet_indices(field: np.ndarray, separation_px: int = WOI_SEPARATION_PX) -> tuple[float, float, float]:
    """``(woi1, woi2, woi3)`` of a 2-D field (see module); NaN where the
    field has no wavelet energy (constant) or no positive pixel."""
    f = _pad_pow2(np.asarray(field, np.float64))
    spec = _swt_energy(f)
    levels = spec.shape[0]
    n_large = levels - int(math.log2(separation_px)) + 1
    large, small = spec[:max(n_large, 0)], spec[max(n_large, 0):]
    e_all = float(spec.mean(axis=1).sum())
    e_l, e_s = float(large.mean(axis=1).sum()), float(small.mean(axis=1).sum())
    n_pos = int(np.count_nonzero(f > 0))
    if not e_all > 0 or n_pos == 0:
        return float("nan"), float("nan"), float("nan")
    eld, esd = large.sum(axis=0), small.sum(axis=0)
    if e_l == 0:
        woi3 = float(np.sum((esd - e_s) / e_s)) / 3
    elif e_s == 0:
        woi3 = float(np.sum((eld - e_l) / e_l)) / 3
    else:
        woi3 = math.sqrt(float(np.sum(((esd - e_s) / e_s) ** 2 + ((eld - e_l) / e_l) ** 2))) / 3
    return e_l / e_all, (e_l + e_s) / n_pos, woi3
