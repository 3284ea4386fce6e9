"""All tiles' footprints on a field grid at once, as one sparse averaging matrix.

:func:`footprint_matrix` gives, for ``T`` tiles on a regular latitude /
longitude grid, a ``(T, n_lat * n_lon)`` sparse matrix whose row ``t``
holds the cos(latitude) weights of the grid points inside tile ``t``'s
square in its own Lambert azimuthal equal-area projection (the point
nearest the centre where none is inside) -- the same points and weights
as :meth:`convml_tt.data.fields.Environment.footprint` finds one tile at a
time, with the projection evaluated in numpy (:func:`laea_forward`, PROJ's
ellipsoidal oblique ``laea`` formulas, Snyder 1987 eqs. 3-12, 24-2, 24-18
to 24-21) for all tiles and the candidate points of each (a window of
grid points around it) in one array operation. Area means and spreads are
then sparse products (:func:`area_statistics`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["laea_forward", "footprint_matrix", "area_statistics"]


def _qsfn(sinphi: np.ndarray, e: float, one_es: float) -> np.ndarray:
    """Authalic q of ``sinphi`` (PROJ ``pj_qsfn``; Snyder eq. 3-12)."""
    if e < 1e-7:
        return 2.0 * sinphi
    con = e * sinphi
    return one_es * (sinphi / (1.0 - con * con) - (0.5 / e) * np.log((1.0 - con) / (1.0 + con)))


def _setup(lat0: np.ndarray, a: float, b: float) -> tuple:
    """Constants of the projections centred at ``lat0`` (degrees): ``(e, 1 - e^2, qp,
    sin beta1, cos beta1, xmf, ymf)`` (PROJ's ``laea`` setup, oblique aspect)."""
    es = 1.0 - (b / a) ** 2
    e, one_es = np.sqrt(es), 1.0 - es
    qp = _qsfn(np.float64(1.0), e, one_es)
    rq = np.sqrt(0.5 * qp)
    phi0 = np.deg2rad(lat0)
    sinph0 = np.sin(phi0)
    sinb1 = _qsfn(sinph0, e, one_es) / qp
    cosb1 = np.sqrt(1.0 - sinb1 * sinb1)
    dd = np.cos(phi0) / (np.sqrt(1.0 - es * sinph0 * sinph0) * rq * cosb1)
    return e, one_es, qp, sinb1, cosb1, rq * dd, rq / dd


def _authalic(lat: np.ndarray, e: float, one_es: float, qp: float) -> tuple[np.ndarray, np.ndarray]:
    """``(sin, cos)`` of the authalic latitude of ``lat`` (degrees)."""
    sinb = _qsfn(np.sin(np.deg2rad(lat)), e, one_es) / qp
    return sinb, np.sqrt(np.maximum(1.0 - sinb * sinb, 0.0))


def _xy(sinb, cosb, sinlam, coslam, sinb1, cosb1, xmf, ymf, a):
    """Projected metres of the authalic latitudes and longitude differences (broadcast)."""
    k = np.sqrt(2.0 / (1.0 + sinb1 * sinb + cosb1 * cosb * coslam))
    return a * xmf * k * cosb * sinlam, a * ymf * k * (cosb1 * sinb - sinb1 * cosb * coslam)


def laea_forward(lat: np.ndarray, lon: np.ndarray, lat0: np.ndarray, lon0: np.ndarray, a: float,
                 b: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` metres of ``lat``, ``lon`` (degrees) in the oblique Lambert
    azimuthal equal-area projections centred at ``lat0``, ``lon0`` (degrees;
    broadcast against ``lat``) on the ellipsoid ``a``, ``b`` (m): what
    ``+proj=laea +lat_0 +lon_0 +a +b`` gives (to well under a millimetre)."""
    e, one_es, qp, sinb1, cosb1, xmf, ymf = _setup(lat0, a, b)
    lam = np.deg2rad((np.asarray(lon, float) - lon0 + 180.0) % 360.0 - 180.0)
    sinb, cosb = _authalic(lat, e, one_es, qp)
    return _xy(sinb, cosb, np.sin(lam), np.cos(lam), sinb1, cosb1, xmf, ymf, a)


def footprint_matrix(lat: np.ndarray, lon: np.ndarray, tiles: Sequence) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(W, off)``: ``W`` the ``(T, n_lat * n_lon)`` CSR matrix of each tile's
    footprint weights (cos(latitude), not normalised) on the grid of
    ascending ``lat`` and ``lon`` (degrees, [-180, 180), regular steps),
    ``off`` ``(T,)`` True for a tile off the grid (an empty row).

    Candidates: the points within the tile's half diagonal (1 % margin) plus
    one grid step in latitude and in longitude (at the far latitude), as the
    per-tile footprint looks for them; of those, the ones inside the square
    ``|x|, |y| <= size / 2``; a tile with candidates but none inside gets
    its candidate nearest the centre in latitude and in longitude."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    ny, nx = lat.size, lon.size
    n = len(tiles)
    if n == 0:
        return sp.csr_matrix((0, ny * nx)), np.zeros(0, bool)
    dlat = float(np.median(np.abs(np.diff(lat)))) if ny > 1 else 1.0
    dlon = float(np.median(np.abs(np.diff(lon)))) if nx > 1 else 1.0
    lat0 = np.array([t.lat0 for t in tiles], float)
    lon0 = np.array([t.lon0 for t in tiles], float)
    size = np.array([t.size for t in tiles], float)
    a, b = float(tiles[0].a), float(tiles[0].b)
    reach = 1.01 * size / np.sqrt(2.0) / 110.5e3
    far = np.minimum(89.9, np.abs(lat0) + reach)
    wide = reach * 110.5e3 / (111.32e3 * np.cos(np.deg2rad(far)))
    global_lon = nx * dlon >= 360.0 - 1e-6
    wide = np.where(wide < 180.0, wide, 180.0)
    ky = int(np.ceil((reach + dlat).max() / dlat)) + 1
    kx = min(int(np.ceil((wide + dlon).max() / dlon)) + 1, nx // 2 + 1 if global_lon else nx)
    # window of candidate indices around each tile's centre: (T, 2ky+1) rows, (T, 2kx+1) columns
    cy = np.rint((lat0 - lat[0]) / dlat).astype(np.int64)
    east = (lon0 - lon[0]) % 360.0 if global_lon else (lon0 - lon[0] + 180.0) % 360.0 - 180.0
    cx = np.rint(east / dlon).astype(np.int64)
    iy = cy[:, None] + np.arange(-ky, ky + 1)
    ix = cx[:, None] + np.arange(-kx, kx + 1)
    ok_y = (iy >= 0) & (iy < ny)
    iy = np.clip(iy, 0, ny - 1)
    if global_lon:
        ix, ok_x = ix % nx, np.ones(ix.shape, bool)
    else:
        ok_x = (ix >= 0) & (ix < nx)
        ix = np.clip(ix, 0, nx - 1)
    glat = lat[iy]
    glon = (lon[ix] - lon0[:, None] + 180.0) % 360.0 - 180.0
    ok_y &= np.abs(glat - lat0[:, None]) <= (reach + dlat)[:, None]
    ok_x &= np.abs(glon) <= np.where(wide < 180.0, wide + dlon, 400.0)[:, None]
    if global_lon:  # a window wider than the grid would count a column twice
        first = np.zeros(ix.shape, bool)
        order = np.argsort(ix, axis=1, kind="stable")
        s = np.take_along_axis(ix, order, 1)
        dup = np.zeros(ix.shape, bool)
        dup[:, 1:] = s[:, 1:] == s[:, :-1]
        np.put_along_axis(first, order, ~dup, 1)
        ok_x &= first
    off = ~ok_y.any(axis=1) | ~ok_x.any(axis=1)
    # only the window points within the half diagonal in latitude and longitude can be inside;
    # the projection is separable: authalic latitude per window row, longitude per window column
    near = ((np.abs(glat - lat0[:, None]) <= reach[:, None]) & ok_y)[:, :, None] & \
        ((np.abs(glon) <= np.where(wide < 180.0, wide, 400.0)[:, None]) & ok_x)[:, None, :]
    flat = np.flatnonzero(near)
    tt, rest = np.divmod(flat, near.shape[1] * near.shape[2])
    jy, jx = np.divmod(rest, near.shape[2])
    e, one_es, qp, sinb1, cosb1, xmf, ymf = _setup(lat0, a, b)
    sinb, cosb = _authalic(lat, e, one_es, qp)
    lam = np.deg2rad(glon[tt, jx])
    gy = iy[tt, jy]
    u, v = _xy(sinb[gy], cosb[gy], np.sin(lam), np.cos(lam), sinb1[tt], cosb1[tt], xmf[tt], ymf[tt], a)
    h = size[tt] / 2
    keep = (np.abs(u) <= h) & (np.abs(v) <= h)
    rows, gy, gx = tt[keep], gy[keep], ix[tt[keep], jx[keep]]
    empty = (np.bincount(rows, minlength=n) == 0) & ~off
    if empty.any():  # nearest candidate row and column to the centre
        t = np.flatnonzero(empty)
        ry = np.argmin(np.where(ok_y[t], np.abs(glat[t] - lat0[t, None]), np.inf), axis=1)
        rx = np.argmin(np.where(ok_x[t], np.abs(glon[t]), np.inf), axis=1)
        rows, gy, gx = np.concatenate([rows, t]), np.concatenate([gy, iy[t, ry]]), np.concatenate([gx, ix[t, rx]])
    cols = gy * nx + gx
    w = np.cos(np.deg2rad(lat[gy]))
    return sp.csr_matrix((w, (rows, cols)), shape=(n, ny * nx)), off


def area_statistics(W: sp.csr_matrix, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, std, n)`` ``(T,)`` of the flat grid ``values`` under each row's
    weights, NaN points left out: the weighted mean, the weighted (population)
    standard deviation (NaN for fewer than two valid points) and the number
    of valid points."""
    values = np.asarray(values, float).ravel()
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    at = values[W.indices]
    good = np.isfinite(at)
    if good.all():
        wv, cnt = W.data, np.diff(W.indptr)
    else:
        wv, at = np.where(good, W.data, 0.0), np.where(good, at, 0.0)
        cnt = np.bincount(rows, good, minlength=W.shape[0]).astype(np.int64)
    sw = np.bincount(rows, wv, minlength=W.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(rows, wv * at, minlength=W.shape[0]) / sw
        dev = at - mean[rows]
        std = np.sqrt(np.bincount(rows, wv * dev * dev, minlength=W.shape[0]) / sw)
    return np.where(cnt > 0, mean, np.nan), np.where(cnt > 1, std, np.nan), cnt
