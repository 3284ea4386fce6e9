"""Reading regime maps and measuring them: the share of each regime in each
scene (:func:`regime_fractions`) and the agreement with the true regimes a
map of labelled scenes carries (:func:`map_quality`).

A regime map is what :func:`convml_tt.interpretation.regimes.assign_regimes`
returns or writes; these functions are also exported by
:mod:`convml_tt.interpretation.regimes`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ._map_io import renamed_attrs
from .unassigned import UNASSIGNED

__all__ = ["open_map", "is_regime_map", "load_regime_map", "check_regime_map", "check_same_model",
           "check_regimes_of_map", "map_name", "true_names", "regime_fractions", "map_quality", "map_quality_frame"]


# --- reading ------------------------------------------------------------------------
def open_map(map_or_path: Any, what: str = "map", load: bool = False) -> xr.Dataset:
    """A map Dataset as given, or read from a netCDF path (lazily unless
    ``load``, then read whole and the file closed; integer variables kept as
    integers with their fill values, e.g. -1)."""
    if isinstance(map_or_path, xr.Dataset):
        return map_or_path
    if not isinstance(map_or_path, (str, Path)):
        raise TypeError(f"{what} must be an xarray.Dataset or a netCDF path, got {type(map_or_path).__name__}")
    path = Path(map_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist; make it with `convml_tt map` / "
                                f"`convml_tt regimes assign`")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", mask_and_scale=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a netCDF {what} ({type(err).__name__}: {err})") from None
    for v in ds.variables.values():
        for key in ("_FillValue", "missing_value"):
            if key in v.attrs:
                v.encoding[key] = v.attrs.pop(key)
    renamed_attrs(ds)
    if load:
        ds.load()
        ds.close()
    return ds


#: first bytes of a netCDF file: classic / 64-bit offset / CDF-5, and HDF5 (netCDF-4)
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def is_regime_map(path: Any) -> bool:
    """Whether ``path`` is a netCDF file holding a ``regime(time, y, x)``
    variable (a regime map from :func:`assign_regimes`). Cheap (reads the
    header only); False for anything else, never raising."""
    try:
        p = Path(path)
        if not p.is_file():
            return False
        with open(p, "rb") as fh:
            head = fh.read(8)
        if not any(head.startswith(m) for m in _NETCDF_MAGIC):
            return False
        import netCDF4

        with netCDF4.Dataset(p, "r") as nc:
            v = nc.variables.get("regime")
            return v is not None and tuple(v.dimensions) == ("time", "y", "x")
    except Exception:  # noqa: BLE001 - a yes/no question about any file
        return False


def load_regime_map(path: str | Path) -> xr.Dataset:
    """Read a regime map written by ``assign_regimes(..., out=path)``; a
    one-line ValueError when ``path`` is not one."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"regime map {str(p)!r} does not exist; make one with `convml_tt regimes assign`")
    if not is_regime_map(p):
        raise ValueError(f"{str(p)!r} is not a regime map (a netCDF file with regime(time, y, x)); make one with "
                         f"`convml_tt regimes assign MAP.nc REGIMES.json --out REGIME_MAP.nc`")
    ds = open_map(p, "regime map", load=True)
    check_regime_map(ds, map_name(p))
    return ds


# --- one model, one set of regimes ------------------------------------------------------------
def _short(sha: str) -> str:
    return f"sha256 {sha[:12]}" if sha else "no model_sha256"


def check_model_of_regimes(regimes: Any, src: str, *, emb_dim: int | None, sha: str = "", featurizer: str = "",
                           model_path: str = "", require_sha: bool = True) -> None:
    """Refuse ``regimes`` that were not fitted to embeddings of what made
    ``src`` (a map, embeddings or a model, e.g. "the map 'm.nc'"): another
    embedding size, featurizer or model (``sha``, the model file's SHA-256).
    Both must record the model unless both are of the ``tile_statistics``
    featurizer; with ``require_sha=False`` a side that records none is not
    checked. The one check every use of regimes makes (maps, legends,
    trajectories, environment)."""
    if emb_dim is not None and int(emb_dim) != regimes.emb_dim:
        raise ValueError(f"the regimes were fitted to {regimes.emb_dim}-dimensional embeddings but {src} "
                         f"has emb_dim {int(emb_dim)}; fit regimes to tiles embedded by {src}'s model")
    m_sha, r_sha = str(sha or ""), str(regimes.model_sha256 or "")
    m_feat, r_feat = str(featurizer or ""), str(regimes.featurizer or "")
    if (m_feat and r_feat and m_feat != r_feat) or ("tile_statistics" in (m_feat, r_feat) and m_feat != r_feat):
        raise ValueError(f"{src} was made with the {m_feat or 'model'!r} featurizer but the regimes with "
                         f"{r_feat or 'model'!r}; fit regimes to tiles embedded the same way as {src}")
    if m_feat == r_feat == "tile_statistics":
        return
    if not m_sha or not r_sha:
        if not require_sha:
            return
        which = src if not m_sha else "the regimes"
        raise ValueError(f"{which} do{'es' if not m_sha else ''} not record the model that made the "
                         f"embeddings (no model_sha256), so {src} and the regimes cannot be shown to come "
                         f"from the same model; make maps with `convml_tt map` and regimes from "
                         f"`convml_tt embed` embeddings, which record it")
    if m_sha != r_sha:
        raise ValueError(
            f"{src}: made by model {model_path or '?'} ({_short(m_sha)}), but the regimes were fitted to "
            f"embeddings of another model {regimes.model_path or '?'} ({_short(r_sha)}); use the regimes' "
            f"model, or fit regimes to tiles embedded by this one")


def check_same_model(ds: xr.Dataset, regimes: Any, src: str) -> None:
    """Refuse regimes and an embedding map (``src``, e.g. "the map 'm.nc'")
    that were not made by the same model (:func:`check_model_of_regimes`)."""
    check_model_of_regimes(regimes, src, emb_dim=int(ds.sizes["emb_dim"]), sha=ds.attrs.get("model_sha256"),
                           featurizer=ds.attrs.get("featurizer"), model_path=ds.attrs.get("model_path") or "")


def _json_list(ds: xr.Dataset, key: str, src: str) -> list | None:
    if key not in ds.attrs:
        return None
    try:
        v = json.loads(str(ds.attrs[key]))
    except ValueError:
        v = None
    if not isinstance(v, list):
        raise ValueError(f"{src} is damaged: its {key} attribute {str(ds.attrs[key])[:60]!r} is not a JSON list; "
                         f"assign the regimes again (`convml_tt regimes assign`)")
    return v


def check_regime_map(ds: xr.Dataset, src: str = "the regime map") -> None:
    """Refuse a regime map whose parts disagree: regime names that are not
    distinct, regime codes beyond them, a ``regime_match`` that is not one
    label index (or -1) per regime, or regimes of another model than its
    embeddings (``regimes_model_sha256`` against ``model_sha256``)."""
    redo = "assign the regimes again (`convml_tt regimes assign MAP.nc REGIMES.json`)"
    names = _json_list(ds, "regime_names", src)
    if names is None:
        return  # not from assign_regimes (a hand-made map): codes are named by number
    if len(set(map(str, names))) != len(names) or not all(str(n).strip() for n in names):
        raise ValueError(f"{src} names its regimes {names}: not distinct non-empty names; {redo}")
    n = len(names)
    if "n_regimes" in ds.attrs and int(ds.attrs["n_regimes"]) != n:
        raise ValueError(f"{src} says n_regimes {int(ds.attrs['n_regimes'])} but names {n} regimes; {redo}")
    if "regime" in ds.variables:
        codes = np.asarray(ds["regime"].values, dtype=np.float64)
        codes = codes[np.isfinite(codes)]
        if codes.size and (codes.max() >= n or codes.min() < UNASSIGNED):
            raise ValueError(f"{src} holds regime codes {int(codes.min())}..{int(codes.max())} but names {n} "
                             f"regimes (codes 0..{n - 1}, -1 invalid, {UNASSIGNED} unassigned); {redo}")
    match = _json_list(ds, "regime_match", src)
    if match is not None:
        labels = true_names(ds)
        top = len(labels) - 1 if labels is not None else None
        if len(match) != n or any(isinstance(m, bool) or not isinstance(m, int) or m < -1
                                  or (top is not None and m > top) for m in match):
            allowed = f"-1..{top}" if top is not None else "-1 or a label index"
            raise ValueError(f"{src} has regime_match {match}: not one true-label index ({allowed}) for each "
                             f"of its {n} regimes; fit the regimes again and {redo}")
    m_sha = str(ds.attrs.get("model_sha256") or "")
    r_sha = str(ds.attrs.get("regimes_model_sha256") or "")
    made = "model_sha256" in ds.attrs or "regimes_model_sha256" in ds.attrs  # by embed_domain + assign_regimes
    if made and ds.attrs.get("featurizer") != "tile_statistics":
        if not m_sha or not r_sha:
            which = "its embeddings" if not m_sha else "its regimes"
            raise ValueError(f"{src} does not record the model of {which} (model_sha256 "
                             f"{m_sha[:12]!r}, regimes_model_sha256 {r_sha[:12]!r}); {redo}")
        if m_sha != r_sha:
            raise ValueError(f"{src} holds regimes of another model ({_short(r_sha)}) than its embeddings "
                             f"({_short(m_sha)}); {redo}")


def check_regimes_of_map(ds: xr.Dataset, regimes: Any, src: str = "the regime map") -> None:
    """Refuse ``regimes`` (e.g. for a legend's names and example tiles) that
    are not the regimes the regime map was assigned with: another number or
    names of regimes, another model, or other centroids (``regimes_sha256``)."""
    names = _json_list(ds, "regime_names", src)
    what = f"the regimes ({regimes.n_regimes}: {', '.join(regimes.names)})"
    if names is not None and list(map(str, names)) != list(regimes.names):
        raise ValueError(f"{what} are not those of {src} ({len(names)}: {', '.join(map(str, names))}); give the "
                         f"regimes file the map was assigned with, or none")
    r_sha = str(ds.attrs.get("regimes_model_sha256") or "")
    if r_sha and regimes.model_sha256 and r_sha != regimes.model_sha256:
        raise ValueError(f"{what} were fitted to embeddings of another model ({_short(regimes.model_sha256)}) "
                         f"than those of {src} ({_short(r_sha)}); give the regimes file the map was assigned "
                         f"with, or none")
    fp = str(ds.attrs.get("regimes_sha256") or "")
    if fp and fp not in (regimes.fingerprint(), getattr(regimes, "earlier_fingerprint", "") or None):
        raise ValueError(f"{what} are not the ones {src} was assigned with (other centroids or provenance: "
                         f"regimes_sha256 differs); give the regimes file the map was assigned with, or none")


def true_names(ds: xr.Dataset, regimes: Any = None) -> list[str] | None:
    """Names of the true labels of a map (its ``true_regime_names``, or an
    embedding map's ``regime_names``), else the regimes' ``label_names``."""
    for key in ("true_regime_names", "regime_names"):
        if key in ds.attrs and (key == "true_regime_names" or "embedding" in ds.variables):
            return [str(s) for s in json.loads(ds.attrs[key])]
    return None if regimes is None or regimes.label_names is None else list(regimes.label_names)


def map_name(regime_map: Any, what: str = "regime map") -> str:
    """How messages name a map: ``regime map 'PATH'`` for a path or a Dataset
    read from a file, else ``the regime map``."""
    if isinstance(regime_map, xr.Dataset):
        regime_map = regime_map.encoding.get("source")
    return f"{what} {str(regime_map)!r}" if isinstance(regime_map, (str, Path)) else f"the {what}"


# --- fractions and quality ------------------------------------------------------------
def _names_of(ds: xr.Dataset, variable: str) -> list[str]:
    if variable == "regime" and "regime_names" in ds.attrs:
        return [str(s) for s in json.loads(ds.attrs["regime_names"])]
    names = true_names(ds) if variable == "true_regime" else None
    if names is None and ds[variable].attrs.get("flag_meanings"):
        names = str(ds[variable].attrs["flag_meanings"]).split()
    names = list(names or [])
    vals = np.asarray(ds[variable].values, dtype=np.float64)  # NaN where a reader decoded the -1 fill
    top = int(np.nanmax(vals)) if np.isfinite(vals).any() else -1
    return names + [str(i) for i in range(len(names), top + 1)]


def _bbox_mask(ds: xr.Dataset, bbox: Sequence[float] | None) -> np.ndarray:
    """(y, x) bool: cells whose centre lies in ``bbox`` (all cells for None)."""
    if bbox is None:
        return np.ones((ds.sizes["y"], ds.sizes["x"]), dtype=bool)
    from ..data.sources.goes_abi.navigation import check_bbox

    lon_min, lat_min, lon_max, lat_max = check_bbox(bbox)
    lat = np.asarray(ds["lat"].transpose("y", "x").values, dtype=np.float64)
    lon = (np.asarray(ds["lon"].transpose("y", "x").values, dtype=np.float64) + 180.0) % 360.0 - 180.0
    mask = (lat >= lat_min) & (lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max)
    if not mask.any():
        raise ValueError(f"bbox {tuple(bbox)} holds no cell centre of the map, whose cells span lon "
                         f"{np.nanmin(lon):.2f} to {np.nanmax(lon):.2f}, lat {np.nanmin(lat):.2f} to "
                         f"{np.nanmax(lat):.2f}; give a box (lon_min, lat_min, lon_max, lat_max) overlapping them")
    return mask


def regime_fractions(regime_map: Any, bbox: Sequence[float] | None = None, variable: str = "regime") -> xr.DataArray:
    """Fraction of the valid cells of each scene in each regime.

    Parameters
    ----------
    regime_map : Dataset from :func:`assign_regimes` (or its path).
    bbox : ``(lon_min, lat_min, lon_max, lat_max)`` degrees: only cells whose
        centre is inside count.
    variable : ``"regime"`` or ``"true_regime"`` (the true labels; cells < 0
        are unknown and left out).

    Returns
    -------
    DataArray ``(time, regime)`` float64, coordinate ``regime`` the names;
    coordinate ``n_cells(time)`` counts the valid cells behind each and
    ``unassigned_fraction(time)`` the share of them that are unassigned
    (code -2, no regime; 0 for a map without an unassigned distance): each
    time's regime fractions and its unassigned fraction sum to 1 (NaN for a
    time without valid cells).
    """
    ds = open_map(regime_map, "regime map", load=True)
    check_regime_map(ds, map_name(regime_map))
    if variable not in ds.variables:
        raise ValueError(f"the regime map has no {variable!r} variable (has {sorted(ds.data_vars)}); "
                         f"use variable='regime' on a map from assign_regimes")
    names = _names_of(ds, variable)
    mask = _bbox_mask(ds, bbox)
    v = np.asarray(ds[variable].transpose("time", "y", "x").values)
    sel = v[:, mask]  # (time, n_cells in box)
    unassigned = np.sum(sel == UNASSIGNED, axis=1) if variable == "regime" else np.zeros(len(sel), dtype=np.int64)
    ok = ((sel >= 0) & (sel < len(names))) | ((sel == UNASSIGNED) if variable == "regime" else False)
    counts = np.stack([np.sum(sel == k, axis=1) for k in range(len(names))], axis=1).astype(np.float64)
    total = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total[:, None] > 0, counts / np.maximum(total[:, None], 1), np.nan)
        un_frac = np.where(total > 0, unassigned / np.maximum(total, 1), np.nan)
    attrs = {"units": "1", "long_name": f"fraction of the valid cells in each {variable.replace('_', ' ')}"}
    if bbox is not None:
        attrs["bbox"] = list(map(float, bbox))
    return xr.DataArray(frac, dims=("time", "regime"), name=f"{variable}_fraction", attrs=attrs,
                        coords={"time": ds["time"].values, "regime": names, "n_cells": ("time", total),
                                "unassigned_fraction": ("time", un_frac)})


def map_quality(regime_map: Any) -> dict[str, float]:
    """How well a regime map matches the true regimes it carries.

    Cells counted: a regime (>= 0; not unassigned) and a known truth
    (``true_regime`` >= 0). ``unassigned_share``: the fraction of the valid
    cells with a known truth that are unassigned (code -2), which are left
    out of the other scores. ``map_accuracy``: fraction of them where the regime's matched label
    (``regime_match``) is the true one. ``fraction_mae``: per scene, the
    fraction of the cells predicted (through the match) in each label against
    the true fraction, mean absolute difference over the scenes with cells
    and the labels present in the truth or matched to. ``n_cells``,
    ``n_scenes``: cells and scenes counted.
    """
    ds = open_map(regime_map, "regime map", load=True)
    check_regime_map(ds, map_name(regime_map))
    if "true_regime" not in ds.variables:
        raise ValueError("the regime map carries no true regimes (no 'true_regime' variable): map quality needs "
                         "a map of labelled scenes (e.g. synthetic, `convml_tt map --labels synthetic`)")
    if "regime_match" not in ds.attrs:
        raise ValueError("the regime map has no 'regime_match' attribute: fit the regimes to tiles with true labels "
                         "(a 'regime' coordinate, or label=) so that each regime is matched to one")
    match = np.asarray(json.loads(ds.attrs["regime_match"]), dtype=np.int64)
    reg = np.asarray(ds["regime"].transpose("time", "y", "x").values).astype(np.int64)
    true = np.asarray(ds["true_regime"].transpose("time", "y", "x").values).astype(np.int64)
    cells = (reg >= 0) & (reg < len(match)) & (true >= 0)
    n_un = int(np.sum((reg == UNASSIGNED) & (true >= 0)))
    n = int(cells.sum())
    if n == 0:
        raise ValueError("no cell of the regime map has both a regime and a known true regime; nothing to score")
    pred = np.where(cells, match[np.clip(reg, 0, len(match) - 1)], -1)
    acc = float(np.mean(pred[cells] == true[cells]))
    labels = sorted(set(np.unique(true[cells]).tolist()) | {int(m) for m in match if m >= 0})
    errs = []
    for t in range(reg.shape[0]):
        c = cells[t]
        k = int(c.sum())
        if k == 0:
            continue
        for lab in labels:
            errs.append(abs(np.sum(pred[t][c] == lab) / k - np.sum(true[t][c] == lab) / k))
    return {"map_accuracy": acc, "fraction_mae": float(np.mean(errs)), "n_cells": n,
            "n_scenes": int(np.sum(cells.any(axis=(1, 2)))), "unassigned_share": n_un / (n + n_un)}


def map_quality_frame(regime_map: Any, name: str = "map"):
    """:func:`map_quality` as a one-row ``pandas.DataFrame`` indexed by ``name``."""
    import pandas as pd

    return pd.DataFrame([map_quality(regime_map)], index=pd.Index([name], name="map"))
