"""Embeddings of a triplet dataset's tiles as an :class:`xarray.DataArray`.

``get_embeddings(model, dataset)`` runs the encoder over the tiles of one
stage in batches (CUDA when available) and returns a DataArray
``(tile_id, emb_dim)`` (or ``(tile_type, tile_id, emb_dim)`` for all three
tile types) carrying

* attributes: ``model_path``, ``model_sha256`` (hex SHA-256 of the model file,
  or of a module's weights), ``model_config`` (JSON), ``dataset_path``
  (absolute), ``stage``, ``tile_type``, ``convml_tt_version``;
* coordinates from the per-triplet metadata when present: ``lat``, ``lon``
  (degrees north/east of the tile centre), ``time`` (scene time, UTC),
  ``stage``, and for synthetic scenes ``regime`` (integer label of the
  regime covering most of the tile), ``regime_name`` and ``regime_fraction``
  (the fraction of the tile it covers); the organisation indices of each
  tile (``cloud_fraction``, ``iorg``, ``scai``, ``cop``, ``n_objects``,
  ``mean_object_size_m``, ``max_object_size_m``, ``open_sky``) and the
  statistics of the dataset's co-located fields (``C13_min``, ``C13_mean``,
  ``C13_max``, ...) where the dataset stored them, each with CF ``units``
  and ``long_name`` (NaN where a tile has no value).

Saved and loaded as netCDF with :func:`save_embeddings` / :func:`load_embeddings`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__
from .._io import atomic_path
from ..data.composites.stretch import check_same_stretch
from ..data.dataset.format import (DATASET_META, TILE_TYPES, TripletMeta, dataset_recipe, read_dataset_meta,
                                   read_triplet_meta)

__all__ = [
    "get_embeddings",
    "save_embeddings",
    "load_embeddings",
    "nearest_tiles",
    "resolve_dataset_path",
    "model_config",
]


# --- helpers -----------------------------------------------------------------------
def resolve_dataset_path(da: xr.DataArray, dataset_path: str | Path | None = None) -> Path:
    """The dataset folder behind embeddings ``da``: ``dataset_path`` when given,
    else the ``dataset_path`` attribute. Raises FileNotFoundError saying how
    to point it elsewhere when the folder does not exist."""
    if dataset_path is not None:
        p = Path(dataset_path)
        if not p.is_dir():
            raise FileNotFoundError(f"dataset_path {str(p)!r} is not a folder; give the triplet dataset "
                                    f"folder (holding train/ and study/)")
        return p
    attr = da.attrs.get("dataset_path")
    if not attr:
        raise FileNotFoundError(
            "the embeddings carry no dataset_path attribute, so the tile images cannot be found; pass "
            "dataset_path=... (CLI: --dataset-path) pointing at the triplet dataset folder"
        )
    p = Path(attr)
    if not p.is_dir():
        raise FileNotFoundError(
            f"the dataset folder these embeddings were made from, {attr!r}, no longer exists; "
            f"pass dataset_path=... (CLI: --dataset-path DIR) pointing at where the dataset is now, "
            f"or set da.attrs['dataset_path'] = DIR"
        )
    return p


def model_config(da: xr.DataArray) -> dict:
    """The model config stored in the embeddings' ``model_config`` attribute (a dict)."""
    text = da.attrs.get("model_config")
    return json.loads(text) if text else {}


def _load_model(model_or_path: Any, device: Any):
    import torch

    if isinstance(model_or_path, (str, Path)):
        from ..architectures.model_file import load_model

        model = load_model(model_or_path, device=device)
        path = str(Path(model_or_path).resolve())
    elif isinstance(model_or_path, torch.nn.Module):
        model = model_or_path
        path = getattr(model, "path", None) or ""
    else:
        raise TypeError(
            f"model_or_path must be a model file path or a torch.nn.Module (load_model(...)), "
            f"got {type(model_or_path).__name__}"
        )
    return model, str(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# --- metadata -> coordinates --------------------------------------------------------------
def _meta_record(meta: TripletMeta | None, tile_type: str) -> dict[str, Any]:
    """Coordinate values of one tile from its triplet's metadata: centre,
    scene time and the labeler's regime values when present."""
    if meta is None:
        return {}
    e = meta.tile(tile_type)
    rec: dict[str, Any] = {}
    if e.lat is not None and e.lon is not None:
        rec["lat"], rec["lon"] = float(e.lat), ((float(e.lon) + 180.0) % 360.0) - 180.0
    if e.time is not None:
        t = pd.Timestamp(str(e.time))
        rec["time"] = t.tz_localize(None) if t.tzinfo else t
    for key, v in e.labels.items():  # whatever the dataset's labeler recorded
        if isinstance(v, (bool, int, float, str)) and key not in _RESERVED_COORDS:
            rec[key] = v
    # organisation indices, co-located field statistics and environment fields (None: no value -> NaN)
    for where in (e.indices, e.fields, e.env):  # env: environment fields (numbers; the reasons left out)
        for key, v in where.items():
            if (v is None or isinstance(v, (bool, int, float))) and key not in _RESERVED_COORDS:
                rec[key] = v
    return rec


#: coordinate names the embeddings set themselves (labels of these names are not copied)
_RESERVED_COORDS = ("tile_id", "emb_dim", "tile_type", "stage", "lat", "lon", "time", "distance")
#: label coordinates with a fixed type and fill value (the synthetic regime labels)
_TYPED = {"regime": (np.int64, -1), "regime_fraction": (np.float64, np.nan), "regime_name": (str, "")}


def _label_array(values: list[Any], key: str) -> np.ndarray:
    """One label per tile as an array: typed for the regime labels, else int64
    (all whole numbers present), float64 (numbers; NaN where missing) or str
    ("" where missing)."""
    if key in _TYPED:
        dtype, fill = _TYPED[key]
        return np.array([fill if v is None else v for v in values], dtype=object).astype(dtype)
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return np.array(["" if v is None else v for v in values], dtype=object).astype(str)
    if len(present) == len(values) and all(isinstance(v, (bool, int)) for v in present):
        return np.array(values, dtype=np.int64)
    return np.array([np.nan if v is None or isinstance(v, str) else float(v) for v in values], dtype=np.float64)


def _fill_value(a: np.ndarray) -> Any:
    """What marks a missing value in an array like ``a``."""
    if a.dtype.kind == "M":
        return np.datetime64("NaT", "ns")
    if a.dtype.kind in "iub":
        return -1
    if a.dtype.kind in "US":
        return ""
    return np.nan


def _coords_from_meta(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-tile coordinate arrays (NaN/NaT/""/-1 where a tile lacks the value):
    centre, time, then every label, in a stable order."""
    keys = {k for r in records for k in r}
    out: dict[str, np.ndarray] = {}
    for k in ("lat", "lon"):
        if k in keys:
            out[k] = np.array([r.get(k, np.nan) for r in records], dtype=np.float64)
    labels = [k for k in ("regime_fraction",) if k in keys]
    if "time" in keys:
        out["time"] = np.array([np.datetime64(r["time"], "ns") if "time" in r else np.datetime64("NaT", "ns")
                                for r in records])
    labels += [k for k in ("regime", "regime_name") if k in keys]
    labels += sorted(keys - {"lat", "lon", "time", "regime", "regime_name", "regime_fraction"})
    for k in labels:
        out[k] = _label_array([r.get(k) for r in records], k)
    return out


def get_embeddings(
    model_or_path: Any,
    dataset_or_folder: Any,
    stage: str = "study",
    tile_type: str = "anchor",
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = True,
    num_workers: int = 0,
    skip_incomplete: bool = False,
) -> xr.DataArray:
    """Embed the tiles of one stage of a triplet dataset.

    Parameters
    ----------
    model_or_path : a model file (``convml_tt train`` output) or an encoder
        ``torch.nn.Module`` (e.g. from ``load_model``), mapping a float batch
        (B, C, H, W) to (B, emb_dim).
    dataset_or_folder : the dataset folder (holding ``train/``, ``study/``),
        one stage folder, or a :class:`convml_tt.data.dataset.TileDataset`
        (then ``stage``/``tile_type`` are taken from it).
    stage : ``"study"`` (default) or ``"train"``.
    tile_type : ``"anchor"``, ``"neighbor"``, ``"distant"``, or ``"all"`` for
        the three, stacked along a leading ``tile_type`` dimension (only
        triplets with all three tiles are kept).
    batch_size : tiles per forward pass.
    device : torch device; default CUDA when available, else CPU.
    progress : show a tqdm progress bar.
    num_workers : DataLoader worker processes decoding PNGs (0: in this process).
    skip_incomplete : leave out triplets missing a file (with a warning)
        instead of refusing the stage, as training does.

    Returns
    -------
    DataArray ``(tile_id, emb_dim)`` float32 (``(tile_type, tile_id, emb_dim)``
    for ``"all"``), with attributes and metadata coordinates as described in
    the module docstring.
    """
    import torch

    from .._io import resolve_device
    from ..architectures.inference import embed_tiles, model_input_channels
    from ..data.dataset.torch import TileDataset

    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of tiles, got {batch_size}")
    device = resolve_device(device)
    if tile_type not in TILE_TYPES + ("all",):
        raise ValueError(f"tile_type must be one of {TILE_TYPES + ('all',)}, got {tile_type!r}")

    model, model_path = _load_model(model_or_path, device)
    model = model.to(device).eval()
    config = dict(getattr(model, "config", None) or {})

    types = list(TILE_TYPES) if tile_type == "all" else [tile_type]
    if isinstance(dataset_or_folder, TileDataset):
        datasets = {dataset_or_folder.tile_type: dataset_or_folder}
        types = [dataset_or_folder.tile_type]
        tile_type = dataset_or_folder.tile_type
        stage = dataset_or_folder.stage
    else:
        datasets = {t: TileDataset(dataset_or_folder, stage=stage, tile_type=t, progress=progress,
                                   skip_incomplete=skip_incomplete) for t in types}
    if tile_type == "all":
        common = sorted(set.intersection(*(set(d.ids) for d in datasets.values())))
        if not common:
            raise ValueError(f"no complete triplet in {datasets['anchor'].stage_dir}; cannot embed all tile types")
        for t, d in datasets.items():
            if d.ids != common:
                keep = [d.ids.index(i) for i in common]
                datasets[t] = torch.utils.data.Subset(d, keep)
                datasets[t].ids = common  # type: ignore[attr-defined]
                datasets[t].stage_dir = d.stage_dir  # type: ignore[attr-defined]
                datasets[t].n_channels = d.n_channels  # type: ignore[attr-defined]
    first = next(iter(datasets.values()))
    stage_dir = Path(first.stage_dir)
    ds_root = stage_dir.parent if stage_dir.name == stage else stage_dir.parent
    n_ch = first.n_channels
    # tiles of another brightness-temperature stretch than the model's are refused (convml_tt.data.composites.stretch)
    if config:  # a network of known training (a bare module says nothing)
        check_same_stretch(config.get("channels"), dataset_recipe(ds_root)["channels"], str(model_path),
                           str(ds_root))
    want = model_input_channels(model)
    if want is not None and want != n_ch:
        raise ValueError(
            f"the model takes {want}-channel tiles but the dataset {str(stage_dir)!r} has {n_ch}-channel "
            f"tiles; use a model trained on this kind of tiles (or a dataset made with {want} channels)"
        )

    embs, coords_per_type = [], []
    for t in types:
        d = datasets[t]
        embs.append(embed_tiles(model, d, batch_size=batch_size, device=device, progress=progress,
                                num_workers=num_workers, desc=f"embedding {stage} {t}").numpy())
        records = [_meta_record(read_triplet_meta(ds_root, stage, i), t) for i in d.ids]
        coords_per_type.append(_coords_from_meta(records))
    ids = np.asarray(first.ids, dtype=np.int64)
    from .featurizers import model_sha256

    attrs = {
        "model_path": model_path,
        # the model's identity: regimes fitted to these embeddings carry it, and maps must match it
        "model_sha256": model_sha256(model_or_path if isinstance(model_or_path, (str, Path)) else model),
        "model_config": json.dumps(config, default=_json_default, sort_keys=True),
        "dataset_path": str(ds_root.resolve()),
        "stage": stage,
        "tile_type": tile_type,
        "convml_tt_version": __version__,
    }
    emb_dim = np.arange(embs[0].shape[1])
    if tile_type != "all":
        coords: dict[str, Any] = {"tile_id": ids, "emb_dim": emb_dim, "stage": ("tile_id", np.full(len(ids), stage))}
        coords.update({k: ("tile_id", v) for k, v in coords_per_type[0].items()})
        da = xr.DataArray(embs[0], dims=("tile_id", "emb_dim"), coords=coords, attrs=attrs, name="embedding")
    else:
        coords = {"tile_type": list(types), "tile_id": ids, "emb_dim": emb_dim,
                  "stage": ("tile_id", np.full(len(ids), stage))}
        keys = list(dict.fromkeys(k for c in coords_per_type for k in c))
        for k in keys:
            # every tile type keeps its own value: 2-D coords (tile_type, tile_id)
            arrs = [c.get(k) for c in coords_per_type]
            like = next(a for a in arrs if a is not None)
            arrs = [a if a is not None else np.full(len(ids), _fill_value(like), dtype=like.dtype) for a in arrs]
            coords[f"{k}"] = (("tile_type", "tile_id"), np.stack(arrs))
        da = xr.DataArray(np.stack(embs), dims=("tile_type", "tile_id", "emb_dim"), coords=coords,
                          attrs=attrs, name="embedding")
    da["emb_dim"].attrs["long_name"] = "embedding dimension"
    if "lat" in da.coords:
        da["lat"].attrs.update(units="degrees_north", long_name="tile centre latitude")
        da["lon"].attrs.update(units="degrees_east", long_name="tile centre longitude")
    if "regime" in da.coords:
        da["regime"].attrs["long_name"] = "synthetic regime covering most of the tile (-1: unknown)"
    if "regime_fraction" in da.coords:
        da["regime_fraction"].attrs.update(units="1", long_name="fraction of the tile covered by its regime")
    _physical_attrs(da, read_dataset_meta(ds_root) if (ds_root / DATASET_META).exists() else None)
    return da


def _physical_attrs(da: xr.DataArray, dataset_meta: dict | None) -> None:
    """CF ``units``/``long_name`` of the organisation-index and field-statistic
    coordinates (units of fields from the dataset's ``meta.yaml``)."""
    from ..data.colocated import statistic_attrs

    fields = (dataset_meta or {}).get("fields") or {}
    for name in da.coords:
        if name in _RESERVED_COORDS:
            continue
        attrs = statistic_attrs(str(name), fields)
        if attrs is not None and da[name].dtype.kind in "fiu":
            da[name].attrs.update(attrs)


# --- saving and loading ------------------------------------------------------------------
def save_embeddings(da: xr.DataArray, path: str | Path) -> Path:
    """Write embeddings to netCDF at ``path`` (written to a temporary name in
    the same folder, then renamed, so a failed write leaves no partial file).
    Returns the path."""
    path = Path(path)
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"save_embeddings needs an xarray.DataArray, got {type(da).__name__}")
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a folder; give a file name such as embeddings.nc")
    out = da.copy()
    out.name = out.name or "embedding"
    for k, c in out.coords.items():
        if c.dtype == object:
            out = out.assign_coords({k: c.astype(str)})
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4")
    return path


def load_embeddings(path: str | Path) -> xr.DataArray:
    """Read embeddings written by :func:`save_embeddings` (fully loaded, file closed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embeddings file {str(path)!r} does not exist; make one with "
                                f"`convml_tt embed MODEL DATASET --out {path.name}`")
    if path.is_dir():
        raise ValueError(f"embeddings file {str(path)!r} is a folder; give the netCDF file written by "
                         f"`convml_tt embed`")
    try:
        with xr.open_dataarray(path, engine="netcdf4") as da:
            da = da.load()
    except (ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{str(path)!r} is not an embeddings netCDF file (one DataArray written by "
                         f"`convml_tt embed`): {first}") from None
    if "emb_dim" not in da.dims or "tile_id" not in da.dims:
        raise ValueError(f"{str(path)!r} holds an array with dims {da.dims}, not embeddings (tile_id, emb_dim)")
    return da


# --- nearest tiles --------------------------------------------------------------------------
def nearest_tiles(da: xr.DataArray, tile_id: int, k: int = 5) -> xr.DataArray:
    """The ``k`` tiles nearest to ``tile_id`` in embedding space (Euclidean),
    nearest first, excluding the tile itself.

    Returns the embeddings of those tiles (``(k, emb_dim)``, all coordinates
    kept) with an extra ``distance`` coordinate along ``tile_id``.
    """
    if "tile_type" in da.dims:
        raise ValueError("nearest_tiles works on one tile type; select one, e.g. da.sel(tile_type='anchor')")
    ids = da.tile_id.values
    if int(tile_id) not in set(int(i) for i in ids):
        raise KeyError(f"tile_id {tile_id} is not in the embeddings (ids {ids.min()}..{ids.max()}, {len(ids)} tiles)")
    n = len(ids)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be between 1 and {n - 1} (the other tiles), got {k}")
    x = da.transpose("tile_id", "emb_dim").values.astype(np.float64)
    i0 = int(np.flatnonzero(ids == tile_id)[0])
    d = np.sqrt(np.sum((x - x[i0]) ** 2, axis=1))
    d[i0] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    out = da.isel(tile_id=order)
    return out.assign_coords(distance=("tile_id", d[order]))
