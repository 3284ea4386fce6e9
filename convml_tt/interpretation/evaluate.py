"""The quality table of an embedding, with two library-computed baselines.

Baselines (computed by :func:`quality_table` when it can):

* ``untrained``: the same network architecture with random weights (same
  seed as training), embedding the same tiles through the same loader;
* ``tile statistics``: hand-crafted features of each tile: per-channel mean
  and standard deviation, cloud fraction (fraction of pixels whose mean
  display value over channels exceeds :data:`DISPLAY_CLOUD_THRESHOLD`) and
  the slope of the radially averaged spatial power spectrum (log-log),
  z-scored.

This module imports torch only inside the functions that need a model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..data.dataset import format as dataset_format
from ..data.dataset.packed import read_dataset_tile
from .metrics import adjusted_rand_index, cluster_purity, knn_accuracy, triplet_accuracy, ward_clusters

#: cloud threshold of the tile-statistics baseline, on the tiles' display
#: values scaled to 0..1 (the mean over channels of the 8-bit PNG / 255; with
#: the true-colour stretch, 0.35 is a reflectance of about 0.1)
DISPLAY_CLOUD_THRESHOLD = 0.35

BASELINES = ("untrained", "tile statistics")
METRIC_COLUMNS = ["triplet_accuracy", "knn_accuracy", "cluster_purity", "adjusted_rand_index"]


# --- hand-crafted tile statistics ------------------------------------------------
def spectral_slope(gray: np.ndarray) -> float:
    """Slope of the radially averaged spatial power spectrum of a square image
    (log power vs log wavenumber, fitted from the lowest non-zero wavenumber
    to Nyquist). ``gray``: (ny, nx) float."""
    g = np.asarray(gray, dtype=np.float64)
    g = g - g.mean()
    p = np.abs(np.fft.fft2(g)) ** 2
    ky = np.fft.fftfreq(g.shape[0]) * g.shape[0]
    kx = np.fft.fftfreq(g.shape[1]) * g.shape[1]
    kr = np.rint(np.hypot(ky[:, None], kx[None, :])).astype(np.int64)
    kmax = min(g.shape) // 2
    sel = (kr >= 1) & (kr <= kmax)
    power = np.bincount(kr[sel], weights=p[sel], minlength=kmax + 1)[1:]
    count = np.bincount(kr[sel], minlength=kmax + 1)[1:]
    k = np.arange(1, kmax + 1)
    mean_power = power / np.maximum(count, 1)
    ok = mean_power > 0
    if ok.sum() < 2:
        return 0.0
    return float(np.polyfit(np.log(k[ok]), np.log(mean_power[ok]), 1)[0])


def tile_statistics_features(image: np.ndarray, cloud_threshold: float = DISPLAY_CLOUD_THRESHOLD) -> np.ndarray:
    """Hand-crafted features of one tile ``image`` (ny, nx, channels), values in
    0..1: per-channel means, per-channel standard deviations, cloud fraction,
    spectral slope -> (2 * channels + 2,)."""
    im = np.asarray(image, dtype=np.float64)
    if im.ndim == 2:
        im = im[:, :, None]
    gray = im.mean(axis=2)
    return np.concatenate(
        [
            im.mean(axis=(0, 1)),
            im.std(axis=(0, 1)),
            [np.mean(gray > cloud_threshold), spectral_slope(gray)],
        ]
    )


def tile_statistics(
    dataset_path: str | Path,
    stage: str = "study",
    tile_type: str = "anchor",
    tile_ids: Sequence[int] | None = None,
    cloud_threshold: float = DISPLAY_CLOUD_THRESHOLD,
    standardize: bool = True,
    progress: bool = False,
) -> xr.DataArray:
    """Baseline "embedding" of hand-crafted tile statistics.

    Reads ``{dataset_path}/{stage}/{id:05d}_{tile_type}.png`` (or the tile
    in a packed dataset's shard; 8-bit, scaled
    to 0..1) and returns a DataArray (tile_id, emb_dim) of per-channel means,
    standard deviations, cloud fraction and spectral slope; z-scored over
    tiles when ``standardize`` (so no feature dominates distances). With
    ``tile_type="all"`` the result has a leading ``tile_type`` dimension.
    """
    if tile_type == "all":
        parts = [
            tile_statistics(dataset_path, stage, t, tile_ids, cloud_threshold, standardize=False, progress=progress)
            for t in ("anchor", "neighbor", "distant")
        ]
        da = xr.concat(parts, dim=pd.Index(["anchor", "neighbor", "distant"], name="tile_type"))
        if standardize:
            da = _zscore(da, over=("tile_type", "tile_id"))
        return da
    if tile_ids is None:
        tile_ids = dataset_format.tile_ids(dataset_path, stage, tile_type)
    ids = list(tile_ids)
    if progress:
        from tqdm.auto import tqdm

        ids_iter = tqdm(ids, desc=f"tile statistics ({tile_type})")
    else:
        ids_iter = ids
    feats = np.stack(
        [tile_statistics_features(read_dataset_tile(dataset_path, stage, i, tile_type) / 255.0,
                                  cloud_threshold) for i in ids_iter]
    )
    n_ch = (feats.shape[1] - 2) // 2
    names = [f"mean_ch{c}" for c in range(n_ch)] + [f"std_ch{c}" for c in range(n_ch)] + ["cloud_fraction", "spectral_slope"]
    da = xr.DataArray(
        feats,
        dims=("tile_id", "emb_dim"),
        coords={"tile_id": np.asarray(ids, dtype=np.int64), "feature": ("emb_dim", names)},
        attrs={"dataset_path": str(Path(dataset_path).resolve()), "stage": stage, "tile_type": tile_type,
               "model": "tile statistics"},
    )
    if standardize:
        da = _zscore(da, over=("tile_id",))
    return da


def _zscore(da: xr.DataArray, over: tuple[str, ...]) -> xr.DataArray:
    mean = da.mean(over)
    std = da.std(over)
    return ((da - mean) / std.where(std > 0, 1.0)).assign_attrs(da.attrs)


# --- the quality table -----------------------------------------------------------
def label_coordinate(da: xr.DataArray, label: str | None = None) -> str | None:
    """Name of the coordinate holding tile labels: ``label`` if given (must
    exist), else ``regime_name`` or ``regime`` or ``label`` when present."""
    if label is not None:
        if label not in da.coords:
            raise ValueError(
                f"label coordinate {label!r} not in the embeddings; available coordinates: {sorted(da.coords)}"
            )
        return label
    for name in ("regime_name", "regime", "label"):
        if name in da.coords:
            return name
    return None


def _anchor_view(da: xr.DataArray) -> xr.DataArray:
    if "tile_type" in da.dims:
        return da.sel(tile_type="anchor")
    return da


def embedding_scores(
    da: xr.DataArray,
    label: str | None = None,
    k: int = 5,
    n_clusters: int | None = None,
) -> dict[str, float]:
    """All metrics of one embedding DataArray that its content allows.

    ``triplet_accuracy`` needs a ``tile_type`` dimension (all three tile
    types); the label metrics need a label coordinate (``regime_name`` etc.,
    see :func:`label_coordinate`), measured on the anchors (or the single
    tile type). ``n_clusters`` defaults to the number of distinct labels.
    Missing ones are NaN.
    """
    out = {c: float("nan") for c in METRIC_COLUMNS}
    if "tile_type" in da.dims:
        out["triplet_accuracy"] = triplet_accuracy(da)
    tiles = _anchor_view(da).transpose("tile_id", "emb_dim")
    name = label_coordinate(tiles, label)
    if name is not None:
        labels = np.asarray(tiles[name].values)
        valid = pd.notna(labels) & (labels != "")
        x = tiles.values[valid]
        labels = labels[valid]
        n_unique = len(np.unique(labels))
        if len(x) >= 3 and n_unique >= 2:
            if not 1 <= k <= len(x) - 1:
                raise ValueError(f"k={k} neighbours: use 1 <= k <= {len(x) - 1} (the other labelled tiles "
                                 f"of the {len(x)})")
            out["knn_accuracy"] = knn_accuracy(x, labels, k=k)
            nc = n_clusters or n_unique
            if not 2 <= nc <= len(x):
                raise ValueError(f"n_clusters={nc}: use 2 <= n_clusters <= {len(x)} (the labelled tiles)")
            clusters = ward_clusters(x, nc)
            out["cluster_purity"] = cluster_purity(labels, clusters)
            out["adjusted_rand_index"] = adjusted_rand_index(labels, clusters)
    return out


def _check_model_of(embeddings: xr.DataArray, model: Any) -> None:
    """Refuse a ``model`` (file or module) that is not the one the embeddings
    record (``model_sha256``): its tiles and baselines would not be theirs."""
    want = str(embeddings.attrs.get("model_sha256") or "")
    if not want or model is None or (isinstance(model, str) and model == "tile_statistics"):
        return
    from .featurizers import model_sha256

    got = model_sha256(model)
    if got != want:
        name = str(model) if isinstance(model, (str, Path)) else type(model).__name__
        raise ValueError(f"the model {name} (sha256 {got[:12]}) is not the one that made the embeddings "
                         f"(model {embeddings.attrs.get('model_path') or '?'}, sha256 {want[:12]}); give "
                         f"--model the embeddings' model, or embed the tiles with this one")


def quality_table(
    embeddings: xr.DataArray,
    model: Any = None,
    label: str | None = None,
    k: int = 5,
    n_clusters: int | None = None,
    baselines: bool | Sequence[str] = True,
    dataset_path: str | Path | None = None,
    device: str | None = None,
    batch_size: int = 64,
    seed: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """The quality table: one row per embedding (``trained``, and with
    ``baselines`` also ``untrained`` and ``tile statistics``), columns
    :data:`METRIC_COLUMNS` (fractions 0..1; ARI in -1..1; NaN when not
    measurable). The number of tiles is in the ``n_tiles`` column.

    ``embeddings`` from ``get_embeddings`` (single tile type or ``"all"``).
    When it lacks the neighbour/distant tiles and ``model`` (a model or
    model-file path; default: the embeddings' ``model_path`` attribute when
    that file exists) is available, the missing tile types are embedded so
    that triplet accuracy can be measured. The untrained baseline needs the
    model's config (from ``model`` or the ``model_config`` attribute); the
    tile-statistics baseline needs the dataset folder (``dataset_path`` or
    the ``dataset_path`` attribute).
    """
    from .embeddings import get_embeddings, resolve_dataset_path

    attrs = embeddings.attrs
    stage = attrs.get("stage", "study")
    if model is None and attrs.get("model_path") and Path(attrs["model_path"]).exists():
        model = attrs["model_path"]
    _check_model_of(embeddings, model)
    ds_path = None
    try:
        ds_path = resolve_dataset_path(embeddings, dataset_path)
    except FileNotFoundError:
        if dataset_path is not None:
            raise
    trained = embeddings
    if "tile_type" not in trained.dims and model is not None and ds_path is not None:
        trained = get_embeddings(model, ds_path, stage=stage, tile_type="all", batch_size=batch_size,
                                 device=device, progress=progress)
        # keep the user's own label coordinates
        for name, coord in embeddings.coords.items():
            if name not in trained.coords and coord.dims == ("tile_id",):
                trained = trained.assign_coords({name: coord})
    rows = {"trained": embedding_scores(trained, label, k, n_clusters)}
    n_tiles = {"trained": int(trained.sizes["tile_id"])}

    user_labels = {n: c for n, c in embeddings.coords.items() if c.dims == ("tile_id",)}

    def with_labels(da: xr.DataArray) -> xr.DataArray:
        extra = {n: c.variable for n, c in user_labels.items() if n not in da.coords}
        return da.assign_coords(extra) if extra else da

    if baselines is True:
        baselines = BASELINES
    baselines = tuple(baselines or ())
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; choose from {BASELINES}")
    if "untrained" in baselines:
        config = None
        if model is not None:
            config = _model_config(model)
        elif "model_config" in attrs:
            config = json.loads(attrs["model_config"])
        if config is not None and ds_path is not None:
            untrained_model = untrained_like(config, seed=seed)
            un = get_embeddings(untrained_model, ds_path, stage=stage,
                                tile_type="all" if "tile_type" in trained.dims else attrs.get("tile_type", "anchor"),
                                batch_size=batch_size, device=device, progress=progress)
            un = with_labels(un.sel(tile_id=trained.tile_id))
            rows["untrained"] = embedding_scores(un, label, k, n_clusters)
            n_tiles["untrained"] = int(un.sizes["tile_id"])
    if "tile statistics" in baselines and ds_path is not None:
        tt_type = "all" if "tile_type" in trained.dims else attrs.get("tile_type", "anchor")
        stats = tile_statistics(ds_path, stage, tt_type, tile_ids=trained.tile_id.values, progress=progress)
        stats = with_labels(stats)
        for name, coord in _anchor_view(trained).coords.items():
            if coord.dims == ("tile_id",) and name not in stats.coords:
                stats = stats.assign_coords({name: coord.variable})
        rows["tile statistics"] = embedding_scores(stats, label, k, n_clusters)
        n_tiles["tile statistics"] = int(stats.sizes["tile_id"])
    df = pd.DataFrame.from_dict(rows, orient="index")[METRIC_COLUMNS]
    df["n_tiles"] = pd.Series(n_tiles)
    df.index.name = "embedding"
    return df


def physical_medians(embeddings: xr.DataArray, clusters: Any = "ward", n_clusters: int | None = None,
                     variables: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Per-cluster medians of the organisation indices and co-located field
    statistics the embeddings carry (:func:`convml_tt.interpretation.physical.cluster_medians`):
    one row per cluster (Ward clusters of the embeddings by default, named
    A, B, ... as the dendrogram's leaves; ``n_clusters`` as in
    :func:`quality_table`), columns ``n_tiles``, ``regime_name`` (the most
    common true regime, when known) and one per variable (sizes in km).
    None when the embeddings carry no such values (older datasets)."""
    from .physical import cluster_medians, physical_variables, variable_label

    da = _anchor_view(embeddings)
    if variables is None and not physical_variables(da):
        return None
    med = cluster_medians(da, clusters=clusters, variables=variables, n_clusters=n_clusters)
    df = pd.DataFrame(med.values, index=pd.Index([str(c) for c in med.cluster.values], name="cluster"),
                      columns=[variable_label(da, str(v)) for v in med["variable"].values])
    df.insert(0, "n_tiles", med.n_tiles.values.astype(int))
    if "regime_name" in med.coords:
        df.insert(1, "regime_name", [str(v) for v in med.regime_name.values])
    return df


def map_physical_medians(regime_map: xr.Dataset) -> pd.DataFrame | None:
    """Per-regime medians of the organisation indices of the cells of a
    regime map (its ``regime(time, y, x)`` and the index variables
    ``embed_domain`` stored per cell): one row per regime name (cells with a
    valid regime), columns ``n_cells`` and one per index (sizes in km).
    None when the map carries no indices."""
    from ..data.organisation import INDEX_NAMES

    names = [n for n in INDEX_NAMES if n in regime_map.variables and regime_map[n].dims == ("time", "y", "x")]
    if not names or "regime" not in regime_map.variables:
        return None
    regime = np.asarray(regime_map["regime"].transpose("time", "y", "x").values).astype(np.int64).ravel()
    letters = json.loads(regime_map.attrs["regime_names"]) if "regime_names" in regime_map.attrs else None
    cols: dict[str, np.ndarray] = {}
    for n in names:
        v = np.asarray(regime_map[n].transpose("time", "y", "x").values, np.float64).ravel()
        if v.dtype.kind == "f" and regime_map[n].dtype.kind in "iu":
            v[v < 0] = np.nan  # -1: no value
        if n.endswith("_size_m"):
            n, v = f"{n[:-2]} (km)", v / 1e3
        cols[n] = v
    rows = {}
    for k in sorted(set(regime[regime >= 0].tolist())):
        sel = regime == k
        row = {"n_cells": int(sel.sum())}
        for n, v in cols.items():
            ok = v[sel][np.isfinite(v[sel])]
            row[n] = float(np.median(ok)) if ok.size else np.nan
        rows[letters[k] if letters and k < len(letters) else str(k)] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "regime"
    return df


def _model_config(model: Any) -> dict:
    if isinstance(model, (str, Path)):
        from ..architectures.model_file import load_model

        model = load_model(model, device="cpu")
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ValueError(f"model {type(model).__name__} has no .config dict; pass a model made by convml_tt")
    return dict(config)


def untrained_like(config: dict, seed: int | None = None):
    """The encoder described by ``config`` with random initial weights: the
    network as it was before training.

    ``seed`` defaults to the config's ``seed`` or 42 (``make_learner``'s
    default), seeding torch before the layers are built as training does.
    """
    import torch

    from ..architectures.encoder import TripletEncoder

    if seed is None:
        seed = int(config.get("seed", 42) or 42)
    cfg = dict(config)
    cfg["pretrained"] = None  # random init, never a download
    torch.manual_seed(seed)
    return TripletEncoder.from_config(cfg).eval()


def to_markdown(df: pd.DataFrame, digits: int = 3) -> str:
    """Render a quality table (or any small DataFrame) as a GitHub markdown table."""
    cols = [df.index.name or ""] + [str(c) for c in df.columns]

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for idx, *values in df.itertuples(index=True, name=None):
        lines.append("| " + " | ".join([str(idx)] + [fmt(v) for v in values]) + " |")
    return "\n".join(lines)
