"""netCDF I/O of embedding maps (:mod:`convml_tt.interpretation.maps`): the
per-scene parts of a run, combining them into the map file (scene by
scene, so memory stays bounded), and :func:`save_map` / :func:`load_map`.

The map file is CF-1.8: ``x``/``y`` projection coordinates (m) with a
``crs`` grid mapping (``lambert_azimuthal_equal_area``), 2-D ``lat``/``lon``
auxiliary coordinates (``degrees_north``/``degrees_east``), ``time`` in
milliseconds since 1970-01-01 UTC, ``_FillValue`` NaN for the float
variables and -1 for the integer truth labels, ``flag_values`` /
``flag_meanings`` for ``valid`` (and ``true_regime`` when the regime names
are known). Opened with :func:`load_map` the integer variables keep their
type and their -1 (``mask_and_scale=False``: float fills are NaN anyway);
plain ``xarray.open_dataset`` decodes them to floats with NaN, as CF says.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .._io import atomic_path
from ..data.colocated import statistic_attrs

__all__ = ["save_map", "load_map", "write_part", "read_part", "combine_parts", "TIME_UNITS"]

TIME_UNITS = "milliseconds since 1970-01-01 00:00:00"
_PART_FORMAT = "convml_tt-map-part"
#: dtype and fill value of truth variables of integer / float labeler values
_KINDS = {"int": (np.int32, -1), "float": (np.float32, np.nan)}
_REGIME_INT = np.int16


def _label_kind(values) -> str | None:
    """"int" (all whole numbers or bools), "float" (numbers), None (strings: not stored per cell)."""
    vals = list(values)
    if not vals or any(isinstance(v, str) or not isinstance(v, (bool, int, float, np.number)) for v in vals):
        return None
    return "int" if all(isinstance(v, (bool, int, np.integer)) for v in vals) else "float"


def _truth_dtype(name: str, kind: str):
    dtype, fill = _KINDS[kind]
    return (_REGIME_INT if name == "true_regime" and kind == "int" else dtype), fill


# --- parts ------------------------------------------------------------------------------
def write_part(path: Path, fingerprint: str, scene: Any, composite: str, time: str,
               shape: tuple[int, int]) -> None:
    """Write one scene's map (``scene``: embedding (cells, E), valid (cells,),
    labels {key: {cell: value}}) to ``path`` atomically."""
    import netCDF4

    ny, nx = shape
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.setncatts({"format": _PART_FORMAT, "fingerprint": fingerprint, "composite": composite,
                          "time": time, "n_valid": int(scene.valid.sum())})
            for d, n in (("y", ny), ("x", nx), ("emb_dim", scene.embedding.shape[1])):
                nc.createDimension(d, n)
            nc.createVariable("embedding", "f4", ("y", "x", "emb_dim"), fill_value=False)[:] = \
                scene.embedding.reshape(ny, nx, -1)
            nc.createVariable("valid", "i1", ("y", "x"), fill_value=False)[:] = scene.valid.reshape(ny, nx)
            # truth of the labeler (true_<key>) and organisation indices (<key>) per cell
            per_cell = [(f"true_{k}", k, "truth", c) for k, c in scene.labels.items()]
            per_cell += [(k, k, "index", c) for k, c in getattr(scene, "indices", {}).items()]
            for name, key, role, by_cell in per_cell:
                kind = _label_kind(by_cell.values())
                if kind is None:
                    continue
                dtype, fill = _truth_dtype(name, kind)
                a = np.full(ny * nx, fill, dtype)
                a[np.fromiter(by_cell.keys(), np.int64)] = np.array(list(by_cell.values()), dtype=np.float64)
                v = nc.createVariable(name, dtype, ("y", "x"), fill_value=False)
                v.setncatts({"label_kind": kind, "label_key": key, "cell_value": role})
                v[:] = a.reshape(ny, nx)


def read_part(path: Path, fingerprint: str) -> dict | None:
    """The attributes and truth variables of a finished part, or None when
    ``path`` is absent, unreadable or of another run (``fingerprint``)."""
    import netCDF4

    if not Path(path).is_file():
        return None
    try:
        with netCDF4.Dataset(path) as nc:
            if nc.getncattr("fingerprint") != fingerprint or nc.getncattr("format") != _PART_FORMAT:
                return None
            truth = {n: (v.getncattr("label_kind"), v.getncattr("label_key"))
                     for n, v in nc.variables.items() if "label_key" in v.ncattrs()}
            return {"n_valid": int(nc.getncattr("n_valid")), "time": str(nc.getncattr("time")),
                    "composite": str(nc.getncattr("composite")), "truth": truth}
    except (OSError, AttributeError, KeyError, RuntimeError):
        return None


def _ms_since_epoch(iso: str) -> int:
    t = pd.Timestamp(iso)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1))


def combine_parts(part_paths: Sequence[Path], tmp: Path, sampler: Any, attrs: dict, emb_dim: int,
                  progress: bool = False) -> None:
    """Write the map file ``tmp`` from the parts (in time order), one scene at a time."""
    import netCDF4
    from tqdm.auto import tqdm

    infos = []
    for p in part_paths:
        with netCDF4.Dataset(p) as nc:
            infos.append({"time": str(nc.getncattr("time")), "composite": str(nc.getncattr("composite")),
                          "truth": {n: (v.getncattr("label_kind"), v.getncattr("label_key"))
                                    for n, v in nc.variables.items() if "label_key" in v.ncattrs()}})
    truth: dict[str, tuple[str, str]] = {}
    for info in infos:
        for name, (kind, key) in info["truth"].items():
            if truth.get(name, (None,))[0] != "float":
                truth[name] = (kind, key)
    ny, nx = sampler.shape
    names = json.loads(attrs["regime_names"]) if "regime_names" in attrs else None
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.setncatts(attrs)
        for d, n in (("time", len(part_paths)), ("y", ny), ("x", nx), ("emb_dim", emb_dim)):
            nc.createDimension(d, n)
        t = nc.createVariable("time", "i8", ("time",), fill_value=False)
        t.setncatts({"standard_name": "time", "long_name": "scan start of the scene (UTC)",
                     "units": TIME_UNITS, "calendar": "standard", "axis": "T"})
        t[:] = np.array([_ms_since_epoch(i["time"]) for i in infos], np.int64)
        for d, values, std, axis in (("x", sampler.x, "projection_x_coordinate", "X"),
                                     ("y", sampler.y, "projection_y_coordinate", "Y")):
            v = nc.createVariable(d, "f8", (d,), fill_value=False)
            v.setncatts({"standard_name": std, "units": "m", "axis": axis,
                         "long_name": f"{'easting' if d == 'x' else 'northing'} of the tile centre in the "
                                      f"domain's Lambert azimuthal equal-area frame"})
            v[:] = values
        v = nc.createVariable("emb_dim", "i4", ("emb_dim",), fill_value=False)
        v.long_name = "embedding dimension"
        v[:] = np.arange(emb_dim, dtype=np.int32)
        for d, values, std, units in (("lat", sampler.lat, "latitude", "degrees_north"),
                                      ("lon", sampler.lon, "longitude", "degrees_east")):
            v = nc.createVariable(d, "f8", ("y", "x"), fill_value=False)
            v.setncatts({"standard_name": std, "units": units, "long_name": f"{std} of the tile centre"})
            v[:] = values
        crs = nc.createVariable("crs", "i4", (), fill_value=False)
        crs.setncatts(sampler.grid_mapping_attrs())
        crs.assignValue(0)
        comp = nc.createVariable("composite", str, ("time",))
        comp.long_name = "composite file of the scene"
        for k, info in enumerate(infos):
            comp[k] = info["composite"]
        on_grid = {"grid_mapping": "crs", "coordinates": "lat lon"}
        emb = nc.createVariable("embedding", "f4", ("time", "y", "x", "emb_dim"), fill_value=np.float32(np.nan),
                                chunksizes=(1, ny, nx, emb_dim))
        emb.setncatts({"long_name": f"tile embedding ({attrs.get('featurizer', '')})", "units": "1", **on_grid})
        valid = nc.createVariable("valid", "i1", ("time", "y", "x"), fill_value=False)
        valid.setncatts({"long_name": "tile inside the composite's valid area",
                         "flag_values": np.array([0, 1], np.int8), "flag_meanings": "invalid valid", **on_grid})
        for name, (kind, key) in truth.items():
            dtype, fill = _truth_dtype(name, kind)
            v = nc.createVariable(name, dtype, ("time", "y", "x"), fill_value=dtype(fill))
            if not name.startswith("true_"):  # an organisation index of the cell's tile
                v.setncatts({**(statistic_attrs(key) or {"long_name": f"{key} of the tile"}), **on_grid})
                continue
            v.setncatts({"long_name": f"true {key} of the tile (from the labeler)", **on_grid})
            flag_names = names if name == "true_regime" else (
                json.loads(attrs[f"{key}_names"]) if kind == "int" and f"{key}_names" in attrs else None)
            if flag_names:  # the names of the labeler's integer values
                v.setncatts({"flag_values": np.arange(len(flag_names), dtype=dtype),
                             "flag_meanings": " ".join(n.replace(" ", "_") for n in flag_names)})
            if name.endswith("_fraction"):
                v.units = "1"
        for k, p in enumerate(tqdm(part_paths, desc="combining", unit="scene", disable=not progress,
                                   leave=False)):
            with netCDF4.Dataset(p) as part:
                part.set_auto_mask(False)
                emb[k] = part["embedding"][:]
                valid[k] = part["valid"][:]
                for name, (kind, _) in truth.items():
                    dtype, fill = _truth_dtype(name, kind)
                    src = part.variables.get(name)
                    nc[name][k] = np.full((ny, nx), fill, dtype) if src is None else src[:].astype(dtype)


# --- maps in memory <-> files ------------------------------------------------------------
def save_map(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a map (from :func:`~convml_tt.interpretation.maps.embed_domain`
    or a dataset of the same layout) to netCDF at ``path``, atomically, with
    the CF encoding of the map files. Returns the path."""
    path = Path(path)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"save_map needs an xarray.Dataset (an embedding map), got {type(ds).__name__}")
    if path.is_dir():
        raise ValueError(f"map file {str(path)!r} is a folder; give a file name such as map.nc")
    out = ds.copy()
    encoding: dict[str, dict] = {}
    for name, v in out.variables.items():
        fill = v.encoding.get("_FillValue", v.attrs.pop("_FillValue", None))
        if name in out.dims or name in ("lat", "lon", "crs", "composite", "valid") or v.dtype.kind not in "fi":
            fill = None
        elif fill is None:
            fill = np.nan if v.dtype.kind == "f" else -1
        encoding[name] = {"_FillValue": fill}
    if "time" in out.variables:
        encoding["time"].update(units=TIME_UNITS, calendar="standard", dtype="int64")
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path


def renamed_attrs(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the attributes of files written before a rename under
    their new names (``tile_size`` -> ``tile_size_m``, metres)."""
    if "tile_size" in ds.attrs and "tile_size_m" not in ds.attrs:
        ds.attrs["tile_size_m"] = ds.attrs.pop("tile_size")
    return ds


def load_map(path: str | Path, load: bool = True) -> xr.Dataset:
    """Open a map file written by ``embed_domain(..., out=...)`` / :func:`save_map`
    (or a regime map): integer variables keep their type and -1 fills.
    ``load``: read it all into memory and close the file (default), else
    lazily (close it when done)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"map file {str(path)!r} does not exist; make one with `convml_tt map MODEL "
                                f"--out {path.name}` (or embed_domain(..., out=...))")
    if path.is_dir():
        raise ValueError(f"map file {str(path)!r} is a folder; give the netCDF file written by `convml_tt map`")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", mask_and_scale=False)
    except (ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{str(path)!r} is not a map netCDF file (written by `convml_tt map`): {first}") from None
    if "valid" not in ds.variables or ds["valid"].dims != ("time", "y", "x") or "crs" not in ds.variables:
        ds.close()
        raise ValueError(f"{str(path)!r} is a netCDF file but not an embedding map (it lacks valid(time, y, x) "
                         f"and crs); make one with `convml_tt map`")
    for v in ds.variables.values():
        if "_FillValue" in v.attrs:
            v.encoding["_FillValue"] = v.attrs.pop("_FillValue")
    renamed_attrs(ds)
    if load:
        ds.load()
        ds.close()
    return ds
