"""Regimes in physical terms: the organisation indices and co-located field
statistics of tiles (coordinates of the embeddings, see
:mod:`convml_tt.interpretation.embeddings`) per cluster, and how the
embedding's principal components relate to them.

- :func:`physical_variables`: the per-tile physical coordinates an
  embeddings array carries (organisation indices first, in the order of
  :data:`convml_tt.data.organisation.INDEX_NAMES`, then field statistics);
- :func:`cluster_labels`: one cluster name per tile: a label coordinate
  (e.g. the true ``regime_name`` of synthetic tiles), Ward clusters of the
  embeddings (``"ward"``: the leaves of the dendrogram, named A, B, ... left
  to right as :func:`~convml_tt.interpretation.plots.dendrogram` names them),
  or names given per tile;
- :func:`cluster_medians`: ``(cluster, variable)`` medians and tile counts;
- :func:`pc_correlations`: Pearson correlation of each of the first
  principal components of the embeddings with each variable,
  ``(component, variable)``.

Plots of these are in :mod:`convml_tt.interpretation.plots.physical`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["physical_variables", "cluster_labels", "cluster_medians", "pc_correlations", "variable_label"]


def _tiles(da: xr.DataArray, what: str) -> xr.DataArray:
    from .plots._common import check_tiles_array

    return check_tiles_array(da, what)


def physical_variables(da: xr.DataArray) -> list[str]:
    """Names of the numeric per-tile coordinates of ``da`` that are
    organisation indices or co-located field statistics (``{field}_min``,
    ``_mean``, ``_max``) with at least one finite value: indices in their
    standard order, then the field statistics in coordinate order."""
    from ..data.colocated import FIELD_STATISTICS
    from ..data.organisation import INDEX_NAMES

    def usable(name: str) -> bool:
        c = da.coords[name]
        return c.dims == ("tile_id",) and c.dtype.kind in "fiu" and bool(np.isfinite(c.values.astype(float)).any())

    names = [n for n in INDEX_NAMES if n in da.coords and usable(n)]
    for n in da.coords:
        n = str(n)
        base, _, stat = n.rpartition("_")
        if base and stat in FIELD_STATISTICS and n not in names and usable(n):
            names.append(n)
    return names


def variable_label(da: xr.DataArray, name: str) -> str:
    """``"name (units)"`` for axis labels (units from the coordinate's attributes;
    sizes in km rather than m)."""
    units = str(da.coords[name].attrs.get("units", "")) if name in da.coords else ""
    if units == "m" and name.endswith("_size_m"):
        return f"{name[:-2]} (km)"
    return f"{name} ({units})" if units and units != "1" else name


def variable_values(da: xr.DataArray, name: str) -> np.ndarray:
    """Values of one physical coordinate as float64 (sizes converted m -> km, see :func:`variable_label`)."""
    v = np.asarray(da.coords[name].values, np.float64)
    if str(da.coords[name].attrs.get("units", "")) == "m" and name.endswith("_size_m"):
        v = v / 1e3
    return v


def _check_variables(da: xr.DataArray, variables: Sequence[str] | None) -> list[str]:
    if variables is None:
        found = physical_variables(da)
        if not found:
            raise ValueError(
                "the embeddings carry no organisation indices or field statistics (coordinates such as iorg, "
                "cloud_fraction, C13_mean); embed a dataset written by this convml_tt version, whose "
                "recipe has a cloud mask (or made with --fields), or pass variables=[...]")
        return found
    variables = [str(v) for v in variables]
    missing = [v for v in variables if v not in da.coords or da.coords[v].dims != ("tile_id",)]
    if missing:
        raise ValueError(f"variables {missing} are not per-tile coordinates of the embeddings; the physical "
                         f"ones it has: {physical_variables(da)}")
    return variables


def cluster_labels(da: xr.DataArray, clusters: Any = "ward", n_clusters: int | None = None) -> np.ndarray:
    """One cluster name per tile (str array ``(n_tiles,)``).

    ``clusters``: ``"ward"`` (Ward clusters of the embeddings, ``n_clusters``
    of them, default the number of distinct ``regime`` labels or 6, named
    A, B, ... in dendrogram order), the name of a label coordinate (e.g.
    ``"regime_name"``, ``"regime"``), the regimes of a regimes file
    (:class:`~convml_tt.interpretation.regimes.Regimes` or its JSON path:
    each tile's nearest regime, ``"unassigned"`` beyond its unassigned
    distance; the grouping of the regime maps, see
    :mod:`convml_tt.interpretation.grouping`), or a sequence / DataArray of
    one name per tile (e.g. the labels
    :func:`~convml_tt.interpretation.plots.dendrogram` returns).
    """
    from .grouping import is_regimes, tile_regimes

    da = _tiles(da, "cluster_labels")
    n = da.sizes["tile_id"]
    if is_regimes(clusters):
        return tile_regimes(da, clusters)
    if isinstance(clusters, str) and clusters == "ward":
        from .metrics import leaf_members, ward_linkage
        from .regimes import regime_letters

        if n_clusters is None:
            n_clusters = len(np.unique(da["regime"].values[da["regime"].values >= 0])) if "regime" in da.coords else 6
            n_clusters = max(2, int(n_clusters))
        if not 1 <= n_clusters <= n:
            raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of tiles ({n})")
        groups = leaf_members(ward_linkage(np.asarray(da.values, np.float64)), int(n_clusters))
        names = regime_letters(len(groups))
        out = np.empty(n, dtype=object)
        for name, g in zip(names, groups):
            out[g] = name
        return out.astype(str)
    if isinstance(clusters, str):
        if clusters not in da.coords or da.coords[clusters].dims != ("tile_id",):
            raise ValueError(f"clusters={clusters!r} is neither 'ward' nor a per-tile coordinate of the embeddings "
                             f"(coordinates: {sorted(str(c) for c in da.coords)})")
        return np.asarray(da.coords[clusters].values).astype(str)
    if isinstance(clusters, xr.DataArray) and "tile_id" in clusters.dims:
        return np.asarray(clusters.sel(tile_id=da.tile_id.values).values).astype(str)
    arr = np.asarray(clusters)
    if arr.shape != (n,):
        raise ValueError(f"clusters must be 'ward', a coordinate name or one name per tile ({n}), got shape {arr.shape}")
    return arr.astype(str)


def _order(names: np.ndarray, da: xr.DataArray, clusters: Any) -> list[str]:
    """Cluster names in a stable order: regime order for regime names, else
    sorted (``unassigned`` last)."""
    uniq = sorted(set(names.tolist()), key=lambda s: (s == "unassigned", s))
    if isinstance(clusters, str) and clusters == "regime_name" and "regime" in da.coords:
        first = {}
        for nm, r in zip(names, da["regime"].values):
            first.setdefault(nm, int(r))
        uniq.sort(key=lambda s: first.get(s, 10**6))
    return [u for u in uniq if u not in ("", "nan")] + [u for u in uniq if u in ("", "nan")]


def cluster_medians(da: xr.DataArray, clusters: Any = "ward", variables: Sequence[str] | None = None,
                    n_clusters: int | None = None) -> xr.DataArray:
    """Median of each physical variable over the tiles of each cluster.

    Returns a DataArray ``(cluster, variable)`` (NaN-aware medians; sizes
    in km, see :func:`variable_label`) with coordinates ``n_tiles(cluster)``
    and, when the tiles carry true regimes, ``regime_name(cluster)``: the
    most common regime of the cluster.
    """
    da = _tiles(da, "cluster_medians")
    variables = _check_variables(da, variables)
    names = cluster_labels(da, clusters, n_clusters)
    order = _order(names, da, clusters)
    values = np.stack([variable_values(da, v) for v in variables], axis=1)
    med = np.full((len(order), len(variables)), np.nan)
    counts = np.zeros(len(order), np.int64)
    for i, c in enumerate(order):
        sel = values[names == c]
        counts[i] = len(sel)
        for j in range(len(variables)):
            col = sel[:, j][np.isfinite(sel[:, j])]
            if col.size:
                med[i, j] = np.median(col)
    out = xr.DataArray(med, dims=("cluster", "variable"),
                       coords={"cluster": order, "variable": variables, "n_tiles": ("cluster", counts)},
                       name="median", attrs={"long_name": "median over the tiles of each cluster"})
    if "regime_name" in da.coords and not (isinstance(clusters, str) and clusters == "regime_name"):
        truth = np.asarray(da["regime_name"].values).astype(str)
        common = []
        for c in order:
            vals, n = np.unique(truth[names == c], return_counts=True)
            common.append(str(vals[np.argmax(n)]) if len(vals) else "")
        out = out.assign_coords(regime_name=("cluster", common))
    out["variable"].attrs["units"] = " ".join(variable_label(da, v) for v in variables)
    return out


def pc_correlations(da: xr.DataArray, n_components: int | None = None,
                    variables: Sequence[str] | None = None) -> xr.DataArray:
    """Pearson correlation of each of the first ``n_components`` principal
    components of the embeddings with each physical variable.

    ``n_components``: 1 .. the components the embeddings have, ``min(emb_dim,
    tiles - 1)`` (more is a ValueError, not clipped); None: up to 5.

    The components come from the SVD of the centred embeddings (sign fixed
    so that each component's largest loading is positive, as in the PCA
    scatter plots); tiles where a variable is NaN are left out of that
    variable's correlations. Returns a DataArray ``(component, variable)``
    (component 1, 2, ...) with ``explained_variance_ratio(component)``.
    """
    da = _tiles(da, "pc_correlations")
    variables = _check_variables(da, variables)
    x = np.asarray(da.values, np.float64)
    n_tiles, n_dim = x.shape
    if n_components is not None and (int(n_components) != n_components or n_components < 1):
        raise ValueError(f"n_components={n_components!r} must be a whole number >= 1")
    if n_tiles < 3:
        raise ValueError(f"pc_correlations needs at least 3 tiles, got {n_tiles}")
    most = min(n_dim, n_tiles - 1)  # principal components the embeddings have
    if n_components is not None and n_components > most:
        raise ValueError(f"n_components={n_components} (--n-components) is more than the {most} principal "
                         f"components that {n_tiles} tiles of {n_dim}-dimensional embeddings have "
                         f"(min(emb_dim, tiles - 1)); use 1 <= n_components <= {most}")
    k = int(min(5, most) if n_components is None else n_components)
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    scores = xc @ (comps * signs[:, None]).T
    var = s**2
    ratio = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    corr = np.full((k, len(variables)), np.nan)
    for j, v in enumerate(variables):
        y = variable_values(da, v)
        ok = np.isfinite(y)
        if ok.sum() < 3 or np.std(y[ok]) == 0:
            continue
        yc = y[ok] - y[ok].mean()
        for i in range(k):
            p = scores[ok, i] - scores[ok, i].mean()
            den = np.sqrt((p**2).sum() * (yc**2).sum())
            corr[i, j] = (p * yc).sum() / den if den > 0 else np.nan
    return xr.DataArray(corr, dims=("component", "variable"),
                        coords={"component": np.arange(1, k + 1), "variable": variables,
                                "explained_variance_ratio": ("component", ratio)},
                        name="correlation",
                        attrs={"long_name": "Pearson correlation of embedding principal components with "
                                            "per-tile physical variables", "units": "1"})
