"""How well regimes agree with human classifications of cloud patterns
(Zooniverse boxes, C3ONTEXT frequencies, or plain boxes; read by
:mod:`convml_tt.data.human_labels`).

Each map cell (or tile) is given the human classes at its centre from the
labels of its scan (the label time nearest the scan, within a tolerance):
a weight per class, 0..1 (1 for the class of the boxes over it, or the
share of classifiers who marked it), and a weight "unclassified" for a
place the humans saw and left without a pattern. Only cells the humans saw
and that have a regime (code >= 0) count. Then (:func:`agreement`):

- ``precision``: per regime, the mean weight of each human class over its
  cells (the share of its cells in that class; rows sum to 1 for boxes);
- ``match``: regime -> class by the Hungarian method on the summed weights
  (the assignment of the most agreement), regimes left over get their
  largest class; with per match the precision, the recall (the share of the
  class's weight in the regimes matched to it) and the cells; a regime
  left over whose largest weight is "unclassified" is matched to none;
- ``fractions``: through time, the correlation (Pearson, over the scans)
  of each class's share of the seen cells with the share of the cells in
  the regimes matched to it;
- ``unclassified``: the share of the seen cells the humans left
  unclassified.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.human_labels import UNCLASSIFIED, HumanLabels, describe_missed, match_times, read_human_labels

__all__ = ["Agreement", "agreement", "attach_to_map", "attach_to_tiles", "map_agreement", "tile_agreement"]


@dataclass
class Agreement:
    """The agreement tables (see the module docstring) and what was counted;
    ``accuracy``: the share of the human class weight (patterns only) that
    lies in regimes matched to its class."""

    precision: pd.DataFrame
    match: pd.DataFrame
    fractions: pd.DataFrame
    unclassified: float
    n_cells: int
    n_scenes: int
    accuracy: float = float("nan")
    missed: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


    def to_markdown(self) -> str:
        from .evaluate import to_markdown

        parts = [f"Agreement with human labels: {self.n_cells} cells seen by the humans in {self.n_scenes} "
                 f"scene(s); {100 * self.unclassified:.1f} % of them left unclassified; "
                 f"{100 * self.accuracy:.1f} % of the classified weight lies in the matched regimes.", ""]
        parts += [*(f"- {n}" for n in self.notes), ""] if self.notes else []
        parts += ["Per-regime precision against each human class (share of the regime's seen cells):", "",
                  to_markdown(self.precision), "", "Regime -> human class (Hungarian):", "",
                  to_markdown(self.match), ""]
        if len(self.fractions):
            parts += ["Fractions through time (Pearson r over the scenes):", "", to_markdown(self.fractions), ""]
        return "\n".join(parts)


def agreement(regime: np.ndarray, weights: np.ndarray, seen: np.ndarray, scene: np.ndarray,
              regime_names: list[str], classes: list[str]) -> Agreement:
    """Agreement of regimes with human class weights.

    ``regime`` (n,) int codes (< 0: no regime), ``weights`` (n, len(classes)
    + 1) (last column unclassified), ``seen`` (n,) bool, ``scene`` (n,) int
    (the scan of each cell), ``regime_names`` the names of the codes."""
    regime = np.asarray(regime).astype(np.int64).ravel()
    ok = np.asarray(seen, bool).ravel() & (regime >= 0) & (regime < len(regime_names))
    if not ok.any():
        raise ValueError("no cell with a regime was seen by the humans at a matching time; nothing to compare "
                         "(check the label times, the tolerance and the labels' area)")
    r, w, s = regime[ok], np.asarray(weights, np.float64).reshape(-1, len(classes) + 1)[ok], np.asarray(scene).ravel()[ok]
    k, m = len(regime_names), len(classes)
    sums = np.zeros((k, m + 1))
    np.add.at(sums, r, w)
    n_r = np.bincount(r, minlength=k)
    present = n_r > 0
    prec = pd.DataFrame(sums[present] / n_r[present, None], columns=classes + [UNCLASSIFIED],
                        index=pd.Index([regime_names[i] for i in np.flatnonzero(present)], name="regime"))
    prec.insert(0, "n_cells", n_r[present])
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-sums[:, :m]) if m else ([], [])
    match = np.full(k, -1)
    for a, b in zip(rows, cols):
        if sums[a, b] > 0:
            match[a] = b
    for a in range(k):  # regimes left over: their largest class, or none when that is "unclassified"
        if match[a] < 0 and present[a] and m and int(np.argmax(sums[a])) < m:
            match[a] = int(np.argmax(sums[a]))
    class_total = sums[:, :m].sum(axis=0)
    mrows = {}
    for a in np.flatnonzero(present):
        c = match[a]
        mrows[regime_names[a]] = {
            "human_class": classes[c] if c >= 0 else "(none)",
            "precision": sums[a, c] / n_r[a] if c >= 0 else np.nan,
            "recall": sums[match == c, c].sum() / class_total[c] if c >= 0 and class_total[c] > 0 else np.nan,
            "n_cells": int(n_r[a]), "class_weight": float(sums[a, c]) if c >= 0 else 0.0}
    mdf = pd.DataFrame.from_dict(mrows, orient="index")
    mdf.index.name = "regime"
    # fractions through time
    scenes = np.unique(s)
    frows = {}
    if len(scenes) >= 3:
        for c in range(m):
            hum = np.array([w[s == t, c].mean() for t in scenes])
            reg = np.array([np.isin(r[s == t], np.flatnonzero(match == c)).mean() for t in scenes])
            corr = (float(np.corrcoef(hum, reg)[0, 1]) if hum.std() > 0 and reg.std() > 0 else np.nan)
            frows[classes[c]] = {"pearson_r": corr, "mean_human_fraction": float(hum.mean()),
                                 "mean_regime_fraction": float(reg.mean()),
                                 "regimes": "+".join(regime_names[a] for a in np.flatnonzero(match == c)) or "(none)"}
    fdf = pd.DataFrame.from_dict(frows, orient="index")
    fdf.index.name = "human_class"
    notes = [] if len(scenes) >= 3 else [f"fraction correlation needs at least 3 scenes, got {len(scenes)}"]
    total = sums[:, :m].sum()
    acc = float(sum(sums[a, match[a]] for a in range(k) if match[a] >= 0) / total) if total > 0 else float("nan")
    return Agreement(prec, mdf, fdf, float(w[:, m].mean()), int(ok.sum()), int(len(scenes)), accuracy=acc,
                     notes=notes)


def _tolerance(hours: float) -> dt.timedelta:
    if not hours >= 0:
        raise ValueError(f"time tolerance {hours!r} must be a number of hours >= 0")
    return dt.timedelta(hours=float(hours))


def attach_to_map(regime_map: Any, labels: HumanLabels, tolerance_hours: float = 3.0):
    """The human class weights of every cell of a map: ``(weights (time, y,
    x, len(classes) + 1), seen (time, y, x) bool, missed label times)``."""
    tol = _tolerance(tolerance_hours)
    group, missed = match_times(labels, regime_map["time"].values, tol)
    nt, ny, nx = (regime_map.sizes[d] for d in ("time", "y", "x"))
    lat = np.asarray(regime_map["lat"].transpose("y", "x").values)
    lon = np.asarray(regime_map["lon"].transpose("y", "x").values)
    w = np.zeros((nt, ny * nx, len(labels.classes) + 1))
    seen = np.zeros((nt, ny * nx), bool)
    for t in range(nt):
        hits = np.flatnonzero(group == t)
        if len(hits):
            w[t], seen[t] = labels.weights_of(hits, lat, lon)
    return w.reshape(nt, ny, nx, -1), seen.reshape(nt, ny, nx), missed


def attach_to_tiles(embeddings: Any, labels: HumanLabels, tolerance_hours: float = 3.0):
    """The human class weights of every tile of embeddings (coordinates
    ``lat``, ``lon``, ``time`` per tile; a scan is a distinct tile time):
    ``(weights (n, len(classes) + 1), seen (n,), scene (n,) int, missed)``."""
    da = embeddings.sel(tile_type="anchor") if "tile_type" in embeddings.dims else embeddings
    for c in ("lat", "lon", "time"):
        if c not in da.coords:
            raise ValueError(f"the embeddings have no per-tile {c!r} coordinate; human labels are attached by "
                             f"place and time (embeddings from `convml_tt embed` carry them)")
    t = pd.to_datetime(np.asarray(da["time"].values).astype(str), utc=True).tz_localize(None)
    scenes, scene = np.unique(t.values, return_inverse=True)
    group, missed = match_times(labels, scenes, _tolerance(tolerance_hours))
    lat, lon = np.asarray(da["lat"].values, float), np.asarray(da["lon"].values, float)
    w = np.zeros((len(lat), len(labels.classes) + 1))
    seen = np.zeros(len(lat), bool)
    for k in range(len(scenes)):
        hits = np.flatnonzero(group == k)
        sel = scene == k
        if len(hits) and sel.any():
            w[sel], seen[sel] = labels.weights_of(hits, lat[sel], lon[sel])
    return w, seen, scene, missed


def map_agreement(regime_map: Any, human_labels: Any, tolerance_hours: float = 3.0) -> Agreement:
    """:func:`agreement` of a regime map (Dataset or path) with human labels (a
    :class:`HumanLabels` or a file path)."""
    from .regime_maps import check_regime_map, map_name, open_map

    labels = human_labels if isinstance(human_labels, HumanLabels) else read_human_labels(human_labels)
    ds = open_map(regime_map, "regime map", load=True)
    check_regime_map(ds, map_name(regime_map))
    w, seen, missed = attach_to_map(ds, labels, tolerance_hours)
    reg = np.asarray(ds["regime"].transpose("time", "y", "x").values).astype(np.int64)
    names = json.loads(ds.attrs["regime_names"]) if "regime_names" in ds.attrs else [
        str(i) for i in range(int(max(reg.max() + 1, 1)))]
    scene = np.broadcast_to(np.arange(reg.shape[0])[:, None, None], reg.shape)
    out = agreement(reg, w.reshape(-1, w.shape[-1]), seen, scene, names, labels.classes)
    return _with_missed(out, missed, tolerance_hours)


def _with_missed(out: Agreement, missed: list, tolerance_hours: float) -> Agreement:
    out.missed = list(missed)
    if missed:
        out.notes.insert(0, describe_missed(missed, _tolerance(tolerance_hours)))
    return out


def tile_agreement(embeddings: Any, human_labels: Any, regimes: Any = None, n_regimes: int | None = None,
                   tolerance_hours: float = 3.0, seed: int = 0) -> Agreement:
    """:func:`agreement` of the regimes of tile embeddings with human labels:
    ``regimes`` (a :class:`~convml_tt.interpretation.regimes.Regimes` or its
    file) label the tiles by nearest centroid; without, k-means regimes are
    fitted (``n_regimes``, default the number of human classes + 1)."""
    from .regimes import Regimes, _tile_embeddings, fit_regimes

    labels = human_labels if isinstance(human_labels, HumanLabels) else read_human_labels(human_labels)
    da = _tile_embeddings(embeddings)
    if regimes is None:
        regimes = fit_regimes(da, n_regimes or len(labels.classes) + 1, method="kmeans", seed=seed)
    elif not isinstance(regimes, Regimes):
        regimes = Regimes.load(Path(regimes))
    code, _ = regimes.nearest(np.asarray(da.values, np.float64))
    w, seen, scene, missed = attach_to_tiles(da, labels, tolerance_hours)
    out = agreement(code, w, seen, scene, list(regimes.names), labels.classes)
    return _with_missed(out, missed, tolerance_hours)

