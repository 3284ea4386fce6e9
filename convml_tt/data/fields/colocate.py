"""Environment fields co-located with tiles.

For a :class:`~convml_tt.data.tiles.Tile` (centre, side in metres) and a
scan time, :meth:`Environment.tile_values` gives each field's area mean
and spread (standard deviation) over the tile's footprint: the field's grid
points inside the tile's square (in the tile's own equal-area projection),
weighted by cos(latitude) (the area of a regular lat/lon cell); where no
grid point falls inside (a tile smaller than the grid spacing), the grid
point nearest the centre, without a spread.

In time: the field time nearest the scan within ``tolerance`` (default 1
h), or ``time_method="linear"``: linear interpolation between the two
field times around the scan. A scan outside the file's times (beyond the
tolerance for ``"nearest"``) is never extrapolated: the values are None
(NaN) and ``{name}_reason`` says why.

Values are keyed ``{name}_mean``, ``{name}_std`` (the field's units,
:attr:`Environment.units`) as stored in a triplet's ``_meta.yaml`` under
``env:``.
"""
from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import numpy as np
import pyproj

from ..tiles import Tile
from .base import Field, field_values, get_field, parse_need
from .era5 import expand_paths, open_era5

__all__ = ["Environment", "parse_env", "environment_from", "environment_of"]


@functools.lru_cache(maxsize=256)
def _forward_pipeline(laea: str) -> pyproj.Transformer:
    """Geodetic (lon, lat) degrees -> tile LAEA metres (a bare PROJ pipeline, cheaper than a CRS)."""
    step = laea.replace(" +units=m +no_defs", "")
    return pyproj.Transformer.from_pipeline(f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
                                            f"+step {step}")


def parse_env(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Field names of ``"EIS,WS10"`` (or a list), as registered (canonical
    case); ``ValueError`` listing the registered fields for an unknown one."""
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in str(t).split(",")]
    return tuple(dict.fromkeys(get_field(t.strip()).name for t in items if t.strip()))  # once each, in order


class Environment:
    """Environment fields of a set of ERA5 files, co-located with tiles.

    Parameters
    ----------
    files:
        ERA5 files (paths or glob patterns; see :func:`~convml_tt.data.fields.era5.open_era5`).
    names:
        registered field names (e.g. ``("EIS", "WS10")``).
    tolerance:
        largest distance in time between a scan and the field time used
        (``"nearest"``), a ``numpy.timedelta64`` (default 1 h).
    time_method:
        ``"nearest"`` or ``"linear"``.

    Raises
    ------
    ValueError
        on opening, a file lacking a variable a field needs (naming both).
    """

    def __init__(self, files: Any, names: Sequence[str], tolerance: np.timedelta64 = np.timedelta64(1, "h"),
                 time_method: str = "nearest") -> None:
        if time_method not in ("nearest", "linear"):
            raise ValueError(f"time_method {time_method!r} must be 'nearest' or 'linear'")
        self.files = [str(p.resolve()) for p in expand_paths(files)]
        self.ds = open_era5(self.files)
        files_ = [os.path.basename(f) for f in self.ds.attrs["source_files"].split(", ")]
        self.where = files_[0] if len(files_) == 1 else f"{files_[0]} (and {len(files_) - 1} more ERA5 files)"
        self.fields: list[Field] = [get_field(n) for n in names]
        self.tolerance = np.timedelta64(tolerance).astype("timedelta64[s]")
        self.time_method = time_method
        self.times = self.ds["time"].values.astype("datetime64[s]")
        self.lat = self.ds["latitude"].values.astype(float)
        self.lon = self.ds["longitude"].values.astype(float)
        for f in self.fields:  # the variables each field needs, checked on one point
            field_values(f, self.ds, self.where, time=[0], latitude=[0], longitude=[0])

    @property
    def spec(self) -> dict[str, Any]:
        """What makes this again in another process (:meth:`from_spec`): plain values, absolute paths."""
        return {"files": self.files, "names": [f.name for f in self.fields],
                "tolerance_s": int(self.tolerance.astype(int)), "time_method": self.time_method}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Environment":
        """The :class:`Environment` of :attr:`spec`."""
        return cls(spec["files"], spec["names"], np.timedelta64(spec["tolerance_s"], "s"), spec["time_method"])

    @property
    def units(self) -> dict[str, dict[str, str]]:
        """``{name: {units, long_name, reference}}`` of the fields."""
        return {f.name: {"units": f.units, "long_name": f.long_name or f.name, "reference": f.reference}
                for f in self.fields}

    #: derived fields on the whole grid kept per (field, time index): at least this many, the latest used
    CACHE_SIZE = 8

    def _grid(self, f: Field, k: int) -> np.ndarray:
        """``f`` at field time ``k`` on the file's whole grid ``(n_lat, n_lon)``, derived once and
        kept (the :data:`CACHE_SIZE` latest): the tiles of a scan share their field times."""
        key = (f.name, int(k))
        cache = self.__dict__.setdefault("_cache", {})
        if key in cache:
            cache[key] = cache.pop(key)  # most recently used last
            return cache[key]
        values = self._read(int(k))
        got = np.asarray(f.derive({n: values[n] for n in f.needs}), np.float64)
        cache[key] = got
        while len(cache) > max(self.CACHE_SIZE, len(self.fields) * 2):
            cache.pop(next(iter(cache)))
        return got

    def _read(self, k: int) -> dict[str, np.ndarray]:
        """``{need: (n_lat, n_lon) float64}`` of every variable (``"t@700"``:
        on a pressure level) the fields need at field time ``k``, each
        variable read from the files once, with only the levels needed, for
        all fields (the 2 latest times kept; the needs were checked on opening)."""
        read = self.__dict__.setdefault("_read_cache", {})
        if k not in read:
            by_var: dict[str, dict[str, float | None]] = {}
            for need in {n for f in self.fields for n in f.needs}:
                var, level = parse_need(need)
                by_var.setdefault(var, {})[need] = level
            got: dict[str, np.ndarray] = {}
            for var, needs in by_var.items():
                da = self.ds[var].isel(time=k)
                if "level" not in da.dims:
                    got.update(dict.fromkeys(needs, np.asarray(da.transpose("latitude", "longitude").values,
                                                               np.float64)))
                    continue
                lv = self.ds["level"].values
                at = {need: int(np.argmin(np.abs(lv - level))) for need, level in needs.items()}
                idx = sorted(set(at.values()))
                block = np.asarray(da.isel(level=idx).transpose("level", "latitude", "longitude").values, np.float64)
                got.update({need: block[idx.index(i)] for need, i in at.items()})
            while len(read) >= 2:
                read.pop(next(iter(read)))
            read[k] = got
        return read[k]

    # -- time ----------------------------------------------------------------
    def _time_weights(self, time: Any) -> tuple[list[int], list[float]] | str:
        t = np.datetime64(time.rstrip("Z") if isinstance(time, str) else time, "s")
        lo, hi = self.times[0], self.times[-1]
        if self.time_method == "linear":
            if t < lo or t > hi:
                return f"scan time {t} is outside the field times {lo} to {hi} of {self.where}"
            k = int(np.searchsorted(self.times, t, side="right")) - 1
            if k >= len(self.times) - 1 or self.times[k] == t:
                return [min(k, len(self.times) - 1)], [1.0]
            w = float((t - self.times[k]) / (self.times[k + 1] - self.times[k]))
            return [k, k + 1], [1.0 - w, w]
        k = int(np.argmin(np.abs(self.times - t)))
        if abs(self.times[k] - t) > self.tolerance:
            where = "outside the field times" if t < lo or t > hi else "between the field times"
            return (f"scan time {t} is {where} {lo} to {hi} of {self.where}: nearest field time {self.times[k]} is "
                    f"more than the tolerance {self.tolerance} away")
        return [k], [1.0]

    def time_reason(self, time: Any) -> str | None:
        """Why a scan at ``time`` has no field values (outside the files' times), or None."""
        got = self._time_weights(time)
        return got if isinstance(got, str) else None

    # -- space ---------------------------------------------------------------
    def footprint(self, tile: Tile) -> tuple[np.ndarray, np.ndarray] | None:
        """``(points, weights)``: flat indices into the field's ``(n_lat, n_lon)``
        grid of the points inside the tile's square (in the tile's own
        projection; the point nearest the centre when none is) and their
        cos(latitude) weights; None when the tile is off the field's grid.
        The points are looked for within the tile's half diagonal (great
        circle, 1 % margin) plus one grid step."""
        if not hasattr(self, "_steps"):  # grid steps (median: a grid across the dateline jumps once)
            self._steps = tuple(float(np.median(np.abs(np.diff(a)))) if a.size > 1 else 1.0
                                for a in (self.lat, self.lon))
            self._cos = np.cos(np.deg2rad(self.lat))
        dlat, dlon = self._steps
        reach = 1.01 * tile.size / np.sqrt(2.0) / 110.5e3  # degrees of latitude (a meridian degree >= 110.57 km)
        iy = np.flatnonzero(np.abs(self.lat - tile.lat0) <= reach + dlat)
        far = min(89.9, abs(tile.lat0) + reach)
        wide = reach * 110.5e3 / (111.32e3 * np.cos(np.deg2rad(far)))
        glon = (self.lon - tile.lon0 + 180.0) % 360.0 - 180.0
        ix = np.flatnonzero(np.abs(glon) <= wide + dlon) if wide < 180.0 else np.arange(self.lon.size)
        if iy.size == 0 or ix.size == 0:
            return None
        lon2, lat2 = np.meshgrid(self.lon[ix], self.lat[iy])
        u, v = _forward_pipeline(tile.proj4).transform(lon2, lat2, errcheck=False)
        h = tile.size / 2
        inside = (np.abs(u) <= h) & (np.abs(v) <= h)
        if not inside.any():  # a tile smaller than the grid spacing: the point nearest its centre
            inside[np.argmin(np.abs(self.lat[iy] - tile.lat0)), np.argmin(np.abs(glon[ix]))] = True
        j, i = np.nonzero(inside)
        return iy[j] * self.lon.size + ix[i], self._cos[iy[j]]

    def tile_values(self, tile: Tile, time: Any) -> dict[str, Any]:
        """``{name_mean, name_std}`` of every field over ``tile`` at ``time``
        (a scan time: ``numpy.datetime64``, ISO text or datetime); None
        values and ``name_reason`` when there is no value (time outside the
        file's, tile off the grid). The std is None for a one-point footprint."""
        out: dict[str, Any] = {}
        weights = self._time_weights(time)
        fp = self.footprint(tile)
        reason = weights if isinstance(weights, str) else (
            None if fp is not None else f"the tile at {tile.lat0:.3f}N {tile.lon0:.3f}E is outside the field grid "
                                        f"of {self.where}")
        for f in self.fields:
            if reason is not None:
                out.update({f"{f.name}_mean": None, f"{f.name}_std": None, f"{f.name}_reason": reason})
                continue
            points, wts = fp
            k, w = weights
            vals = sum(wi * self._grid(f, ki).ravel()[points] for ki, wi in zip(k, w))
            good = np.isfinite(vals)
            if not good.all():
                if not good.any():
                    out.update({f"{f.name}_mean": None, f"{f.name}_std": None, f"{f.name}_reason":
                                "no valid value of the field over the tile (e.g. SST over land)"})
                    continue
                vals, wts = vals[good], wts[good]
            total = wts.sum()
            mean = float(wts @ vals / total)
            std = float(np.sqrt(wts @ (vals - mean) ** 2 / total)) if vals.size > 1 else None
            out.update({f"{f.name}_mean": mean, f"{f.name}_std": std})
        return out

    def scene_values(self, tiles: Sequence[Tile], time: Any) -> list[dict[str, Any]]:
        """:meth:`tile_values` of every tile of one scan at once (the same
        points, weights and values): each field read and derived once at the
        scan's field time(s), every tile's footprint a row of one sparse
        averaging matrix (:func:`~.footprints.footprint_matrix`), the means
        and spreads sparse products. A grid whose longitudes are not one
        regular run (it crosses the dateline) goes tile by tile."""
        from .footprints import area_statistics, footprint_matrix

        weights = self._time_weights(time)
        if isinstance(weights, str):
            return [{k: v for f in self.fields for k, v in ((f"{f.name}_mean", None), (f"{f.name}_std", None),
                                                            (f"{f.name}_reason", weights))} for _ in tiles]
        steps = np.diff(self.lon)
        if self.lon.size > 1 and steps.max() > 1.5 * np.median(steps) or len({(t.a, t.b) for t in tiles}) > 1:
            return [self.tile_values(t, time) for t in tiles]
        W, off = footprint_matrix(self.lat, self.lon, tiles)
        out: list[dict[str, Any]] = [{} for _ in tiles]
        k, w = weights
        for f in self.fields:
            grid = sum(wi * self._grid(f, ki) for ki, wi in zip(k, w))
            mean, std, n = area_statistics(W, grid)
            km, ks, kr = f"{f.name}_mean", f"{f.name}_std", f"{f.name}_reason"
            for row, m, s_, n_, off_, tile in zip(out, mean.tolist(), std.tolist(), n.tolist(), off, tiles):
                if n_ > 0:
                    row[km], row[ks] = m, (s_ if n_ > 1 else None)
                    continue
                row[km], row[ks] = None, None
                row[kr] = (f"the tile at {tile.lat0:.3f}N {tile.lon0:.3f}E is outside the field grid of "
                           f"{self.where}") if off_ else "no valid value of the field over the tile (e.g. SST over land)"
        return out

    def tile_meta(self, tile: Tile, time: Any) -> dict[str, Any]:
        """:meth:`tile_values` as stored in a tile's ``_meta.yaml`` (``env:``):
        numbers rounded to float32 precision, None where there is no value."""
        from ..colocated import rounded

        return {k: v if isinstance(v, str) else rounded(v) for k, v in self.tile_values(tile, time).items()}


def environment_of(settings: Any) -> Environment | None:
    """The :class:`Environment` of a :class:`~convml_tt.config.TripletSettings`
    (``env``, ``env_files``, ``env_time``, ``env_tolerance_h``), None without ``env``."""
    if not settings.env:
        return None
    return environment_from(settings.env_files, settings.env, time_method=settings.env_time,
                            tolerance=np.timedelta64(int(round(settings.env_tolerance_h * 3600)), "s"))


def environment_from(files: Any, names: Sequence[str], **kw: Any) -> Environment | None:
    """An :class:`Environment`, or None without ``names``; ``ValueError``
    when names are given without files."""
    if not names:
        if files:
            raise ValueError(f"--env-files {files if isinstance(files, (str, os.PathLike)) else ' '.join(map(str, files))} "
                             f"given without --env: name the fields to store (e.g. --env EIS,WS10)")
        return None
    if not files:
        raise ValueError(f"--env {','.join(names)} needs --env-files (ERA5 netCDF files, e.g. 'era5/*.nc')")
    return Environment(list(files) if not isinstance(files, (str, os.PathLike)) else [files], names, **kw)
