"""Regimes along Lagrangian trajectories: sequences and transition statistics.

* :func:`regime_sequences`: a tile centred on each trajectory point, cut
  from the scene nearest the point's time
  (:class:`~convml_tt.data.sampling.trajectory.TrajectorySampler`),
  converted to 8-bit as the triplet writer's PNG tiles
  (:func:`~convml_tt.data.composites.enhance.to_display`), embedded through
  the one embedding loop (a featurizer of
  :mod:`convml_tt.interpretation.featurizers`) and assigned to its nearest
  regime by the rule of regime maps: a point farther from its nearest
  centroid than that regime's ``unassigned_distance`` is *unassigned*
  (code :data:`~convml_tt.interpretation.unassigned.UNASSIGNED`, -2; see
  :mod:`.unassigned`): a Dataset on ``(trajectory, time)`` with ``regime``
  (int16, -1 none, -2 unassigned), ``regime_distance``, ``embedding`` and,
  for points without a tile, ``reason``;
* :func:`transition_statistics`: counts of regime ``i`` at one time being
  regime ``j`` ``step`` time steps later along the same trajectory,
  summed over trajectories and times, the transition probabilities
  ``P(j | i) = n_ij / sum_j n_ij`` and their Wilson score intervals
  (Wilson 1927; per entry, a binomial proportion of the row's pairs).
  Unassigned points are a state of their own (the last row and column,
  ``unassigned``): air leaving every known regime, or arriving from
  none, is counted rather than dropped, so a regime's row still sums to
  1 over everything its pairs became.

Figures: :func:`convml_tt.interpretation.plots.transitions.sequences_figure`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..data.composites.enhance import GAMMA, to_display
from ..data.composites.stretch import model_stretches
from ..data.sampling.trajectory import DEFAULT_TOLERANCE, TrajectorySampler
from ..config import accepts_old_names
from .featurizers import make_featurizer
from .regimes import Regimes
from .regime_maps import check_model_of_regimes
from .unassigned import UNASSIGNED

__all__ = ["regime_sequences", "transition_statistics", "wilson_interval", "load_sequences", "UNASSIGNED_STATE"]

_STAGE = "track"
#: the name of the state of unassigned points in :func:`transition_statistics`
UNASSIGNED_STATE = "unassigned"


def wilson_interval(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(lower, upper)`` of the proportion ``k / n``
    (arrays of the same shape; NaN where ``n == 0``)."""
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must be between 0 and 1")
    z = float(norm.ppf(0.5 + confidence / 2))
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / den
        half = z / den * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    bad = n <= 0
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def _regime_names(seq: xr.Dataset) -> list[str]:
    if "regime_names" in seq.attrs:
        return [str(s) for s in json.loads(seq.attrs["regime_names"])]
    top = int(np.max(seq["regime"].values, initial=-1))
    return [str(i) for i in range(top + 1)]


def has_unassigned(sequences: xr.Dataset) -> bool:
    """Whether ``sequences`` were assigned with an unassigned distance (or hold unassigned points)."""
    reg = np.asarray(sequences["regime"].values)
    return "unassigned_distance" in sequences.attrs or bool((reg == UNASSIGNED).any())


def transition_statistics(sequences: xr.Dataset, step: int = 1, confidence: float = 0.95) -> xr.Dataset:
    """Transitions between regimes ``step`` time steps apart along each trajectory.

    ``sequences``: a Dataset with ``regime(trajectory, time)`` (int: the
    regime's index, :data:`~convml_tt.interpretation.unassigned.UNASSIGNED`
    (-2) unassigned, other negative values no regime; names from its
    ``regime_names`` attribute, JSON), as :func:`regime_sequences` returns.
    Pairs where either point has no regime (no tile) are left out. When the
    sequences have unassigned points or record an ``unassigned_distance``,
    :data:`UNASSIGNED_STATE` is a state of its own, after the regimes:
    ``P(unassigned | A)`` is the share of regime A's pairs that left every
    regime, the ``unassigned`` row where unassigned air went. The
    trajectory times must be evenly spaced.

    Returns a Dataset on ``(from_regime, to_regime)``: ``count`` (int64),
    ``probability`` (``count`` over the row's total, NaN for a regime never
    followed), ``lower``/``upper`` (Wilson interval at ``confidence``) and
    ``n_from(from_regime)``; attributes ``step``, ``time_step_s`` (the
    time between the paired points, s), ``n_pairs`` (pairs counted) and
    ``n_unassigned_pairs`` (those with an unassigned end).
    """
    if int(step) != step or step < 1:
        raise ValueError(f"step {step!r} must be a whole number >= 1")
    step = int(step)
    reg = np.asarray(sequences["regime"].transpose("trajectory", "time").values, np.int64)
    names = _regime_names(sequences)
    times = np.asarray(sequences["time"].values).astype("datetime64[s]")
    dt = np.diff(times).astype(np.int64)
    if dt.size and not (dt == dt[0]).all():
        raise ValueError(f"the trajectory times are not evenly spaced (steps {sorted(set(dt.tolist()))} s); "
                         f"transitions per time step need one time step")
    if reg.shape[1] <= step:
        raise ValueError(f"step {step} needs more than {step} trajectory times, there are {reg.shape[1]}")
    a, b = reg[:, :-step].ravel(), reg[:, step:].ravel()
    n = len(names)
    known = np.concatenate([a[a >= 0], b[b >= 0]])
    if known.size and known.max() >= n:
        raise ValueError(f"regime codes up to {known.max()} but {n} regime names")
    with_unassigned = has_unassigned(sequences)
    if with_unassigned:  # the unassigned points: the state after the regimes
        a, b = np.where(a == UNASSIGNED, n, a), np.where(b == UNASSIGNED, n, b)
        names, n = names + [UNASSIGNED_STATE], n + 1
    ok = (a >= 0) & (b >= 0)
    count = np.zeros((n, n), np.int64)
    np.add.at(count, (a[ok], b[ok]), 1)
    rows = count.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(rows[:, None] > 0, count / rows[:, None], np.nan)
    lo, hi = wilson_interval(count, np.broadcast_to(rows[:, None], count.shape), confidence)
    dims = ("from_regime", "to_regime")
    return xr.Dataset(
        {"count": (dims, count, {"long_name": f"pairs of points {step} time steps apart in these regimes"}),
         "probability": (dims, prob, {"long_name": "transition probability P(to | from)", "units": "1"}),
         "lower": (dims, lo, {"long_name": f"lower end of the {confidence:.0%} Wilson interval", "units": "1"}),
         "upper": (dims, hi, {"long_name": f"upper end of the {confidence:.0%} Wilson interval", "units": "1"}),
         "n_from": (("from_regime",), rows, {"long_name": "pairs starting in the regime"})},
        coords={"from_regime": names, "to_regime": names},
        attrs={"step": step, "time_step_s": int(dt[0]) * step if dt.size else 0, "confidence": confidence,
               "n_pairs": int(ok.sum()),
               "n_unassigned_pairs": int(count[-1].sum() + count[:-1, -1].sum()) if with_unassigned else 0})


_CUT: dict[str, Any] = {}


def _cut_setup(config: dict) -> None:
    """Set a process up for :func:`_cut_scene`: the trajectory sampler of ``config``."""
    _CUT["sampler"] = TrajectorySampler(config["trajectories"], config["tile_size_m"], config["tile_pixels"],
                                        {_STAGE: config["composites"]}, config["tolerance"], config["method"])
    _CUT["gamma"] = config["gamma"]
    _CUT["model_config"] = config.get("model_config")


def _cut_scene(k: int) -> tuple[np.ndarray, np.ndarray | None, list[tuple[int, int, str]]]:
    """A task of :mod:`convml_tt.compute`: the tiles of every trajectory point
    whose scene is composite ``k``: ``(points (n, 2) [trajectory, time],
    8-bit tiles (n, channels, px, px) or None, [(trajectory, time, reason)]
    of the points whose tile could not be cut)``."""
    from ..data.composites.reader import open_composite

    sampler = _CUT["sampler"]
    points, images, failed = [], [], []
    for i, j in zip(*np.nonzero(sampler.scene_of[_STAGE] == k)):
        _, image = sampler.cut(_STAGE, int(i), int(j))
        if image is not None:
            points.append((int(i), int(j)))
            images.append(image)
        else:
            failed.append((int(i), int(j), str(sampler.reasons[_STAGE][i, j])))
    if not points:
        return np.zeros((0, 2), np.int64), None, failed
    units = open_composite(sampler.scenes[_STAGE][k]).channel_units
    # brightness temperatures with the model's recorded range (as its maps cut them)
    stretches = model_stretches(_CUT.get("model_config"), units)
    return np.array(points), to_display(np.stack(images), units, _CUT["gamma"], channel_axis=1,
                                        stretches=stretches), failed


@accepts_old_names(tile_size="tile_size_m")
def regime_sequences(model: Any, trajectories: Any, composites: Sequence[str | Path], regimes: Regimes | str | Path,
                     tile_size_m: float | None = None, tile_pixels: int | None = None,
                     tolerance: np.timedelta64 = DEFAULT_TOLERANCE, method: str = "bilinear", gamma: float = GAMMA,
                     device: Any = None, batch_size: int = 256, out: str | Path | None = None,
                     progress: bool = True, workers: int | None = None, scheduler: Any = None,
                     client: Any = None, unassigned_distance: Any = None) -> xr.Dataset:
    """The regime of a tile centred on every trajectory point.

    Parameters
    ----------
    model : model file, encoder ``nn.Module`` or featurizer name (as ``convml_tt map`` takes).
    trajectories : trajectory file (CF or lagtraj) or a Dataset (``lat``, ``lon`` on ``(trajectory, time)``).
    composites : composite files (the scenes), any order.
    regimes : :class:`Regimes` or its JSON path (fitted to this model's embeddings).
    tile_size_m, tile_pixels : metres, pixels (default: the model's training tiles).
    tolerance : largest ``|scan start - point time|`` for a point to use a scene.
    out : netCDF file to write (atomically).
    workers, scheduler, client : where the tiles of each scene are cut, as tasks of
        :mod:`convml_tt.compute` (default: here); the embedding runs here.
    unassigned_distance : points farther than this (embedding units; one for all
        regimes or one per regime) from their nearest centroid are unassigned;
        default the regimes' own (none: every point with a tile gets its nearest regime).

    Returns
    -------
    Dataset on ``(trajectory, time)``: ``lat``, ``lon`` (degrees), ``regime``
    int16 (-1 none, -2 unassigned: a tile farther from its nearest centroid
    than that regime's unassigned distance), ``regime_distance`` float32
    (embedding units, NaN none), ``embedding(trajectory, time, emb_dim)``
    float32, ``scene_time`` (scan start used, NaT none), ``reason`` (why a
    point has no tile, ``""`` else); attributes ``regime_names`` (JSON),
    ``tile_size_m``, ``tile_pixels``, ``tolerance_s``, the model's path /
    sha256 and featurizer; with a cut, ``unassigned_distance`` (one per
    regime) and ``unassigned_rule``, as regime maps record them.
    """
    if not isinstance(regimes, Regimes):
        regimes = Regimes.load(regimes)
    feat = make_featurizer(model, device=device, batch_size=batch_size)
    tile_size_m = tile_size_m or feat.tile_size_m
    tile_pixels = tile_pixels or feat.tile_pixels
    if not tile_size_m or not tile_pixels:
        raise ValueError("the model does not say its tile size and pixels; give tile_size_m (m) and tile_pixels")
    check_model_of_regimes(regimes, f"the model {feat.path or feat.name}", emb_dim=feat.emb_dim, sha=feat.sha256,
                           featurizer=feat.name, model_path=feat.path or "")
    cut = regimes.cut(unassigned_distance)  # a bad distance is refused before any work
    composites = [str(p) for p in composites]
    sampler = TrajectorySampler(trajectories, tile_size_m, tile_pixels, {_STAGE: composites}, tolerance, method)
    nt, nj = sampler.shape
    e = regimes.emb_dim
    regime = np.full((nt, nj), -1, np.int16)
    dist = np.full((nt, nj), np.nan, np.float32)
    emb = np.full((nt, nj, e), np.nan, np.float32)
    scene_of = sampler.scene_of[_STAGE]
    from ..compute import iter_tasks

    config = {"trajectories": trajectories, "tile_size_m": tile_size_m, "tile_pixels": tile_pixels,
              "composites": composites, "tolerance": tolerance, "method": method, "gamma": gamma,
              "model_config": {"channels": feat.config.get("channels")}}
    scenes = sorted(set(scene_of[scene_of >= 0].tolist()))
    for points, tiles, failed in iter_tasks(_cut_scene, scenes, setup=_cut_setup, config=config, workers=workers,
                                            scheduler=scheduler, client=client, progress=progress,
                                            desc="trajectory tiles", unit="scene", window_per_worker=2):
        for i, j, why in failed:
            sampler.reasons[_STAGE][i, j] = why
        if tiles is None:
            continue
        x = np.asarray(feat.embed(tiles), np.float64)
        idx, d = regimes.assign(x, cut)
        ii, jj = points.T
        regime[ii, jj], dist[ii, jj], emb[ii, jj] = idx, d, x
    times = sampler.times.astype("datetime64[ns]")
    st = sampler.scene_times[_STAGE].astype("datetime64[ns]")
    scene_time = np.where(scene_of >= 0, st[np.clip(scene_of, 0, None)] if st.size else np.datetime64("NaT", "ns"),
                          np.datetime64("NaT", "ns"))
    reasons = sampler.reasons[_STAGE].astype(str)
    dims = ("trajectory", "time")
    flags = ([UNASSIGNED] if cut is not None else []) + list(range(regimes.n_regimes))
    meanings = (["unassigned"] if cut is not None else []) + [n.replace(" ", "_") for n in regimes.names]
    ds = xr.Dataset(
        {"lat": (dims, sampler.lat, {"units": "degrees_north", "standard_name": "latitude"}),
         "lon": (dims, sampler.lon, {"units": "degrees_east", "standard_name": "longitude"}),
         "regime": (dims, regime, {"long_name": "regime of the tile centred on the point (nearest centroid)",
                                   "flag_values": np.array(flags, dtype=np.int16),
                                   "flag_meanings": " ".join(meanings)}),
         "regime_distance": (dims, dist, {"long_name": "Euclidean distance to the nearest regime centroid",
                                          "units": "1"}),
         "embedding": (dims + ("emb_dim",), emb, {"long_name": "embedding of the tile centred on the point"}),
         "scene_time": (dims, scene_time, {"long_name": "scan start of the scene the tile was cut from"}),
         "reason": (dims, reasons, {"long_name": "why the point has no tile and no regime (empty: it has a tile)"})},
        coords={"trajectory": np.arange(nt), "time": times},
        attrs={"regime_names": json.dumps(regimes.names), "tile_size_m": float(tile_size_m),
               "tile_pixels": int(tile_pixels), "tolerance_s": int(sampler.tolerance.astype(int)),
               "model_path": feat.path, "model_sha256": feat.sha256, "featurizer": feat.name,
               "regimes_method": regimes.method, "featureType": "trajectory", "Conventions": "CF-1.8"})
    ds["regime"].encoding["_FillValue"] = np.int16(-1)
    if cut is not None:  # as a regime map records its cut
        ds.attrs["unassigned_distance"] = cut
        ds.attrs["unassigned_rule"] = (regimes.unassigned_rule or "given") if unassigned_distance is None else "given"
    if out is not None:  # CF trajectory netCDF, written atomically
        from ..data.trajectories import write_trajectories

        write_trajectories(ds, out)
    return ds


def load_sequences(path: str | Path) -> xr.Dataset:
    """Read regime sequences written by :func:`regime_sequences` (``regime`` as int, -1 none)."""
    path = Path(path)
    try:
        ds = xr.load_dataset(path, engine="netcdf4", mask_and_scale=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a regime sequences file from `convml_tt track` "
                         f"({type(err).__name__}: {err})") from None
    if "regime" not in ds or ds["regime"].dims != ("trajectory", "time"):
        raise ValueError(f"{str(path)!r} has no regime(trajectory, time); make it with `convml_tt track`")
    return ds
