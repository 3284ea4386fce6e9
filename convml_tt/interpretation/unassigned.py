"""Unassigned cells: embeddings too far from their nearest regime to be called it.

Regimes are fitted to some tiles; a map applies them to every cell of other
scenes, where there may be clouds (or land, or a sensor artefact) the
fitting tiles never showed. Forcing those cells into their nearest regime
states something the regimes cannot support, so a regimes file stores an
``unassigned_distance`` per regime (embedding units, Euclidean, one value
per centroid) and the ``unassigned_rule`` that made them from the fitting
tiles' distances to their own regime's centroid
(``regimes fit --unassigned-percentile P --unassigned-rule R``):

* ``global`` (the default): one value for every regime, the P-th
  percentile of all fitting tiles' distances;
* ``per_regime``: each regime's own P-th percentile of its members'
  distances;

or one distance given directly (``--unassigned-distance D``, every regime).
A cell is *unassigned* when it is farther from its nearest centroid than
that regime's distance: code :data:`UNASSIGNED` (-2) in ``regime(time, y,
x)`` (``flag_meanings`` ``unassigned``; -1 stays the fill value of invalid
cells), grey in the map plots, a separate ``unassigned_fraction`` in the
fractions through time, its share in ``evaluate``. With the ``global`` rule
that is "farther than D from every centroid".

Which rule is the default was measured (``bench/unassigned.py``,
docs/regimes.md): cells of a regime the fitting tiles never saw lie near
the broadest regimes, whose own percentile is the largest, so the
``per_regime`` rule lets more of them in.

A regimes file of version 2 (one ``unassigned_distance``) loads with that
distance for every regime; one written before the field existed (version
1) loads with no cut (every cell assigned to its nearest regime, as it was
made; its fitting tiles' distances are not in the file, so today's
percentile cannot be computed from it) and a one-line note saying how to
get one.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

__all__ = ["UNASSIGNED", "DEFAULT_PERCENTILE", "DEFAULT_RULE", "RULES", "GREY", "unassigned_cut",
           "checked_distance", "checked_distances", "checked_rule", "is_unassigned", "map_cut", "cut_text",
           "old_file_note", "unassigned_summary", "unassigned_by_truth"]

#: regime code of a valid cell farther from its nearest centroid than that regime's ``unassigned_distance``
UNASSIGNED = -2
#: default percentile (0-100] of the fitting tiles' distances to their centroid
DEFAULT_PERCENTILE = 97.0
#: how the percentile makes the distances: one for all regimes, or each regime's own
RULES = ("global", "per_regime")
#: the default rule (measured: bench/unassigned.py, docs/regimes.md)
DEFAULT_RULE = "global"
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


def checked_distances(value: Any, n_regimes: int, what: str = "unassigned_distance") -> np.ndarray | None:
    """``value`` (one distance, or one per regime) as ``(n_regimes,)``
    float64 distances > 0 (embedding units), or None (no cut); a one-line
    ValueError otherwise."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return np.full(n_regimes, checked_distance(value, what))
    vals = list(np.asarray(value, dtype=object).ravel()) if not isinstance(value, (list, tuple)) else list(value)
    if len(vals) != n_regimes:
        raise ValueError(f"{what} {list(vals)!r} is not one distance per regime ({n_regimes}); give one number "
                         f"for all regimes or one per regime")
    return np.array([checked_distance(v, what) for v in vals], dtype=np.float64)


def checked_rule(rule: Any) -> str:
    """``rule`` as one of :data:`RULES` (``per-regime`` is read as ``per_regime``); a one-line ValueError otherwise."""
    r = str(rule).replace("-", "_") if isinstance(rule, str) else rule
    if r not in RULES:
        raise ValueError(f"unassigned rule {rule!r} is not one of {', '.join(RULES)} (global: one percentile of "
                         f"all fitting tiles' distances; per_regime: each regime's own percentile)")
    return r


def unassigned_cut(own_distances: np.ndarray, assigned: np.ndarray, n_regimes: int,
                   percentile: float | None = DEFAULT_PERCENTILE, distance: float | None = None,
                   rule: str = DEFAULT_RULE) -> tuple[np.ndarray | None, float | None, str | None]:
    """``(unassigned distances (n_regimes,), percentile, rule)`` for fitting
    tiles whose distances to their own regime's centroid are
    ``own_distances`` (n,) and whose regimes are ``assigned`` (n,) ints:
    ``distance`` for every regime when given (percentile and rule None);
    else that ``percentile`` (0 < p <= 100) of all of them (``rule``
    ``global``) or of each regime's members (``per_regime``);
    ``(None, None, None)`` when both are None (no cut)."""
    rule = checked_rule(rule)
    if distance is not None:
        return checked_distances(distance, n_regimes), None, None
    if percentile is None:
        return None, None, None
    p = float(percentile)
    if not 0 < p <= 100:
        raise ValueError(f"unassigned percentile {percentile!r} is outside (0, 100]; give e.g. 99 (the 99th "
                         f"percentile of the fitting tiles' distances to their centroid)")
    d = np.asarray(own_distances, dtype=np.float64)
    a = np.asarray(assigned, dtype=np.int64)
    if rule == "global":
        cut = np.full(n_regimes, np.percentile(d, p))
    else:  # every regime has members (k-means and Ward leaves are never empty)
        cut = np.array([np.percentile(d[a == i], p) if (a == i).any() else np.percentile(d, p)
                        for i in range(n_regimes)])
    # all tiles of a regime on its centroid (duplicated embeddings): anything else is unassigned
    return np.maximum(cut, np.finfo(np.float64).tiny), p, rule


def is_unassigned(nearest: np.ndarray, distance: np.ndarray, cut: np.ndarray | None) -> np.ndarray:
    """Which cells are unassigned (bool, like ``distance``): their ``distance``
    to their ``nearest`` centroid (indices) is above that regime's ``cut``
    (none unassigned when ``cut`` is None)."""
    if cut is None:
        return np.zeros(np.shape(distance), dtype=bool)
    return np.asarray(distance) > np.asarray(cut, dtype=np.float64)[np.asarray(nearest, dtype=np.int64)]


def map_cut(ds: Any) -> np.ndarray | None:
    """The per-regime unassigned distances a regime map records (attribute
    ``unassigned_distance``: one value, from maps before per-regime
    distances, or one per regime), or None when it has none."""
    if "unassigned_distance" not in ds.attrs:
        return None
    v = np.atleast_1d(np.asarray(ds.attrs["unassigned_distance"], dtype=np.float64))
    n = int(ds.attrs.get("n_regimes", len(v)))
    return np.full(n, v[0]) if len(v) == 1 else v


def cut_text(cut: np.ndarray, names: Sequence[str] | None = None, digits: int = 4) -> str:
    """Words for a cut, e.g. ``farther than 3.05 from every centroid`` (one
    value) or ``farther from their nearest centroid than its own distance
    (A 2.8, B 3.1)`` (per regime)."""
    cut = np.asarray(cut, dtype=np.float64)
    if np.all(cut == cut[0]):
        return f"farther than {cut[0]:.{digits}g} from every centroid"
    names = list(names) if names is not None and len(names) == len(cut) else [str(i) for i in range(len(cut))]
    each = ", ".join(f"{n} {c:.{digits}g}" for n, c in zip(names, cut))
    return f"farther from their nearest centroid than its own distance ({each})"


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
    map: its cut (the largest of its per-regime distances; NaN when it has
    none) and the share (0-1) of its valid cells that are unassigned."""
    from .regime_maps import open_map

    ds = open_map(regime_map, "regime map", load=True)
    reg = np.asarray(ds["regime"].values).astype(np.int64)
    valid = (reg >= 0) | (reg == UNASSIGNED)
    n = int(valid.sum())
    cut = map_cut(ds)
    return {"unassigned_distance": float(cut.max()) if cut is not None else np.nan, "n_valid": n,
            "unassigned_share": float(np.sum(reg == UNASSIGNED) / n) if n else float("nan")}
