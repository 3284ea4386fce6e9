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

__all__ = ["open_map", "is_regime_map", "load_regime_map", "true_names", "regime_fractions", "map_quality",
           "map_quality_frame"]


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
    return open_map(p, "regime map", load=True)


def true_names(ds: xr.Dataset, regimes: Any = None) -> list[str] | None:
    """Names of the true labels of a map (its ``true_regime_names``, or an
    embedding map's ``regime_names``), else the regimes' ``label_names``."""
    for key in ("true_regime_names", "regime_names"):
        if key in ds.attrs and (key == "true_regime_names" or "embedding" in ds.variables):
            return [str(s) for s in json.loads(ds.attrs[key])]
    return None if regimes is None or regimes.label_names is None else list(regimes.label_names)


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
    each time's fractions sum to 1 (NaN for a time without valid cells);
    coordinate ``n_cells(time)`` counts the cells behind each.
    """
    ds = open_map(regime_map, "regime map", load=True)
    if variable not in ds.variables:
        raise ValueError(f"the regime map has no {variable!r} variable (has {sorted(ds.data_vars)}); "
                         f"use variable='regime' on a map from assign_regimes")
    names = _names_of(ds, variable)
    mask = _bbox_mask(ds, bbox)
    v = np.asarray(ds[variable].transpose("time", "y", "x").values)
    sel = v[:, mask]  # (time, n_cells in box)
    ok = (sel >= 0) & (sel < len(names))
    counts = np.stack([np.sum(sel == k, axis=1) for k in range(len(names))], axis=1).astype(np.float64)
    total = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total[:, None] > 0, counts / np.maximum(total[:, None], 1), np.nan)
    attrs = {"units": "1", "long_name": f"fraction of the valid cells in each {variable.replace('_', ' ')}"}
    if bbox is not None:
        attrs["bbox"] = list(map(float, bbox))
    return xr.DataArray(frac, dims=("time", "regime"), name=f"{variable}_fraction", attrs=attrs,
                        coords={"time": ds["time"].values, "regime": names, "n_cells": ("time", total)})


def map_quality(regime_map: Any) -> dict[str, float]:
    """How well a regime map matches the true regimes it carries.

    Cells counted: a valid regime (>= 0) and a known truth (``true_regime``
    >= 0). ``map_accuracy``: fraction of them where the regime's matched label
    (``regime_match``) is the true one. ``fraction_mae``: per scene, the
    fraction of the cells predicted (through the match) in each label against
    the true fraction, mean absolute difference over the scenes with cells
    and the labels present in the truth or matched to. ``n_cells``,
    ``n_scenes``: cells and scenes counted.
    """
    ds = open_map(regime_map, "regime map", load=True)
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
            "n_scenes": int(np.sum(cells.any(axis=(1, 2))))}


def map_quality_frame(regime_map: Any, name: str = "map"):
    """:func:`map_quality` as a one-row ``pandas.DataFrame`` indexed by ``name``."""
    import pandas as pd

    return pd.DataFrame([map_quality(regime_map)], index=pd.Index([name], name="map"))
