"""Cloud masks of composite tiles, per recipe (numpy only).

Each recipe's :class:`~convml_tt.data.composites.recipes.CloudMask` names a
plane and a threshold (``above`` for reflectance, ``below`` for brightness
temperature). :func:`cloud_mask` applies it to a tile's *physical* values,
at the recipe's fixed threshold or at a scene's own
(:mod:`convml_tt.data.cloud_threshold`); :func:`cloud_signal` is how far each
pixel is on the cloudy side of it, the field of the spectral and wavelet
indices; :func:`tile_indices` gives the organisation indices
(:func:`convml_tt.data.organisation.indices`) of a tile.
"""
from __future__ import annotations

import numpy as np

__all__ = ["cloud_mask", "cloud_signal", "tile_indices"]


def _recipe(recipe):
    from .composites.recipes import get_recipe

    r = get_recipe(recipe)
    if r.cloud_mask is None:
        raise ValueError(f"recipe {r.name!r} has no cloud mask (Recipe.cloud_mask is None), so its "
                         f"organisation indices are not defined; use a recipe with one, e.g. 'truecolor' or 'C13'")
    return r


def _mask_plane(values, r) -> np.ndarray:
    """The recipe ``r``'s cloud-mask plane of a tile's values (checked)."""
    cm = r.cloud_mask
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"values must be numbers (reflectance or brightness temperature), got dtype {arr.dtype}")
    if arr.ndim == 3:
        if arr.shape[2] != r.n_planes:
            raise ValueError(f"values of shape {arr.shape} must have {r.n_planes} plane(s) last, "
                             f"(H, W, {r.n_planes}), for recipe {r.name!r}")
        plane = arr[:, :, r.plane_index(cm.plane)]
    elif arr.ndim == 2:
        if r.n_planes != 1:
            raise ValueError(f"values of shape {arr.shape} must be (H, W, {r.n_planes}) for the "
                             f"{r.n_planes}-plane recipe {r.name!r}")
        plane = arr
    else:
        raise ValueError(f"values must be a tile of shape (H, W) or (H, W, C), got shape {arr.shape}")
    if plane.size == 0:
        raise ValueError(f"values must hold at least one pixel, got shape {arr.shape}")
    from .composites.recipes import channel_units

    if channel_units(r)[r.plane_index(cm.plane)] == "K":  # a threshold in K on values in other units is wrong
        from .composites.enhance import check_kelvin

        check_kelvin(plane, f"the {r.name} cloud-mask plane")
    return plane


def _threshold(r, threshold) -> float:
    from .cloud_threshold import check_threshold

    cm = r.cloud_mask
    fixed = cm.above if cm.above is not None else cm.below
    return float(fixed) if threshold is None else check_threshold(threshold, r)


def cloud_signal(values, recipe, threshold: float | None = None) -> np.ndarray:
    """How far each pixel of a tile is on the cloudy side of the threshold:
    ``max(0, value - threshold)`` for a mask ``above`` (reflectance),
    ``max(0, threshold - value)`` for a mask ``below`` (brightness
    temperature, K); 0 for clear pixels and NaN (float64 ``(H, W)``, the
    recipe's units). The field of the spectral and wavelet indices: like the
    liquid water path that cloudmetrics' authors use, it is zero outside
    the cloud and grows with the cloud's optical depth (or height)."""
    r = _recipe(recipe)
    plane = np.asarray(_mask_plane(values, r), np.float64)
    t = _threshold(r, threshold)
    excess = plane - t if r.cloud_mask.above is not None else t - plane
    return np.where(excess > 0, excess, 0.0)  # NaN > 0 is False


def cloud_mask(values, recipe, threshold: float | None = None) -> np.ndarray:
    """Cloud mask of a tile from its physical values.

    Parameters
    ----------
    values:
        the tile's values: ``(H, W)`` for a one-plane recipe, or
        ``(H, W, C)`` with ``C`` the recipe's number of planes (reflectance
        factor, or brightness temperature in K); NaN means no data and is
        never cloud.
    recipe:
        a registered recipe name (e.g. ``"truecolor"``, ``"C13"``) or a
        :class:`~convml_tt.data.composites.recipes.Recipe` with a
        ``cloud_mask``.
    threshold:
        the threshold in the recipe's units (a scene's adaptive threshold,
        :func:`convml_tt.data.cloud_threshold.scene_threshold`, or a fixed
        ``--cloud-threshold``); default: the recipe's fixed
        ``CloudMask`` threshold. Refused outside the recipe's range
        (:func:`convml_tt.data.cloud_threshold.check_threshold`).

    Returns
    -------
    numpy.ndarray
        bool ``(H, W)``, True where the recipe's mask plane is above (or
        below) the threshold.
    """
    r = _recipe(recipe)
    plane = _mask_plane(values, r)
    t = _threshold(r, threshold)
    # comparisons with NaN are False: no data is never cloud
    return plane > t if r.cloud_mask.above is not None else plane < t


def tile_indices(values, recipe, pixel_size_m: float, threshold: float | None = None,
                 wavelet: bool = False) -> dict[str, float]:
    """:func:`~convml_tt.data.organisation.indices` of :func:`cloud_mask` ``(values, recipe, threshold)``
    with :func:`cloud_signal` as the field of the spectral and wavelet
    indices: the organisation indices of a tile from its physical values."""
    from .organisation import indices

    signal = cloud_signal(values, recipe, threshold)
    return indices(signal > 0, pixel_size_m, field=signal, wavelet=wavelet)
