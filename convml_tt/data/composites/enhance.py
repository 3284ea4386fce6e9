"""Display stretches: composite values -> 8-bit images (PNG tiles, plots).

The composites store physical values (reflectance factor, brightness
temperature in K); these functions turn them into bytes for display only:

- reflectance: clip to [0, 1], then gamma 1/:data:`GAMMA`
  (``round(255 * r ** (1 / 2.2))``);
- brightness temperature (units ``"K"``): 200 K (white) .. 320 K (black),
  linear, like infrared imagery.
"""
from __future__ import annotations

import numpy as np

__all__ = ["GAMMA", "to_uint8", "to_display"]

#: display gamma: 8-bit value = 255 * clip(r, 0, 1) ** (1 / GAMMA)
GAMMA = 2.2


def to_uint8(values: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """The display stretch: reflectance -> 8-bit, ``round(255 * clip(r, 0, 1) ** (1/gamma))``.

    NaN becomes 0. Works on any shape (e.g. ``(n, n, 3)``).
    """
    # same operations (so the same bytes) as
    # rint(255 * clip(nan_to_num(v), 0, 1) ** (1 / gamma)), in place on one copy
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)  # NaN stays NaN
    np.nan_to_num(v, copy=False, nan=0.0)
    np.power(v, np.float32(1.0 / gamma), out=v)
    v *= 255.0
    np.rint(v, out=v)
    return v.astype(np.uint8)


def to_display(image: np.ndarray, units: str, gamma: float = GAMMA) -> np.ndarray:
    """8-bit display image (same shape, uint8) of composite values in ``units``.

    ``units == "K"`` (brightness temperature): ``(320 - T) / 120`` stretched
    linearly (gamma 1), so 200 K is white and 320 K (and NaN) black; any
    other units (reflectance factor ``"1"``): :func:`to_uint8` with ``gamma``.
    """
    if units == "K":
        # brightness temperature: 200 K (white) .. 320 K (black), like IR imagery
        v = (320.0 - np.nan_to_num(image, nan=320.0)) / 120.0
        return to_uint8(v, gamma=1.0)
    return to_uint8(image, gamma=gamma)
