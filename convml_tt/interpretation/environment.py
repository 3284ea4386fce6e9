"""Regimes against their environment: which reanalysis conditions (EIS,
wind speed, humidity, SST, ...; :mod:`convml_tt.data.fields`) each regime
lives in.

The input is either tile embeddings ``(tile_id, emb_dim)`` whose
coordinates carry the environment (``EIS_mean``, ... from ``convml_tt
triplets --env``) with a regime per tile (a regimes file: each tile's
nearest centroid; or a label coordinate, e.g. ``regime_name``), or a regime
map (``convml_tt regimes assign`` of a map made with ``convml_tt map
--env``: ``regime(time, y, x)`` beside ``EIS_mean(time, y, x)``, ...).

- :func:`environment_table`: one row per tile / valid map cell: its regime
  name and the area mean of each environment field (column ``EIS`` holds
  ``EIS_mean``, in the field's units). Unassigned tiles and cells (farther
  from their nearest centroid than that regime's ``unassigned_distance``,
  the rule of regime maps, :mod:`.unassigned`) belong to no regime: they
  are left out of the rows and of everything computed from them, and their
  count and share are in ``table.attrs`` (``n_unassigned``,
  ``unassigned_share``);
- :func:`regime_distributions`: ``(regime, variable, statistic)`` count,
  mean, standard deviation and quartiles per regime;
- :func:`conditional_frequency`: the classic joint-histogram figure's
  numbers: for each 2-D bin of two environment variables, the fraction of
  the samples in each regime (NaN where the bin has fewer than
  ``min_count`` samples);
- :func:`environment_pc_correlations`: Pearson correlation of each of the
  embeddings' principal components with each environment field.

The figure is :func:`convml_tt.interpretation.plots.environment.environment_figure`
(``convml_tt plot environment FILE --x EIS --y WS10``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .regime_maps import check_model_of_regimes
from .regimes import Regimes
from .unassigned import UNASSIGNED, map_cut

__all__ = ["environment_variables", "environment_table", "regime_distributions", "conditional_frequency",
           "environment_pc_correlations", "unassigned_text", "STATISTICS"]

#: statistics of :func:`regime_distributions`
STATISTICS = ("count", "mean", "std", "q25", "median", "q75")


def environment_variables(data: xr.DataArray | xr.Dataset) -> list[str]:
    """Names of the environment fields ``data`` carries (``X`` for every
    ``X_mean`` per-tile coordinate of embeddings or ``(time, y, x)``
    variable of a map whose ``X`` is a registered field), in file order."""
    from ..data.fields import FIELDS

    known = {n.upper() for n in FIELDS.names()}
    names = list(data.coords) + (list(data.data_vars) if isinstance(data, xr.Dataset) else [])
    out = []
    for n in map(str, names):
        base, _, stat = n.rpartition("_")
        if stat == "mean" and base.upper() in known and base not in out:
            out.append(base)
    return out


def _regime_of_tiles(da: xr.DataArray, regimes: Any, clusters: str | None, unassigned_distance: Any = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(regime name per tile, unassigned (n,) bool, the cut or None)``:
    nearest centroid of ``regimes`` (a Regimes or its JSON path; unassigned
    beyond its cut, or ``unassigned_distance``), else the label coordinate
    ``clusters`` (default ``regime_name`` when present), else Ward clusters
    of the embeddings (none unassigned)."""
    if regimes is not None:
        check_model_of_regimes(regimes, "these embeddings", emb_dim=da.sizes["emb_dim"],
                               sha=da.attrs.get("model_sha256"), featurizer=da.attrs.get("featurizer"),
                               model_path=da.attrs.get("model_path") or "", require_sha=False)
        code, _ = regimes.assign(np.asarray(da.transpose("tile_id", "emb_dim").values), unassigned_distance)
        out = code == UNASSIGNED
        return np.asarray(regimes.names)[np.where(out, 0, code)], out, regimes.cut(unassigned_distance)
    if unassigned_distance is not None:
        raise ValueError("an unassigned distance applies to the regimes of a regimes file; give regimes= "
                         "(--regimes REGIMES.json) with it")
    from .physical import cluster_labels

    if clusters is None:
        clusters = "regime_name" if "regime_name" in da.coords else "ward"
    labels = cluster_labels(da, clusters)
    return labels, np.zeros(len(labels), bool), None


def environment_table(data: Any, variables: Sequence[str] | None = None, regimes: Any = None,
                      clusters: str | None = None, unassigned_distance: Any = None) -> pd.DataFrame:
    """One row per tile (embeddings) or valid map cell (regime map) with a
    regime: column ``regime`` (its name) and one column per environment
    field (the area mean, the field's units; NaN where the tile has no value).
    Unassigned tiles or cells (the regimes' rule, as in regime maps) are
    left out and counted.

    Parameters
    ----------
    data : embeddings ``(tile_id, emb_dim)`` (or ``(tile_type, tile_id,
        emb_dim)``: the anchors), a regime map Dataset, or the path of either.
    variables : field names (default :func:`environment_variables`).
    regimes : for embeddings: a :class:`~convml_tt.interpretation.regimes.Regimes`
        or its JSON path (each tile's nearest centroid).
    clusters : for embeddings without ``regimes``: a per-tile label
        coordinate, or ``"ward"`` (default ``regime_name`` when present, else Ward).
    unassigned_distance : for embeddings with ``regimes``: tiles farther than
        this (embedding units; one, or one per regime) from their nearest
        centroid are unassigned (default: the regimes file's own distances).
        A regime map carries its own cut (assign it again to change it).

    The column units are in ``table.attrs["units"]``, the regime names
    in their order in ``table.attrs["regimes"]``, the unassigned tiles or
    cells left out in ``table.attrs["n_unassigned"]``, their share of the
    tiles or cells with a regime or unassigned in ``unassigned_share`` (0-1)
    and the cut in ``unassigned_distance`` (one per regime; None: no cut).
    """
    data = _load(data)
    if variables is None:
        variables = environment_variables(data)
        if not variables:
            raise ValueError("the input carries no environment fields (coordinates or variables such as EIS_mean); "
                             "make the tiles with `convml_tt triplets --env EIS,WS10 --env-files ...` or the map "
                             "with `convml_tt map --env ...`")
    variables = [str(v) for v in variables]
    have = set(map(str, data.coords)) | (set(map(str, data.data_vars)) if isinstance(data, xr.Dataset) else set())
    missing = [v for v in variables if f"{v}_mean" not in have]
    if missing:
        raise ValueError(f"environment fields {missing} are not in the input (it has {environment_variables(data)})")
    if isinstance(data, xr.Dataset):
        if "regime" not in data.variables or data["regime"].dims != ("time", "y", "x"):
            raise ValueError("a map needs regime(time, y, x); assign regimes first (`convml_tt regimes assign`)")
        if unassigned_distance is not None:
            raise ValueError("a regime map carries its own unassigned cells; assign it again with `convml_tt "
                             "regimes assign --unassigned-distance D` to change the distance")
        code = np.asarray(data["regime"].values).reshape(-1).astype(np.int64)
        names = [str(s) for s in json.loads(data.attrs["regime_names"])] if "regime_names" in data.attrs else [
            str(i) for i in range(int(code.max()) + 1)]
        ok = (code >= 0) & (code < len(names))
        out, cut = code == UNASSIGNED, map_cut(data)
        cols = {"regime": np.asarray(names, dtype=object)[code[ok]]}
        for v in variables:
            cols[v] = np.asarray(data[f"{v}_mean"].transpose("time", "y", "x").values, np.float64).reshape(-1)[ok]
        order = names
    else:
        if regimes is not None and not isinstance(regimes, Regimes):
            regimes = Regimes.load(regimes)
        labels, out, cut = _regime_of_tiles(data, regimes, clusters, unassigned_distance)
        cols = {"regime": labels[~out].astype(object)}
        for v in variables:
            cols[v] = np.asarray(data.coords[f"{v}_mean"].values, np.float64)[~out]
        from .physical import _order

        if clusters is None and regimes is None:
            clusters = "regime_name" if "regime_name" in data.coords else "ward"
        order = regimes.names if regimes is not None else _order(labels, data, clusters)  # in code order
    table = pd.DataFrame(cols)
    table.attrs["units"] = {v: str(data[f"{v}_mean"].attrs.get("units", "")) for v in variables}
    table.attrs["regimes"] = [str(o) for o in order]
    n_out = int(out.sum())
    table.attrs["n_unassigned"] = n_out
    table.attrs["unassigned_share"] = n_out / (len(table) + n_out) if len(table) + n_out else float("nan")
    table.attrs["unassigned_distance"] = None if cut is None else [float(c) for c in np.atleast_1d(cut)]
    return table


def unassigned_text(table: pd.DataFrame) -> str:
    """``; 12 unassigned (3.1 %) left out`` for a table with unassigned rows left out, else ``""``."""
    n = int(table.attrs.get("n_unassigned", 0))
    return f"; {n} unassigned ({100 * table.attrs['unassigned_share']:.1f} %) left out" if n else ""


def _unassigned_attrs(table: pd.DataFrame) -> dict[str, Any]:
    """The unassigned count and share of ``table``'s attributes (for the results computed from it)."""
    return {k: table.attrs[k] for k in ("n_unassigned", "unassigned_share") if k in table.attrs}


def _load(data: Any) -> xr.DataArray | xr.Dataset:
    if isinstance(data, (str, Path)):
        from .regimes import is_regime_map, load_regime_map

        if is_regime_map(data):
            return load_regime_map(data)
        from .embeddings import load_embeddings

        data = load_embeddings(data)
    if isinstance(data, xr.DataArray):
        if "tile_type" in data.dims:
            data = data.sel(tile_type="anchor")
        if set(data.dims) != {"tile_id", "emb_dim"}:
            raise ValueError(f"embeddings must be (tile_id, emb_dim), got {data.dims}")
        return data.transpose("tile_id", "emb_dim")
    if isinstance(data, xr.Dataset):
        return data
    raise TypeError(f"expected embeddings (DataArray), a regime map (Dataset) or a path, got {type(data).__name__}")


def _regimes(table: pd.DataFrame) -> list[str]:
    present = set(table["regime"].tolist())
    order = [r for r in table.attrs.get("regimes", []) if r in present]
    return order + sorted(present - set(order))


def regime_distributions(table: pd.DataFrame, variables: Sequence[str] | None = None) -> xr.DataArray:
    """Per-regime distribution of each environment variable:
    ``(regime, variable, statistic)`` with statistics :data:`STATISTICS`
    (``count``: samples with a finite value; the others in the variable's
    units, NaN for a regime without values). ``table``: :func:`environment_table`
    (unassigned samples are not in it: their count and share are the
    attributes ``n_unassigned`` and ``unassigned_share``)."""
    variables = [c for c in table.columns if c != "regime"] if variables is None else list(variables)
    order = _regimes(table)
    out = np.full((len(order), len(variables), len(STATISTICS)), np.nan)
    labels = table["regime"].to_numpy()
    for i, r in enumerate(order):
        for j, v in enumerate(variables):
            x = table[v].to_numpy(np.float64)[labels == r]
            x = x[np.isfinite(x)]
            out[i, j, 0] = x.size
            if x.size:
                out[i, j, 1:] = [x.mean(), x.std(), *np.percentile(x, [25, 50, 75])]
    da = xr.DataArray(out, dims=("regime", "variable", "statistic"),
                      coords={"regime": order, "variable": variables, "statistic": list(STATISTICS)},
                      name="distribution", attrs={"long_name": "distribution of environment fields per regime",
                                                  **_unassigned_attrs(table)})
    da["variable"].attrs["units"] = json.dumps({v: table.attrs.get("units", {}).get(v, "") for v in variables})
    return da


def _edges(x: np.ndarray, bins: int | Sequence[float], name: str) -> np.ndarray:
    if np.ndim(bins) == 0:
        n = int(bins)
        if n < 1:
            raise ValueError(f"bins for {name} must be >= 1, got {bins}")
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            raise ValueError(f"{name} has no finite values")
        lo, hi = float(finite.min()), float(finite.max())
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        return np.linspace(lo, hi, n + 1)
    edges = np.asarray(bins, np.float64)
    if edges.ndim != 1 or edges.size < 2 or not (np.diff(edges) > 0).all():
        raise ValueError(f"bin edges for {name} must be increasing, at least two, got {bins}")
    return edges


def conditional_frequency(table: pd.DataFrame, x: str, y: str, x_bins: int | Sequence[float] = 10,
                          y_bins: int | Sequence[float] = 10, min_count: int = 10) -> xr.Dataset:
    """Frequency of each regime conditioned on two environment variables.

    Samples (rows of :func:`environment_table`) with finite ``x`` and ``y``
    are binned on ``x_bins`` x ``y_bins`` (a number of equal bins over the
    values' range, or edges; values outside the edges are left out; the
    last bin includes its right edge).

    Returns a Dataset with ``count(x_bin, y_bin)`` (samples per bin),
    ``frequency(regime, x_bin, y_bin)`` (fraction of the bin's samples in
    each regime, summing to 1 over regimes; NaN where ``count < min_count``)
    and ``x_edges``/``y_edges``; ``x_bin``/``y_bin`` are the bin centres in
    the variables' units. Unassigned samples are not in the table (so not in
    the fractions); attributes ``n_unassigned`` and ``unassigned_share`` say how many.
    """
    for v in (x, y):
        if v not in table.columns or v == "regime":
            raise ValueError(f"{v!r} is not an environment variable of the table (it has "
                             f"{[c for c in table.columns if c != 'regime']})")
    if int(min_count) < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    xv, yv = table[x].to_numpy(np.float64), table[y].to_numpy(np.float64)
    xe, ye = _edges(xv, x_bins, x), _edges(yv, y_bins, y)
    order = _regimes(table)
    labels = table["regime"].to_numpy()
    ok = np.isfinite(xv) & np.isfinite(yv) & (xv >= xe[0]) & (xv <= xe[-1]) & (yv >= ye[0]) & (yv <= ye[-1])
    ix = np.clip(np.searchsorted(xe, xv[ok], side="right") - 1, 0, len(xe) - 2)
    iy = np.clip(np.searchsorted(ye, yv[ok], side="right") - 1, 0, len(ye) - 2)
    pos = {r: i for i, r in enumerate(order)}
    ir = np.array([pos[r] for r in labels[ok]], dtype=np.int64)
    counts = np.zeros((len(order), len(xe) - 1, len(ye) - 1), np.int64)
    np.add.at(counts, (ir, ix, iy), 1)
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        freq = np.where(total >= int(min_count), counts / total, np.nan)
    units = table.attrs.get("units", {})
    coords = {"regime": order, "x_bin": ("x_bin", 0.5 * (xe[1:] + xe[:-1]), {"long_name": x, "units": units.get(x, "")}),
              "y_bin": ("y_bin", 0.5 * (ye[1:] + ye[:-1]), {"long_name": y, "units": units.get(y, "")})}
    return xr.Dataset(
        {"frequency": (("regime", "x_bin", "y_bin"), freq,
                       {"long_name": f"fraction of each regime in bins of {x} and {y}", "units": "1"}),
         "count": (("x_bin", "y_bin"), total, {"long_name": "samples per bin"}),
         "x_edges": ("x_edge", xe, {"units": units.get(x, "")}), "y_edges": ("y_edge", ye, {"units": units.get(y, "")})},
        coords=coords, attrs={"x": x, "y": y, "min_count": int(min_count), **_unassigned_attrs(table)})


def environment_pc_correlations(da: Any, n_components: int = 5, variables: Sequence[str] | None = None
                                ) -> xr.DataArray:
    """Pearson correlation of the embeddings' first principal components with
    each environment field's area mean: ``(component, variable)``, variables
    named ``EIS``, ... (see :func:`convml_tt.interpretation.physical.pc_correlations`)."""
    from .physical import pc_correlations

    da = _load(da)
    if not isinstance(da, xr.DataArray):
        raise ValueError("principal components need tile embeddings, not a regime map")
    variables = environment_variables(da) if variables is None else [str(v) for v in variables]
    if not variables:
        raise ValueError("the embeddings carry no environment fields (coordinates such as EIS_mean)")
    corr = pc_correlations(da, n_components=n_components, variables=[f"{v}_mean" for v in variables])
    return corr.assign_coords(variable=variables)
