"""Scene-adaptive cloud-mask thresholds (numpy only).

A fixed threshold acts differently on every scene: over land the visible
C01 threshold of 0.16 sits inside the clear-land reflectance peak (median
0.156 on the real GOES-17 scan of 2019-10-27 20:00 UTC, where it calls 48 %
of the clear land cloud), and a window brightness-temperature threshold
set 3.5 K below the clear ocean of one region counts only the thickest
clouds where the surface is warmer. So each scene (one composite, the
whole domain) gets its own thresholds, one over the ocean and one over land
(:mod:`convml_tt.data.surface`), from the histogram of its recipe's
cloud-mask plane, by the recipe's method (``CloudMask.adaptive``,
:func:`method_of`):

``clear_mode`` (the default)
    find the clear-sky peak and put the threshold beyond it. The peak is the
    mode of the clear half of the surface's pixels (the darker half for
    reflectance, the warmer half for brightness temperature; a histogram of
    :data:`MODE_BINS` bins smoothed over three), its spread ``sigma`` the
    root-mean-square distance from the mode of the pixels on its clear side
    (which cloud does not reach). Reflectance: ``mode + 3 sigma``, never
    below the recipe's fixed threshold; over the ocean, a peak above the
    fixed threshold is cloud (the scene has no clear ocean to find) and the
    fixed threshold is used. Brightness temperature: ``mode - max(3.5 K, 3
    sigma)`` (3.5 K: the margin of the fixed window thresholds).
    On the real scan (2 km): ocean 0.16 (clear mode 0.125, sigma 0.009:
    the fixed bound), land 0.209 (mode 0.156, sigma 0.020); clear land
    (C13 > 290 K) then has a cloud fraction of 0.048 instead of 0.488.
    C13: ocean 285.6 K, land 287.8 K. This needs clear sky to make up about half of a
    surface's pixels or more; for a scene that is mostly cloud, set the
    threshold (``--cloud-threshold``).
``fixed``
    the recipe's threshold (the absorbing bands' high-cloud-only masks).

A tile (or map cell) uses the land threshold when at least half of it is
land (``land_fraction >= 0.5``), else the ocean one.

``--cloud-threshold VALUE`` fixes the threshold for every scene instead; it
must lie in the range of the recipe's mask units (:data:`THRESHOLD_RANGES`:
reflectance factor 0-1.5, brightness temperature 150-350 K) and is refused
with that range otherwise. The threshold used for each scene is recorded
(``cloud_thresholds`` in a triplet dataset's ``meta.yaml``, per composite;
``cloud_threshold`` / ``cloud_threshold_land`` variables of maps, per scene).
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["MODE_BINS", "K_SIGMA", "CLEAR_MARGIN_K", "MIN_SURFACE_PIXELS", "THRESHOLD_RANGES", "METHODS",
           "method_of", "check_threshold", "clear_mode", "scene_threshold", "composite_threshold",
           "tile_threshold", "dataset_thresholds"]

#: histogram bins of the clear half of a scene's values
MODE_BINS = 200
#: the threshold lies this many spreads of the clear-sky peak beyond its mode
K_SIGMA = 3.0
#: the clear-sky peak is sought in this darkest (warmest) share of a scene's values
CLEAR_QUANTILE = 0.5
#: least distance (K) of a brightness-temperature threshold from the clear-sky mode
CLEAR_MARGIN_K = 3.5
#: least pixels of a surface (land, ocean) for its own clear-sky peak
MIN_SURFACE_PIXELS = 500
#: accepted thresholds per mask-plane units (exclusive bounds)
THRESHOLD_RANGES = {"1": (0.0, 1.5), "K": (150.0, 350.0)}
METHODS = ("clear_mode", "fixed")


def _recipe(recipe):
    from .composites.recipes import get_recipe

    r = get_recipe(recipe)
    if r.cloud_mask is None:
        raise ValueError(f"recipe {r.name!r} has no cloud mask, so it has no cloud threshold")
    return r


def _units(r) -> str:
    from .composites.recipes import channel_units

    return channel_units(r)[r.plane_index(r.cloud_mask.plane)]


def method_of(recipe) -> str:
    """How the scenes of ``recipe`` get their threshold (:data:`METHODS`)."""
    cm = _recipe(recipe).cloud_mask
    return cm.adaptive or "clear_mode"


def check_threshold(value: Any, recipe) -> float:
    """``value`` as a float if it is a threshold in the units of
    ``recipe``'s mask plane (:data:`THRESHOLD_RANGES`), else a one-line
    ``ValueError`` naming the range."""
    r = _recipe(recipe)
    units = _units(r)
    lo, hi = THRESHOLD_RANGES.get(units, (-math.inf, math.inf))
    what = "brightness temperature in K" if units == "K" else f"in units {units!r}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)) or \
            not (lo < float(value) < hi):
        raise ValueError(f"cloud threshold {value!r} is not a {r.name} cloud-mask threshold: it must be "
                         f"{'a reflectance factor' if units == '1' else what} between {lo:g} and {hi:g}")
    return float(value)


def clear_mode(values: np.ndarray, cloud_above: bool) -> tuple[float, float]:
    """``(mode, sigma)`` of the clear-sky peak of the finite ``values``:
    the mode of the clearest :data:`CLEAR_QUANTILE` of the values (the
    darkest quarter when cloud is ``above``, the warmest for brightness
    temperatures), from a
    histogram of :data:`MODE_BINS` bins smoothed over three, and the spread
    of the peak's clear side (root-mean-square distance from the mode of the
    values beyond it, which cloud does not reach). ``(nan, nan)`` without
    finite values."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    q = np.quantile(v, CLEAR_QUANTILE if cloud_above else 1 - CLEAR_QUANTILE)
    half = v[v <= q] if cloud_above else v[v >= q]
    lo, hi = float(half.min()), float(half.max())
    if not hi > lo:
        return lo, 0.0
    hist, edges = np.histogram(half, MODE_BINS, (lo, hi))
    k = int(np.argmax(np.convolve(hist, np.ones(3) / 3, mode="same")))
    mode = float(0.5 * (edges[k] + edges[k + 1]))
    side = v[v < mode] if cloud_above else v[v > mode]
    sigma = float(np.sqrt(np.mean((side - mode) ** 2))) if side.size else 0.0
    return mode, sigma


def _clear_mode_threshold(plane: np.ndarray, cm, fixed: float, ocean: bool = True) -> tuple[float, str]:
    above = cm.above is not None
    mode, sigma = clear_mode(plane, above)
    if not math.isfinite(mode):
        return fixed, "no valid pixel: the recipe's fixed threshold"
    if above and ocean and mode > fixed:
        return fixed, f"the peak at {mode:.4g} is above the fixed {fixed:g}: cloud, no clear ocean peak; fixed"
    if above:
        t = max(fixed, mode + K_SIGMA * sigma)
        return t, f"clear mode {mode:.4g} + {K_SIGMA:g} x {sigma:.3g}, at least the fixed {fixed:g}"
    t = mode - max(CLEAR_MARGIN_K, K_SIGMA * sigma)
    return t, f"clear mode {mode:.1f} K - max({CLEAR_MARGIN_K:g} K, {K_SIGMA:g} x {sigma:.2f} K)"


def scene_threshold(plane: np.ndarray, recipe, threshold: float | None = None,
                    land: np.ndarray | None = None) -> dict[str, Any]:
    """The thresholds of one scene from its mask-plane values ``plane``
    (any shape, NaN: no data) by the recipe's method (see the module):
    ``{"threshold": float, "threshold_land": float | None, "method": str,
    "detail": str}`` in the mask plane's units. ``land`` (bool, the shape of
    ``plane``, True = land): the clear-sky peak is found separately over
    ocean (``threshold``) and over land (``threshold_land``, None when the
    scene has fewer than :data:`MIN_SURFACE_PIXELS` land pixels); without
    it, one threshold for all pixels. ``threshold``: a fixed
    ``--cloud-threshold`` instead (checked; method ``"given"``)."""
    r = _recipe(recipe)
    cm = r.cloud_mask
    fixed = float(cm.above if cm.above is not None else cm.below)
    if threshold is not None:
        t = check_threshold(threshold, r)
        return {"threshold": t, "threshold_land": t, "method": "given", "detail": "--cloud-threshold"}
    method = method_of(r)
    if method == "fixed":
        return {"threshold": fixed, "threshold_land": fixed, "method": "fixed",
                "detail": "the recipe's fixed threshold"}
    if method != "clear_mode":
        raise ValueError(f"recipe {r.name!r}: unknown adaptive threshold method {method!r}; use one of {METHODS}")
    plane = np.asarray(plane)
    if land is None:
        t, detail = _clear_mode_threshold(plane, cm, fixed)
        return {"threshold": t, "threshold_land": t, "method": method, "detail": detail}
    land = np.asarray(land, bool)
    ocean = ~land & np.isfinite(plane)
    on_land = land & np.isfinite(plane)
    t, detail = _clear_mode_threshold(plane[ocean], cm, fixed) if ocean.sum() >= MIN_SURFACE_PIXELS else (
        _clear_mode_threshold(plane, cm, fixed))
    out = {"threshold": t, "threshold_land": None, "method": method, "detail": "ocean: " + detail}
    if on_land.sum() >= MIN_SURFACE_PIXELS:
        tl, dl = _clear_mode_threshold(plane[on_land], cm, fixed, ocean=False)
        out.update(threshold_land=tl, detail=out["detail"] + "; land: " + dl)
    return out


def composite_threshold(path: str, recipe, threshold: float | None = None) -> dict[str, Any]:
    """:func:`scene_threshold` of the composite file ``path``: its mask
    plane over the whole domain, ocean and land apart (its ``lat``/``lon``
    and :func:`convml_tt.data.surface.land_mask`)."""
    r = _recipe(recipe)
    if threshold is not None or method_of(r) == "fixed":
        return scene_threshold(np.zeros(0), r, threshold)
    from .composites.reader import open_composite
    from .surface import land_mask

    reader = open_composite(str(path))
    k = r.plane_index(r.cloud_mask.plane)
    v = reader.var
    # every 2nd pixel is plenty for a histogram and halves the cost
    plane = np.asarray(_every_second(v, k if len(v.shape) == 3 else None), np.float32)
    plane = np.where(plane > 1e30, np.nan, plane)  # unmasked fill values are no data
    if reader.channel_units[k] == "K":  # e.g. BT in degrees Celsius: refused here, as tiles would be
        from .composites.enhance import check_kelvin

        check_kelvin(plane, f"composite {reader.path!r}")
    land = None
    if "lat" in reader.nc.variables and "lon" in reader.nc.variables:
        lat = np.asarray(_every_second(reader.nc["lat"]), np.float64)
        lon = np.asarray(_every_second(reader.nc["lon"]), np.float64)
        if lat.shape == plane.shape:
            land = land_mask(np.where(np.abs(lat) <= 90, lat, np.nan), lon)
    return scene_threshold(plane, r, land=land)


def _every_second(var, k: int | None = None, block_rows: int = 512) -> np.ndarray:
    """``var[::2, ::2]`` (or ``var[::2, ::2, k]``) of a netCDF variable, the
    same values, read as whole rows in blocks of ``block_rows`` and thinned
    in memory: HDF5's strided reads are ~6x slower than reading every pixel."""
    h = var.shape[0]
    parts = [np.asarray(var[r:r + block_rows] if k is None else var[r:r + block_rows, :, k])[::2, ::2]
             for r in range(0, h, block_rows)]
    return np.concatenate(parts) if parts else np.asarray(var[::2, ::2] if k is None else var[::2, ::2, k])


def tile_threshold(thresholds: dict[str, Any] | None, land_fraction: float) -> float | None:
    """The threshold of one tile from its scene's :func:`scene_threshold`
    (None: the recipe's fixed one) and its land fraction: the land threshold
    when at least half the tile is land, else the ocean one."""
    if not thresholds:
        return None
    if thresholds.get("threshold_land") is not None and land_fraction >= 0.5:
        return float(thresholds["threshold_land"])
    return float(thresholds["threshold"])


def dataset_thresholds(paths, recipe, threshold: float | None = None) -> dict[str, dict[str, Any]]:
    """``{path: thresholds}`` of the composites ``paths`` (:func:`composite_threshold`,
    values rounded for YAML); empty when ``recipe`` has no cloud mask."""
    from .composites.recipes import get_recipe

    if get_recipe(recipe).cloud_mask is None:
        return {}
    out = {}
    for p in paths:
        got = composite_threshold(p, recipe, threshold)
        out[p] = {k: (None if v is None else float(f"{v:.6g}")) if k.startswith("threshold") else v
                  for k, v in got.items()}
    return out
