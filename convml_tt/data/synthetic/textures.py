"""Random cloud textures: spectrally shaped noise and Voronoi fields.

:class:`_Texturer` draws zero-mean, unit-variance random fields on a pixel
grid: isotropic band-pass noise (a log-normal spectral peak), anisotropic
Gaussian-filtered noise (bands and streets), smooth warps and
jittered-lattice Voronoi ("Worley") distance fields, all through FFTs.
Smooth fields are drawn on decimated grids and upsampled bilinearly.
:func:`_texture` combines them into the field of one regime (cloud is where
it exceeds its regime's cloud-fraction quantile). :func:`_hash_uniform`
gives deterministic uniform numbers of integer lattice indices.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft

from .regimes import REGIMES


def _hash_uniform(i: np.ndarray, j: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers of integer lattice indices
    (splitmix64 finaliser of a combined key)."""
    with np.errstate(over="ignore"):
        z = (
            np.asarray(i, np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ np.asarray(j, np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64((seed * 0x165667B19E3779F9 + salt * 0x27D4EB2F165667C5) % 2**64)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


class _Texturer:
    """Random fields on a pixel grid of ``shape`` with ground spacing
    ``(dy_km, dx_km)``; every field has zero mean and unit variance.

    Smooth fields are drawn on a grid ``dec`` times coarser (at least ~8
    coarse pixels per wavelength) and upsampled bilinearly, which is much
    faster and indistinguishable at those scales."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], dy_km: float, dx_km: float):
        self.rng = rng
        self.shape = shape
        self.dy, self.dx = dy_km, dx_km
        self._freq: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _dec_for(self, scale_km: float) -> int:
        """Largest decimation (1-8, dividing the grid) keeping >= 8 pixels per ``scale_km``."""
        for dec in (8, 4, 2):
            if self.shape[0] % dec == 0 and self.shape[1] % dec == 0 and \
                    dec * max(self.dx, self.dy) * 8 <= scale_km:
                return dec
        return 1

    def freqs(self, dec: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ky, kx)`` in cycles/km of the rfft2 of the grid decimated by ``dec``."""
        if dec not in self._freq:
            ny, nx = self.shape[0] // dec, self.shape[1] // dec
            ky = sfft.fftfreq(ny, d=self.dy * dec).astype(np.float32)[:, None]
            kx = sfft.rfftfreq(nx, d=self.dx * dec).astype(np.float32)[None, :]
            self._freq[dec] = (ky, kx)
        return self._freq[dec]

    def _filtered(self, filt: np.ndarray, dec: int, upsample: bool = True) -> np.ndarray:
        shape = (self.shape[0] // dec, self.shape[1] // dec)
        w = self.rng.standard_normal(shape, dtype=np.float32)
        f = sfft.irfft2(sfft.rfft2(w, workers=1) * filt, s=shape, workers=1).astype(np.float32, copy=False)
        if upsample:
            f = _upsample(f, dec)
        f -= f.mean()
        sd = f.std()
        return f / sd if sd > 0 else f

    def bandpass(self, wavelength_km: float, width: float = 0.5, dec: int | None = None,
                 upsample: bool = True) -> np.ndarray:
        """Isotropic noise with a log-normal spectral peak at ``wavelength_km``
        (``width``: spread of ln(k))."""
        dec = self._dec_for(wavelength_km * math.exp(-2 * width)) if dec is None else dec
        ky, kx = self.freqs(dec)
        k = np.sqrt(kx**2 + ky**2)
        with np.errstate(divide="ignore"):
            lk = np.log(np.maximum(k, 1e-9) * wavelength_km)
        filt = np.exp(-0.5 * (lk / width) ** 2).astype(np.float32)
        filt[0, 0] = 0
        return self._filtered(filt, dec, upsample)

    def anisotropic(self, along_km: float, across_km: float, angle_deg: float,
                    dec: int | None = None, upsample: bool = True) -> np.ndarray:
        """Gaussian-filtered noise with correlation lengths ``along_km`` along
        the direction ``angle_deg`` (counter-clockwise from east) and
        ``across_km`` across it; scales much larger than ``across_km`` across
        the bands are damped, so bands are separated by clear lanes."""
        dec = self._dec_for(across_km * 2) if dec is None else dec
        ky, kx = self.freqs(dec)
        a = math.radians(angle_deg)
        ka = kx * math.cos(a) - ky * math.sin(a)  # row index grows southwards
        kc = kx * math.sin(a) + ky * math.cos(a)
        filt = np.exp(-2 * np.pi**2 * ((ka * along_km) ** 2 + (kc * across_km) ** 2))
        k = np.sqrt(ka**2 + kc**2)
        filt *= 1 - np.exp(-((k * 1.5 * across_km) ** 2))
        return self._filtered(filt.astype(np.float32), dec, upsample)

    def warp(self, f: np.ndarray, amp_km: float, wavelength_km: float) -> np.ndarray:
        """``f`` (on the grid decimated by ``self.shape / f.shape``) resampled
        at positions displaced by smooth random offsets of ~``amp_km``."""
        from scipy.ndimage import map_coordinates

        dec = self.shape[0] // f.shape[0]
        dy = self.bandpass(wavelength_km, 0.5, dec=dec, upsample=False) * (amp_km / (self.dy * dec))
        dx = self.bandpass(wavelength_km, 0.5, dec=dec, upsample=False) * (amp_km / (self.dx * dec))
        rows, cols = np.indices(f.shape, dtype=np.float32)
        return map_coordinates(f, [rows + dy, cols + dx], order=1, mode="mirror").astype(np.float32)

    def worley(self, cell_km: float, coarse: int = 1):
        """Jittered-lattice Voronoi fields: distance to the nearest (``f1``)
        and second nearest (``f2``) point (km), the unit vector to the nearest
        point and a uniform random number per nearest point (``u``).

        Computed on a grid ``coarse`` times coarser than the texturer's and
        returned on it (callers upsample)."""
        ny, nx = self.shape[0] // coarse, self.shape[1] // coarse
        dy, dx = self.dy * coarse, self.dx * coarse
        Y = (np.arange(ny, dtype=np.float32) + 0.5) * dy
        X = (np.arange(nx, dtype=np.float32) + 0.5) * dx
        mx = int(nx * dx / cell_km) + 3
        my = int(ny * dy / cell_km) + 3
        jit = self.rng.uniform(0.1, 0.9, size=(2, my, mx)).astype(np.float32)
        uval = self.rng.uniform(0, 1, size=(my, mx)).astype(np.float32)
        ci = np.floor(X / cell_km).astype(np.int64)[None, :] + 1  # +1: padding
        cj = np.floor(Y / cell_km).astype(np.int64)[:, None] + 1
        tab_x = ((np.arange(mx)[None, :] - 1 + jit[0]) * cell_km).astype(np.float32).ravel()
        tab_y = ((np.arange(my)[:, None] - 1 + jit[1]) * cell_km).astype(np.float32).ravel()
        base = cj * mx + ci
        d1 = np.full((ny, nx), np.inf, np.float32)
        d2 = np.full((ny, nx), np.inf, np.float32)
        best = np.zeros((ny, nx), np.int64)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                idx = base + (dj * mx + di)
                ddx = tab_x.take(idx) - X[None, :]
                ddy = tab_y.take(idx) - Y[:, None]
                d = ddx * ddx + ddy * ddy
                closer = d < d1
                np.minimum(d2, np.where(closer, d1, d), out=d2)
                np.copyto(d1, d, where=closer)
                np.copyto(best, idx, where=closer)
        ux = tab_x.take(best) - X[None, :]
        uy = tab_y.take(best) - Y[:, None]
        return np.sqrt(d1), np.sqrt(d2), ux, uy, uval.ravel().take(best)


def _upsample(a: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upsampling of a pixel-centred field by 1, 2 or 4."""
    while factor > 1:
        b = np.empty((a.shape[0] * 2, a.shape[1]), a.dtype)
        prev = np.concatenate([a[:1], a[:-1]], 0)
        nxt = np.concatenate([a[1:], a[-1:]], 0)
        b[0::2] = 0.75 * a + 0.25 * prev
        b[1::2] = 0.75 * a + 0.25 * nxt
        c = np.empty((b.shape[0], b.shape[1] * 2), a.dtype)
        prev = np.concatenate([b[:, :1], b[:, :-1]], 1)
        nxt = np.concatenate([b[:, 1:], b[:, -1:]], 1)
        c[:, 0::2] = 0.75 * b + 0.25 * prev
        c[:, 1::2] = 0.75 * b + 0.25 * nxt
        a = c
        factor //= 2
    return a


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return a
    ny, nx = a.shape
    return a.reshape(ny // factor, factor, nx // factor, factor).mean(axis=(1, 3), dtype=np.float32)


def _shade(excess: np.ndarray, rmin: float, rmax: float, scale: float) -> np.ndarray:
    """Cloud reflectance from a field's excess over its cloud threshold."""
    return (rmin + (rmax - rmin) * (1.0 - np.exp(-np.maximum(excess, 0) / scale))).astype(np.float32)


def _texture(
    name: str, tx: _Texturer, coarse: int, fine: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(field, brightness)`` of one regime on the texturer's grid; ``fine``
    holds shared small-scale fields (``"a"``: ~3 km, ``"b"``: ~2.5 km).

    Cloud is where ``field`` exceeds its regime's cloud-fraction quantile;
    ``brightness`` (or None) multiplies the cloud reflectance."""
    if name == "clear":
        # a few isolated small cumuli where a broad field is high
        f = fine["a"] + 1.2 * tx.bandpass(80.0, 0.5)
        return f, None
    if name == "sugar":
        # small dim cumuli, evenly spread, in faint streets along the wind
        f = fine["a"] + 0.3 * tx.anisotropic(30.0, 4.0, 10.0) + 0.3 * tx.bandpass(40.0, 0.5)
        return f, None
    if name == "gravel":
        # clumps of cumulus on arcs at the edges of 15-40 km cold pools
        cell = 30.0
        f1, f2, ux, uy, u = tx.worley(cell, coarse)
        radius = cell * (0.22 + 0.3 * u)
        width = 1.5 + 1.5 * u
        ring = np.exp(-(((f1 - radius) / width) ** 2))
        # each pool's arc spans part of its rim (ahead of the gust front)
        ang = np.arctan2(uy, ux) + 2 * np.pi * 3.0 * u
        arc = np.clip(0.2 + np.cos(ang), 0, 1)
        edge = np.exp(-(((f2 - f1) / 2.5) ** 2))
        macro = _upsample((1.5 * ring * arc + 0.7 * edge).astype(np.float32), coarse)
        f = macro + 0.9 * fine["a"]
        bright = 1.0 + 0.3 * fine["b"]
        return f, bright
    if name == "flowers":
        # large, rounded, regularly spaced patches with wide clear gaps
        f = tx.bandpass(90.0, 0.25) + 0.10 * tx.bandpass(10.0, 0.5) + 0.06 * fine["a"]
        bright = 1.0 + 0.18 * tx.bandpass(8.0, 0.5) + 0.1 * fine["b"]
        return f, bright
    if name == "fish":
        # long, curved, skeletal bands with ragged edges and ribs
        angle = 15.0 + 30.0 * (tx.rng.uniform() - 0.5)
        dec = tx._dec_for(24.0)
        band = tx.anisotropic(220.0, 16.0, angle, dec=dec, upsample=False)
        band = band + 0.25 * tx.bandpass(400.0, 0.5, dec=dec, upsample=False)
        band = _upsample(tx.warp(band, 25.0, 250.0), dec)
        ribs = tx.anisotropic(4.0, 25.0, angle)
        f = band + 0.25 * ribs + 0.25 * fine["a"]
        bright = 1.0 + 0.2 * tx.bandpass(10.0, 0.5) + 0.1 * fine["b"]
        return f, bright
    if name == "stratocumulus":
        # closed cells: bright 15-30 km cells with darker rims, a few rifts
        f1, f2, ux, uy, u = tx.worley(18.0, coarse)
        small = coarse * max(1, tx._dec_for(40.0) // coarse)
        rimdist = (f2 - f1) + 2.0 * _upsample(tx.bandpass(20.0, 0.5, dec=small, upsample=False), small // coarse)
        rim = np.exp(-((rimdist / 3.0) ** 2))
        macro = _upsample((1.0 - 0.8 * rim + 0.25 * u).astype(np.float32), coarse)
        f = macro + 0.45 * tx.bandpass(150.0, 0.5) + 0.15 * fine["a"]
        bright = (1.0 + 0.15 * tx.bandpass(50.0, 0.5) + 0.08 * fine["b"]) * \
            _upsample((1.0 - 0.35 * rim + 0.15 * (u - 0.5)).astype(np.float32), coarse)
        return f, bright
    raise ValueError(f"unknown regime {name!r}: expected one of {REGIMES}")
