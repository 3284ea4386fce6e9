"""One grouping across figures: the regimes of a regimes file on tiles.

The letters A, B, ... name several groupings in this library: the leaves of
a Ward tree of some tiles (:func:`~convml_tt.interpretation.plots.dendrogram`,
Ward clusters of :func:`~convml_tt.interpretation.physical.cluster_labels`)
and the regimes of a regimes file (:func:`~.regimes.fit_regimes`, the
regime maps). Figures that are given a regimes file
(:class:`~.regimes.Regimes` or its JSON path) use it and only it:

- :func:`tile_regimes`: each tile's regime name (its nearest centroid;
  ``"unassigned"`` beyond the regimes' unassigned distance), the grouping
  of the box plots (``cluster_boxplots(da, clusters=regimes)``);
- :func:`leaf_names`: the dendrogram's leaves (as many as regimes) named
  after the regime they share most tiles with (Hungarian method), and the
  share of tiles on which leaf and regime agree, which its title states;
- :func:`describe`: the words a title uses for a grouping.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from .unassigned import is_unassigned

__all__ = ["is_regimes", "as_regimes", "tile_regimes", "leaf_names", "describe", "UNASSIGNED_NAME"]

#: the group of tiles farther than the regimes' unassigned distance from every centroid
UNASSIGNED_NAME = "unassigned"


def is_regimes(obj: Any) -> bool:
    """Whether ``obj`` is a :class:`~.regimes.Regimes` or the path of a regimes JSON file."""
    from .regimes import Regimes

    if isinstance(obj, Regimes):
        return True
    return isinstance(obj, (str, Path)) and str(obj).lower().endswith(".json")


def as_regimes(obj: Any):
    """``obj`` as :class:`~.regimes.Regimes` (loaded from a JSON path)."""
    from .regimes import Regimes

    return obj if isinstance(obj, Regimes) else Regimes.load(obj)


def tile_regimes(da: xr.DataArray, regimes: Any) -> np.ndarray:
    """The regime name (str) of each tile of embeddings ``da`` ``(tile_id,
    emb_dim)``: that of its nearest centroid, ``"unassigned"`` where it is
    farther than its nearest regime's ``unassigned_distance``. Regimes of another
    embedding size or model (``model_sha256``) are refused."""
    reg = as_regimes(regimes)
    e = int(da.sizes["emb_dim"])
    if e != reg.emb_dim:
        raise ValueError(f"the regimes were fitted to {reg.emb_dim}-dimensional embeddings but these tiles have "
                         f"emb_dim {e}; give the regimes fitted to this model's embeddings")
    sha = str(da.attrs.get("model_sha256") or "")
    if sha and reg.model_sha256 and sha != reg.model_sha256:
        raise ValueError(f"the regimes were fitted to embeddings of another model (sha256 {reg.model_sha256[:12]}) "
                         f"than these tiles' (sha256 {sha[:12]}); give the regimes of this model")
    idx, dist = reg.nearest(np.asarray(da.transpose("tile_id", "emb_dim").values, np.float64))
    names = np.array(reg.names, dtype=object)[idx]
    names[is_unassigned(idx, dist, reg.unassigned_distance)] = UNASSIGNED_NAME
    return names.astype(str)


def leaf_names(groups: Sequence[np.ndarray], regime_of_tile: np.ndarray,
               names: Sequence[str]) -> tuple[list[str], float]:
    """Name each leaf (``groups``: tile indices per leaf, as many as regimes)
    after the regime (of ``names``) it shares most tiles with, each regime
    once (Hungarian method); returns the leaf names and the share (0-1) of
    tiles whose leaf carries their own regime's name."""
    from scipy.optimize import linear_sum_assignment

    pos = {n: i for i, n in enumerate(names)}
    table = np.zeros((len(groups), len(names)), dtype=np.int64)
    for i, g in enumerate(groups):
        for r in regime_of_tile[g]:
            if r in pos:
                table[i, pos[r]] += 1
    rows, cols = linear_sum_assignment(-table)
    out = [""] * len(groups)
    for r, c in zip(rows, cols):
        out[int(r)] = str(names[int(c)])
    agree = sum(int(table[r, c]) for r, c in zip(rows, cols)) / max(1, len(regime_of_tile))
    return out, float(agree)


def describe(clusters: Any, n: int | None = None) -> str:
    """How a title names a grouping: ``regimes of 'r.json' (kmeans, N=6)``,
    ``Ward clusters (a Ward tree of these tiles, N=6; not a regimes file)``
    or the label coordinate's name."""
    if is_regimes(clusters):
        reg = as_regimes(clusters)
        src = f" of {Path(clusters).name!r}" if isinstance(clusters, (str, Path)) else ""
        return f"regimes{src} ({reg.method}, N={reg.n_regimes})"
    if isinstance(clusters, str) and clusters == "ward":
        return f"Ward clusters (a Ward tree of these tiles{'' if n is None else f', N={n}'}; not a regimes file)"
    return clusters if isinstance(clusters, str) else "clusters"
