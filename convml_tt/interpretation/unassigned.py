"""Unassigned cells: embeddings too far from every regime to be called one.

Regimes are fitted to some tiles; a map applies them to every cell of other
scenes, where there may be clouds (or land, or a sensor artefact) the
fitting tiles never showed. Forcing those cells into their nearest regime
states something the regimes cannot support, so a regimes file stores
``unassigned_distance`` (embedding units): by default the
:data:`DEFAULT_PERCENTILE`-th percentile of the fitting tiles' Euclidean
distances to their own regime's centroid (``regimes fit
--unassigned-percentile P``), or a distance given directly
(``--unassigned-distance D``). A cell whose nearest centroid is farther is
*unassigned*: code :data:`UNASSIGNED` (-2) in ``regime(time, y, x)``
(``flag_meanings`` ``unassigned``; -1 stays the fill value of invalid
cells), grey in the map plots, a separate ``unassigned_fraction`` in the
fractions through time, its share in ``evaluate``.

A regimes file written before this field existed still loads: with no cut
(every cell assigned to its nearest regime, as it was made; its fitting
tiles' distances are not in the file, so today's percentile cannot be
computed from it) and a one-line note saying how to get one.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["UNASSIGNED", "DEFAULT_PERCENTILE", "GREY", "unassigned_cut", "checked_distance", "old_file_note",
           "unassigned_summary",
           "unassigned_by_truth"]

#: regime code of a valid cell farther than ``unassigned_distance`` from every centroid
UNASSIGNED = -2
#: default percentile (0-100] of the fitting tiles' distances to their centroid
DEFAULT_PERCENTILE = 99.0
#: the colour of unassigned cells in plots (RGBA, mid grey)
GREY = (0.55, 0.55, 0.55, 1.0)

log = logging.getLogger("convml_tt.interpretation.regimes")


def checked_distance(value: Any, what: str = "unassigned_distance") -> float | None:
    """``value`` as a distance > 0 (embedding units), or None (no cut); a
    one-line ValueError otherwise."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not np.isfinite(v) or v <= 0:
        raise ValueError(f"{what} {value!r} is not a distance > 0 (embedding units); give a positive number, "
                         f"or none to assign every cell")
    return v


def unassigned_cut(own_distances: np.ndarray, percentile: float | None = DEFAULT_PERCENTILE,
                   distance: float | None = None) -> tuple[float | None, float | None]:
    """``(unassigned_distance, unassigned_percentile)`` for fitting tiles whose
    distances to their own regime's centroid are ``own_distances`` (n,):
    ``distance`` when given (percentile None), else that ``percentile``
    (0 < p <= 100) of them; ``(None, None)`` when both are None (no cut)."""
    if distance is not None:
        return checked_distance(distance), None
    if percentile is None:
        return None, None
    p = float(percentile)
    if not 0 < p <= 100:
        raise ValueError(f"unassigned percentile {percentile!r} is outside (0, 100]; give e.g. 99 (the 99th "
                         f"percentile of the fitting tiles' distances to their centroid)")
    d = np.asarray(own_distances, dtype=np.float64)
    cut = float(np.percentile(d, p))
    if cut <= 0:  # all tiles on their centroids (duplicated embeddings): anything else is unassigned
        cut = float(np.finfo(np.float64).tiny)
    return cut, p


def old_file_note(path: Any) -> None:
    """The one-line note of a regimes file without ``unassigned_distance``."""
    log.warning(f"regimes file {str(path)!r} predates unassigned cells (it has no unassigned_distance): every "
                f"cell is assigned to its nearest regime, as when it was made; fit the regimes again (`convml_tt "
                f"regimes fit`, default the {DEFAULT_PERCENTILE:g}th percentile of the fitting tiles' distances) "
                f"or give `regimes assign --unassigned-distance D`")


def unassigned_by_truth(regime_map: Any):
    """Share of unassigned cells among the valid cells of each true regime of
    a map of labelled scenes: a ``pandas.DataFrame`` indexed by the true
    regime's name, columns ``n_cells`` and ``unassigned_share`` (0-1).

    The check of a held-out regime (one the fitting tiles never saw): most
    of its cells should be unassigned, few of the known regimes'."""
    import pandas as pd

    from .regime_maps import map_name, open_map, true_names

    ds = open_map(regime_map, "regime map", load=True)
    if "true_regime" not in ds.variables:
        raise ValueError(f"{map_name(regime_map)} carries no true regimes; the unassigned share per true regime "
                         f"needs a map of labelled scenes (`convml_tt map --labels synthetic`)")
    reg = np.asarray(ds["regime"].values).astype(np.int64).ravel()
    true = np.asarray(ds["true_regime"].values).astype(np.int64).ravel()
    valid = (reg >= 0) | (reg == UNASSIGNED)
    names = true_names(ds) or []
    rows = {}
    for lab in sorted(set(true[valid & (true >= 0)].tolist())):
        cells = valid & (true == lab)
        name = names[lab] if lab < len(names) else str(lab)
        rows[name] = {"n_cells": int(cells.sum()), "unassigned_share": float(np.mean(reg[cells] == UNASSIGNED))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("true_regime")


def unassigned_summary(regime_map: Any) -> dict[str, Any]:
    """``{"unassigned_distance", "n_valid", "unassigned_share"}`` of a regime
    map: its cut (NaN when it has none) and the share (0-1) of its valid cells
    that are unassigned."""
    from .regime_maps import open_map

    ds = open_map(regime_map, "regime map", load=True)
    reg = np.asarray(ds["regime"].values).astype(np.int64)
    valid = (reg >= 0) | (reg == UNASSIGNED)
    n = int(valid.sum())
    return {"unassigned_distance": float(ds.attrs.get("unassigned_distance", np.nan)), "n_valid": n,
            "unassigned_share": float(np.sum(reg == UNASSIGNED) / n) if n else float("nan")}
