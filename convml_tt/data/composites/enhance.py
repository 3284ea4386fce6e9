"""Display stretches: composite values -> 8-bit images (PNG tiles, plots).

The composites store physical values (reflectance factor, brightness
temperature in K); these functions turn them into bytes for display only:

- reflectance: clip to [0, 1], then gamma 1/:data:`GAMMA`
  (``round(255 * r ** (1 / 2.2))``);
- brightness temperature (units ``"K"``): 200 K (white) .. 320 K (black),
  linear, like infrared imagery; a triplet dataset records its own range
  per channel (its percentiles, :mod:`.stretch`), which ``stretches=``
  applies.

A composite of several channels may mix them (e.g. a band list
``C01+C13``): :func:`to_display` takes one units string per channel and
stretches each channel by its own units. :func:`display_stretch` describes
the stretch of one channel as plain data (kind, range, gamma, formula), as a
triplet dataset's ``meta.yaml`` records it, and :func:`from_display` inverts
it (8-bit value -> physical value at the centre of its quantisation step).
"""
from __future__ import annotations

import numpy as np

__all__ = ["GAMMA", "BT_WARM", "BT_COLD", "BT_RANGE", "check_kelvin", "to_uint8", "to_display", "display_stretch",
           "from_display"]

#: display gamma: 8-bit value = 255 * clip(r, 0, 1) ** (1 / GAMMA)
GAMMA = 2.2
#: brightness temperature (K) shown black (and NaN) / white
BT_WARM, BT_COLD = 320.0, 200.0


#: the physical range of a brightness temperature, K: values outside are not in kelvin
BT_RANGE = (150.0, 350.0)


def check_kelvin(values: np.ndarray, what: str) -> None:
    """Refuse ``values`` said to be brightness temperatures in K whose finite
    values leave :data:`BT_RANGE` (e.g. degrees Celsius, or counts): a
    one-line ``ValueError`` naming ``what``, the values found and the units."""
    v = np.asarray(values)
    finite = v[np.isfinite(v)] if v.dtype.kind == "f" else v.ravel()
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if lo < BT_RANGE[0] or hi > BT_RANGE[1]:
        guess = " (degrees Celsius?)" if -120.0 <= lo and hi <= 80.0 else ""
        raise ValueError(f"{what} holds values {lo:.4g} to {hi:.4g}, outside {BT_RANGE[0]:g}-{BT_RANGE[1]:g} K, the "
                         f"range of a brightness temperature, although its units say K{guess}; give brightness "
                         f"temperatures in kelvin (K = degrees Celsius + 273.15)")


def to_uint8(values: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """The display stretch: reflectance -> 8-bit, ``round(255 * clip(r, 0, 1) ** (1/gamma))``.

    NaN becomes 0. Works on any shape (e.g. ``(n, n, 3)``).
    """
    # same operations (so the same bytes) as
    # rint(255 * clip(nan_to_num(v), 0, 1) ** (1 / gamma)), in place on one copy
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)  # NaN stays NaN, no infinity is left
    np.copyto(v, np.float32(0.0), where=np.isnan(v))  # nan_to_num's NaN -> 0, without its infinity passes
    np.power(v, np.float32(1.0 / gamma), out=v)
    v *= 255.0
    np.rint(v, out=v)
    return v.astype(np.uint8)


def _channel_units(units) -> tuple[str, ...] | str:
    """``units`` as one string (all channels alike) or a tuple of strings, one per channel."""
    if isinstance(units, str):
        if units == "mixed":
            raise ValueError("units 'mixed' (a composite whose channels have different units): pass one "
                             "units string per channel, e.g. CompositeReader.channel_units")
        return units
    units = tuple(str(u) for u in units)
    if not units:
        raise ValueError("units must be a string or one units string per channel, got an empty sequence")
    return units[0] if len(units) == 1 else units


def _display_one(image: np.ndarray, units: str, gamma: float, stretch: dict | None = None) -> np.ndarray:
    if units == "K":
        # brightness temperature: white .. black linear, like IR imagery (200 .. 320 K unless the
        # channel's recorded ``stretch`` says otherwise, :mod:`.stretch`)
        black, white = (float(stretch["black"]), float(stretch["white"])) if _linear(stretch) else (BT_WARM, BT_COLD)
        v = (black - np.nan_to_num(image, nan=black)) / (black - white)
        return to_uint8(v, gamma=1.0)
    return to_uint8(image, gamma=gamma)


def _linear(stretch: dict | None) -> bool:
    return isinstance(stretch, dict) and stretch.get("kind") == "linear"


def to_display(image: np.ndarray, units, gamma: float = GAMMA, channel_axis: int = -1,
               stretches=None) -> np.ndarray:
    """8-bit display image (same shape, uint8) of composite values in ``units``.

    ``units == "K"`` (brightness temperature): ``(320 - T) / 120`` stretched
    linearly (gamma 1), so 200 K is white and 320 K (and NaN) black; any
    other units (reflectance factor ``"1"``): :func:`to_uint8` with ``gamma``.

    ``units`` may also be a sequence of one units string per channel (the
    axis ``channel_axis`` of ``image``, e.g. -1 for ``(n, n, C)`` tiles, 1
    for ``(N, C, n, n)`` batches): each channel is stretched by its own
    units. Raises ``ValueError`` when their number is not the channel count.

    ``stretches`` (None: the fixed stretches above) gives one recorded
    stretch per channel (a dataset's ``meta.yaml`` ``channels[i].stretch``,
    or None for a channel's fixed one): a K channel with a ``linear``
    record is stretched from its ``white`` to its ``black`` K instead of
    200-320 K (:mod:`.stretch`); other channels ignore it. A record with
    200 and 320 K gives the same bytes as no record.
    """
    u = _channel_units(units)
    if stretches is not None and all(s is None for s in stretches):
        stretches = None
    if isinstance(u, str):
        if stretches is None or len(stretches) == 1:
            return _display_one(image, u, gamma, None if stretches is None else stretches[0])
        u = (u,) * len(stretches)
    image = np.asarray(image)
    if image.ndim == 0 or image.shape[channel_axis] != len(u):
        raise ValueError(f"units {u} name {len(u)} channels but the image of shape {image.shape} has "
                         f"{image.shape[channel_axis] if image.ndim else 0} on axis {channel_axis}")
    if stretches is not None and len(stretches) != len(u):
        raise ValueError(f"{len(stretches)} stretches given for {len(u)} channels")
    if len(set(u)) == 1 and (stretches is None or all(s == stretches[0] for s in stretches)):
        return _display_one(image, u[0], gamma, None if stretches is None else stretches[0])
    out = np.empty(image.shape, np.uint8)
    src, dst = np.moveaxis(image, channel_axis, 0), np.moveaxis(out, channel_axis, 0)
    for k, uk in enumerate(u):
        dst[k] = _display_one(src[k], uk, gamma, None if stretches is None else stretches[k])
    return out


def display_stretch(units: str, gamma: float = GAMMA) -> dict:
    """The display stretch of one channel in ``units`` as plain data (what
    :func:`to_display` does to it), e.g. for a dataset's ``meta.yaml``:

    - ``"K"``: ``{"kind": "linear", "units": "K", "black": 320.0, "white":
      200.0, "formula": ...}``: ``uint8 = round(255 * clip((320 - T) / 120,
      0, 1))``, NaN black;
    - other units: ``{"kind": "gamma", "units": ..., "black": 0.0, "white":
      1.0, "gamma": gamma, "formula": ...}``: ``uint8 = round(255 * clip(r, 0,
      1) ** (1 / gamma))``, NaN black.
    """
    units = _channel_units(str(units))
    if units == "K":
        span = BT_WARM - BT_COLD
        return {"kind": "linear", "units": "K", "black": BT_WARM, "white": BT_COLD,
                "formula": f"uint8 = round(255 * clip(({BT_WARM:g} - T) / {span:g}, 0, 1)); NaN -> 0"}
    g = float(gamma)
    return {"kind": "gamma", "units": units, "black": 0.0, "white": 1.0, "gamma": g,
            "formula": f"uint8 = round(255 * clip(r, 0, 1) ** (1 / {g:g})); NaN -> 0"}


def from_display(values: np.ndarray, stretch: dict) -> np.ndarray:
    """Physical values (float32, same shape) of 8-bit display values under a
    ``stretch`` as :func:`display_stretch` gives it (or as read back from a
    dataset's ``meta.yaml``): the inverse of the stretch at each byte, so
    ``to_display(from_display(b, s)) == b``. Values at the ends (0, 255) are
    the ends of the range: clipped values are not recovered.

    Raises ``ValueError`` for a stretch of unknown kind.
    """
    v = np.asarray(values, np.float32) / np.float32(255.0)
    kind = stretch.get("kind") if isinstance(stretch, dict) else None
    if kind in ("linear", "gamma"):
        black, white = float(stretch["black"]), float(stretch["white"])
    if kind == "linear":
        return (black + (white - black) * v).astype(np.float32)
    if kind == "gamma":
        return (black + (white - black) * v ** np.float32(float(stretch["gamma"]))).astype(np.float32)
    raise ValueError(f"stretch {stretch!r} is not a display stretch: its kind must be 'linear' or 'gamma' "
                     f"(see convml_tt.data.composites.enhance.display_stretch)")
