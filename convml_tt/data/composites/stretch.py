"""Per-dataset display stretches of brightness-temperature channels (numpy only).

The fixed infrared stretch of :mod:`.enhance` (200 K white .. 320 K black)
spans every cloud top from the tropopause to a warm surface, so a scene of
low cloud, whose tops are a few kelvin colder than the sea, gets a handful
of grey levels (the real GOES-17 night scan: docs/composites.md). A triplet
dataset therefore chooses the range of each brightness-temperature (units
``"K"``) channel from its own composites, once, when it is written:

``auto`` (the default)
    the :data:`PERCENTILES` (1st and 99th) of the channel's valid (finite)
    pixels over the domain across the dataset's scenes (train and study),
    read on a regular subsample (every k-th row and column, at most
    :data:`SAMPLE_PIXELS` per scene, at most :data:`SAMPLE_SCENES` scenes
    evenly spaced in time order): deterministic, a fraction of a second.
    The range is rounded outwards to 0.1 K and is at least
    :data:`MIN_SPAN_K` wide.
``fixed``
    the fixed 200-320 K of :func:`~.enhance.display_stretch`.
``LO HI`` / per channel ``NAME=LO,HI``
    given by hand (K, LO shown white, HI black); LO < HI, both within
    :data:`~.enhance.BT_RANGE` (150-350 K).

The range chosen is recorded per channel in the dataset's ``meta.yaml``
(``channels[i].stretch``: ``kind: linear``, ``black`` = HI, ``white`` = LO,
``chosen`` = ``dataset`` / ``given`` / ``fixed`` and, for ``dataset``, the
percentiles, pixels and scenes it came from); every tile of the dataset,
a resumed run's included, uses the recorded range. Training copies the
record into the model file's config (``channels``), and maps and
trajectories cut tiles with the model's range (:func:`model_stretches`),
so the encoder always sees the mapping it was trained on. Records made
before this existed (no ``chosen``) hold the fixed range, and models
without a record get the fixed range. Reflectance channels keep their
gamma stretch unchanged.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np

from .enhance import BT_RANGE, display_stretch

__all__ = ["PERCENTILES", "SAMPLE_PIXELS", "SAMPLE_SCENES", "MIN_SPAN_K", "check_stretch", "stretch_yaml",
           "linear_stretch", "dataset_stretches", "recorded_channels", "model_stretches", "check_same_stretch",
           "stretch_text", "grey_levels"]

log = logging.getLogger("convml_tt.data.composites.stretch")

#: the percentiles (of the valid pixels) shown white and black
PERCENTILES = (1.0, 99.0)
#: at most this many pixels of one scene are read (every k-th row and column)
SAMPLE_PIXELS = 65_536
#: at most this many scenes (evenly spaced in time order) are read
SAMPLE_SCENES = 48
#: the narrowest range chosen from a dataset, K
MIN_SPAN_K = 10.0

_HOW = ("give 'auto' (the dataset's 1st-99th percentiles), 'fixed' (200-320 K) or the brightness temperatures "
        "shown white and black, LO HI in K (e.g. --stretch 230 300), or per channel NAME=LO,HI (e.g. "
        "--stretch C13=230,300)")


def _kelvin(text: Any, what: str) -> float:
    if isinstance(text, bool):
        raise ValueError(f"stretch {what} {text!r} is not a number; {_HOW}")
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"stretch {what} {text!r} is not a number; {_HOW}") from None
    if not (math.isfinite(v) and BT_RANGE[0] <= v <= BT_RANGE[1]):
        raise ValueError(f"stretch {what} {text!r} is outside {BT_RANGE[0]:g}-{BT_RANGE[1]:g} K, the range of a "
                         f"brightness temperature; {_HOW}")
    return v


def _one(spec: Any, where: str) -> str | tuple[float, float]:
    """One channel's request: ``"auto"``, ``"fixed"`` or ``(lo, hi)`` K."""
    if isinstance(spec, str):
        words = spec.replace(",", " ").split()
        if len(words) == 1 and words[0].lower() in ("auto", "fixed"):
            return words[0].lower()
        spec = words
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        lo, hi = _kelvin(spec[0], f"{where}LO"), _kelvin(spec[1], f"{where}HI")
        if lo >= hi:
            raise ValueError(f"stretch {where}LO {lo:g} K is not below HI {hi:g} K; {_HOW}")
        return lo, hi
    raise ValueError(f"stretch {where}{spec!r} is neither 'auto', 'fixed' nor two numbers LO HI; {_HOW}")


def check_stretch(value: Any, channels: Sequence[str] | None = None,
                  units: Sequence[str] | None = None) -> Any:
    """The canonical form of a stretch request (``TripletSettings.stretch``,
    ``--stretch``): ``"auto"``, ``"fixed"``, ``(lo, hi)`` (K, floats) or,
    per channel, a tuple of ``(name, "auto" | "fixed" | (lo, hi))`` pairs
    sorted by name. Accepts those, the words of the command line
    (``["230", "300"]``, ``["fixed"]``, ``["C13=230,300", "C14=fixed"]``)
    and the YAML forms (``[230, 300]``, ``{C13: [230, 300]}``).

    With ``channels`` and ``units`` (the recipe's channel names and units)
    a named channel must be one of them and in K, and a range needs a K
    channel. Raises a one-line ``ValueError`` naming the bad value.
    """
    if value is None:
        value = "auto"
    if isinstance(value, str) and "=" in value:
        value = value.split()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and "=" in v for v in value):
        value = dict(v.split("=", 1) for v in value)
    elif isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) and len(v) == 2
                                                          and isinstance(v[0], str) for v in value):
        value = dict(value)
    if isinstance(value, Mapping):
        out = tuple(sorted((str(k).strip(), _one(v, f"{str(k).strip()}=")) for k, v in value.items()))
        if not out:
            raise ValueError(f"stretch {{}} names no channel; {_HOW}")
    else:
        out = _one(value, "")
    if channels is not None and units is not None:
        known = dict(zip(channels, units))
        if isinstance(out, tuple) and out and isinstance(out[0], tuple):
            for name, _ in out:
                if known.get(name) not in ("K", ""):
                    raise ValueError(f"stretch {name}=...: the tiles' brightness-temperature (K) channels are "
                                     f"{[c for c, u in known.items() if u == 'K'] or 'none'}, not {name!r}; "
                                     f"{_HOW}")
        elif out != "auto" and not any(u in ("K", "") for u in units):
            raise ValueError(f"stretch {stretch_yaml(out)!r} needs a brightness-temperature (K) channel but the "
                             f"tiles' channels {list(channels)} are in {sorted(set(units))}: reflectance keeps "
                             f"its gamma stretch; leave --stretch out")
    return out


def stretch_yaml(value: Any) -> Any:
    """A canonical stretch request as plain YAML (lists and mappings)."""
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return {name: stretch_yaml(v) for name, v in value}
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return value


def linear_stretch(white: float, black: float, chosen: str, **how: Any) -> dict:
    """The record of a linear brightness-temperature stretch: ``white`` K
    (and colder) -> 255, ``black`` K (and warmer, and NaN) -> 0; ``chosen``
    says how (``dataset``, ``given``, ``fixed``), ``how`` adds details."""
    span = black - white
    return {"kind": "linear", "units": "K", "black": float(black), "white": float(white), "chosen": chosen, **how,
            "formula": f"uint8 = round(255 * clip(({black:g} - T) / {span:g}, 0, 1)); NaN -> 0"}


def _sample(paths: Sequence[str], channel: int) -> tuple[np.ndarray, int]:
    """Finite values of ``channel`` on a regular subsample of the composites ``paths``, and the scenes read."""
    from .reader import CompositeReader

    paths = list(paths)
    if len(paths) > SAMPLE_SCENES:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, SAMPLE_SCENES).round().astype(int)]
    values = []
    for p in paths:
        c = CompositeReader(p)
        try:
            h, w = c.var.shape[:2]
            k = max(1, math.ceil(math.sqrt(h * w / SAMPLE_PIXELS)))
            v = np.asarray(c.var[::k, ::k, channel] if len(c.var.shape) == 3 else c.var[::k, ::k], np.float32)
        finally:
            c.close()
        values.append(v[np.isfinite(v)].ravel())
    return (np.concatenate(values) if values else np.zeros(0, np.float32)), len(paths)


def _from_dataset(paths: Sequence[str], channel: int, name: str) -> dict:
    v, n_scenes = _sample(paths, channel)
    if v.size == 0:
        raise ValueError(f"channel {name} has no valid pixel in the dataset's {len(paths)} composite(s) to choose "
                         f"its stretch from; give it: --stretch LO HI (K) or --stretch fixed")
    lo, hi = (float(x) for x in np.percentile(v.astype(np.float64), PERCENTILES))
    lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
    if hi - lo < MIN_SPAN_K:  # a uniform scene: widen about its centre
        mid = (lo + hi) / 2
        lo, hi = round(mid - MIN_SPAN_K / 2, 1), round(mid + MIN_SPAN_K / 2, 1)
    lo, hi = max(lo, BT_RANGE[0]), min(hi, BT_RANGE[1])
    return linear_stretch(lo, hi, "dataset", percentiles=[float(p) for p in PERCENTILES], pixels=int(v.size),
                          scenes=n_scenes)


def dataset_stretches(channels: list[dict], request: Any, paths: Sequence[str],
                      recorded: list[dict] | None = None) -> list[dict]:
    """``channels`` (a dataset's ``meta.yaml`` records: name, units,
    stretch) with each K channel's stretch chosen by ``request`` (see
    :func:`check_stretch`) from the composites ``paths``, or taken from
    ``recorded`` (the channels of the dataset being resumed: never chosen
    again). Other channels are returned unchanged."""
    names, units = [c["name"] for c in channels], [c["units"] for c in channels]
    request = check_stretch(request, names, units)
    per = dict(request) if isinstance(request, tuple) and request and isinstance(request[0], tuple) else None
    out = []
    for k, c in enumerate(channels):
        if c["units"] != "K":
            out.append(c)
            continue
        old = recorded[k] if recorded is not None and k < len(recorded) else None
        if old is not None and old.get("name") == c["name"] and isinstance(old.get("stretch"), dict):
            out.append({**c, "stretch": old["stretch"]})
            continue
        want = per.get(c["name"], "auto") if per is not None else request
        if want == "auto":
            s = _from_dataset(paths, k, c["name"])
        elif want == "fixed":
            s = {**display_stretch("K"), "chosen": "fixed"}
        else:
            s = linear_stretch(want[0], want[1], "given")
        out.append({**c, "stretch": s})
    return out


def recorded_channels(existing: Mapping | None, meta: Mapping) -> list[dict] | None:
    """The ``channels`` recorded in ``existing`` (the ``meta.yaml`` of the
    dataset in the output folder) when it is the dataset ``meta`` describes
    (same format, settings and scenes: a resumed run), else None. A dataset
    written before channels were recorded has the fixed stretch of each
    channel's units."""
    if not existing or not all(existing.get(k) == meta.get(k) for k in ("format", "params", "scenes")):
        return None
    if isinstance(existing.get("channels"), list):
        return existing["channels"]
    return [{**c, "stretch": display_stretch(c["units"])} for c in meta.get("channels") or []]


def _fixed(stretch: Any) -> bool:
    return not isinstance(stretch, dict) or (float(stretch.get("black", 320.0)), float(stretch.get("white", 200.0))
                                             ) == (display_stretch("K")["black"], display_stretch("K")["white"])


def model_stretches(config: Mapping | None, units: Sequence[str]) -> list[dict | None] | None:
    """The per-channel stretches a model was trained with (its config's
    ``channels``, from its training dataset's ``meta.yaml``) for tiles of
    composites whose channels are in ``units``: a list with the model's
    linear K record where both say K (None elsewhere: that channel's own
    stretch), or None when every channel gets today's fixed stretch (no
    record: a model of earlier versions, a network without a config)."""
    channels = (config or {}).get("channels")
    if not isinstance(channels, list) or len(channels) != len(units):
        return None
    out = [c.get("stretch") if isinstance(c, dict) and c.get("units") == "K" == u
           and isinstance(c.get("stretch"), dict) and c["stretch"].get("kind") == "linear" else None
           for c, u in zip(channels, units)]
    return None if all(s is None or _fixed(s) for s in out) else out


def _range(channel: Any) -> tuple[float, float] | None:
    """(white, black) K of a recorded channel in K (the fixed range when it records none), else None."""
    if not isinstance(channel, dict) or channel.get("units") != "K":
        return None
    st = channel.get("stretch")
    if not (isinstance(st, dict) and st.get("kind") == "linear"):
        st = display_stretch("K")
    return float(st["white"]), float(st["black"])


def check_same_stretch(model_channels: Any, dataset_channels: Any, model: str, dataset: str) -> None:
    """Refuse to embed a dataset's tiles with a model trained on tiles of
    another brightness-temperature stretch: the 8-bit tiles of the dataset
    mean other temperatures than the model learned (silently wrong
    embeddings). A dataset without a record has the fixed range. A model
    without one (earlier versions) is not refused: a warning says once that
    it was presumably trained on 200-320 K tiles. A one-line ``ValueError``
    saying how to make matching tiles."""
    if not isinstance(dataset_channels, list):
        return
    recorded = isinstance(model_channels, list)
    mine = model_channels if recorded else [None] * len(dataset_channels)
    for k, c in enumerate(dataset_channels):
        theirs = _range(c)
        if theirs is None:
            continue
        want = _range(mine[k]) if k < len(mine) and isinstance(mine[k], dict) else _range({"units": "K"})
        if want is not None and want != theirs and not recorded:
            log.warning("the model %r records no tile stretch (a model file of an earlier version, trained on "
                        "%g-%g K tiles?) but the dataset %r has %s tiles stretched %g-%g K: its embeddings may be "
                        "off; make the tiles with --stretch fixed to match such a model", model, want[0], want[1],
                        dataset, c.get("name"), theirs[0], theirs[1])
            return
        if want is not None and want != theirs:
            raise ValueError(
                f"the dataset {dataset!r} has {c.get('name')} tiles stretched {theirs[0]:g}-{theirs[1]:g} K but the "
                f"model {model!r} was trained on tiles stretched {want[0]:g}-{want[1]:g} K: its embeddings of these "
                f"tiles would be wrong; make the tiles with the model's range (convml_tt triplets --stretch "
                f"{want[0]:g} {want[1]:g}) or embed them with a model trained on this dataset")


def stretch_text(stretches: Sequence[dict | None], names: Sequence[str] | None = None) -> str:
    """One line describing the non-fixed K stretches (e.g. for a log line)."""
    parts = []
    for k, s in enumerate(stretches):
        if isinstance(s, dict) and s.get("kind") == "linear":
            name = names[k] if names is not None and k < len(names) else f"channel {k}"
            parts.append(f"{name} {float(s['white']):g}-{float(s['black']):g} K ({s.get('chosen', 'fixed')})")
    return ", ".join(parts)


def grey_levels(values: np.ndarray, stretch: dict) -> int:
    """How many distinct 8-bit levels the finite K ``values`` get under ``stretch``."""
    from .enhance import to_display

    v = np.asarray(values, np.float32).ravel()
    v = v[np.isfinite(v)]
    return int(np.unique(to_display(v, "K", stretches=[stretch], channel_axis=0)).size) if v.size else 0
