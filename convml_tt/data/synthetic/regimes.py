"""The six cloud-organisation regimes and their label maps.

:data:`REGIMES` names the labels (the index of a name is its integer
label); :data:`CLOUD_FRACTION` and the cloud brightness of each regime are
the nominal parameters the scene generator (:mod:`.fields`) draws them with.

Each written scene has a *label map* beside its band files
(:func:`label_path_for`): the regime of every pixel of the scene's 1 km
fixed grid (``-1`` off the Earth's disk). :func:`load_regime_labels` reads
it, :func:`regime_at` looks up the regime at latitudes/longitudes and
:class:`RegimeLabeler` gives each triplet tile the regime covering most of
it (a :class:`convml_tt.data.labels.Labeler`).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import xarray as xr

from ..labels import LABELERS
from ..sources.goes_abi import FixedGrid
from ..sources.goes_abi import ABIKey, format_timestamp

if TYPE_CHECKING:
    from ..tiles import Tile

__all__ = [
    "REGIMES",
    "CLOUD_FRACTION",
    "CLOUD_REFLECTANCE_THRESHOLD",
    "LABEL_PREFIX",
    "label_path_for",
    "load_regime_labels",
    "regime_at",
    "RegimeLabeler",
]

#: regime names; the index of a name is its integer label (0: cloud-free ocean)
REGIMES: tuple[str, ...] = ("clear", "sugar", "gravel", "flowers", "fish", "stratocumulus")
#: target cloud fraction of each regime (band-2 reflectance > CLOUD_REFLECTANCE_THRESHOLD)
CLOUD_FRACTION: dict[str, float] = {
    "clear": 0.02,
    "sugar": 0.12,
    "gravel": 0.30,
    "flowers": 0.30,
    "fish": 0.30,
    "stratocumulus": 0.88,
}
#: band-2 (0.64 um) reflectance factor above which a pixel counts as cloudy
CLOUD_REFLECTANCE_THRESHOLD = 0.10
#: (min, max) cloud reflectance at 0.64 um and excess scale of each regime
_BRIGHTNESS = {
    "clear": (0.07, 0.18, 0.5),
    "sugar": (0.07, 0.32, 0.6),
    "gravel": (0.08, 0.55, 0.5),
    "flowers": (0.12, 0.68, 0.5),
    "fish": (0.10, 0.62, 0.6),
    "stratocumulus": (0.14, 0.55, 0.8),
}

#: file-name prefix of the label maps (not ``OR_ABI``: catalogue queries skip them)
LABEL_PREFIX = "convml_tt-synthetic-labels"


def label_path_for(abi_path: str | os.PathLike) -> Path:
    """The regime label-map path beside an ABI file of a synthetic scene."""
    abi_path = Path(abi_path)
    key = ABIKey.parse(abi_path.name)
    return abi_path.with_name(
        f"{LABEL_PREFIX}_{key.sector}_G{key.satellite}_s{format_timestamp(key.start)}.nc"
    )


def load_regime_labels(path_or_abi_file) -> xr.DataArray:
    """The regime label map of a synthetic scene.

    Parameters
    ----------
    path_or_abi_file:
        the label-map netCDF, one of the scene's ABI band files (its label map
        is found beside it), or a :class:`SyntheticScene`.

    Returns
    -------
    xarray.DataArray
        int8 ``(y, x)`` labels (``-1`` off the Earth's disk) with ``x``, ``y``
        scan-angle coordinates (rad) on the scene's 1 km fixed grid; attrs
        ``regimes`` (tuple of names, index = label), ``flag_values``,
        ``flag_meanings`` and the projection parameters.
    """
    from .scenes import SyntheticScene

    if isinstance(path_or_abi_file, SyntheticScene):
        path = Path(path_or_abi_file.labels)
    else:
        path = Path(path_or_abi_file)
        if path.name.startswith("OR_ABI"):
            path = label_path_for(path)
    if not path.exists():
        raise FileNotFoundError(
            f"regime label map {path} does not exist; label maps exist only for synthetic "
            "scenes written by convml_tt.data.synthetic.write_synthetic_scenes"
        )
    with xr.open_dataset(path, engine="netcdf4", mask_and_scale=False) as ds:
        if "regime" not in ds.variables:
            raise ValueError(f"{path} is not a regime label map (no 'regime' variable)")
        da = ds["regime"].load()
        attrs = dict(ds.attrs)
    da.attrs["regimes"] = tuple(str(da.attrs.get("regime_names", ",".join(REGIMES))).split(","))
    da.attrs["source"] = str(path)
    da.attrs["time_coverage_start"] = attrs.get("time_coverage_start", "")
    # the scene's day-to-day factors (files written before they existed lack them)
    for name in ("length_scale_factor", "cloud_fractions", "nominal_cloud_fractions", "brightness_factors"):
        if name in attrs:
            da.attrs[name] = attrs[name]
    return da


@functools.lru_cache(maxsize=16)
def _label_grid(h: float, a: float, b: float, lon0: float, sweep: str) -> FixedGrid:
    """One FixedGrid (and so one set of PROJ transformers) per label-map grid."""
    return FixedGrid(
        perspective_point_height=h, semi_major_axis=a, semi_minor_axis=b,
        longitude_of_projection_origin=lon0, sweep_angle_axis=sweep,
    )


def _label_raster(labels: xr.DataArray) -> tuple:
    """``(grid, x0, dx, nx, y0, dy, ny, values)`` of a label map: what
    :func:`regime_at` reads from it (the xarray look-ups cost more than a
    tile's lookup; :class:`RegimeLabeler` keeps them per map)."""
    grid = _label_grid(
        float(labels.attrs["perspective_point_height"]),
        float(labels.attrs["semi_major_axis"]),
        float(labels.attrs["semi_minor_axis"]),
        float(labels.attrs["longitude_of_projection_origin"]),
        str(labels.attrs.get("sweep_angle_axis", "x")),
    )
    x = labels["x"].values
    y = labels["y"].values
    dx = x[1] - x[0] if x.size > 1 else 1.0
    dy = y[1] - y[0] if y.size > 1 else -1.0
    return grid, x[0], dx, x.size, y[0], dy, y.size, labels.values


def regime_at(labels: xr.DataArray | tuple, lat, lon) -> np.ndarray:
    """Regime label(s) at ``lat``, ``lon`` (degrees, broadcastable arrays or
    scalars), from the nearest label-map pixel; ``-1`` outside the map or off
    the Earth's disk. Returns an int array of the broadcast shape.
    ``labels``: a label map or its :func:`_label_raster`."""
    grid, x0, dx, nx, y0, dy, ny, vals = labels if isinstance(labels, tuple) else _label_raster(labels)
    sx, sy = grid.latlon_to_scan(lat, lon)
    with np.errstate(invalid="ignore"):
        col = np.rint((sx - x0) / dx)
        row = np.rint((sy - y0) / dy)
    ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    out = np.full(np.shape(sx), -1, dtype=np.int64)
    out[ok] = vals[row[ok].astype(np.int64), col[ok].astype(np.int64)]
    return out


@LABELERS.register("synthetic")
class RegimeLabeler:
    """The true regime of a tile of a synthetic scene, read from the scene's
    label map (a :class:`convml_tt.data.labels.Labeler`).

    ``label(tile, source_paths)`` returns ``{"regime": int, "regime_name":
    str, "regime_fraction": float}``: the regime covering most of the tile,
    counted on a :attr:`samples` x :attr:`samples` grid of points over it,
    and the fraction of those points it covers (rounded to 4 digits); None
    when none of ``source_paths`` has a label map (real data) or no point of
    the tile lies on the map.

    Label maps are cached per instance, keyed by the tuple of source paths;
    the cache is not pickled, so each worker process that receives the
    labeler starts with its own.
    """

    #: points per side of the grid on which a tile's regime fractions are counted
    samples = 16
    #: the names of the integer labels it gives (``regime`` indexes them); maps
    #: of its labels record them
    regimes = REGIMES

    def __init__(self) -> None:
        self._maps: dict[tuple[str, ...], xr.DataArray | None] = {}
        self._rasters: dict[tuple[str, ...], tuple] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = {}
        state["_rasters"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_rasters", {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def label_map(self, source_paths: Sequence[str]) -> xr.DataArray | None:
        """The label map of the scene of ``source_paths`` (the first path
        that has one), or None."""
        key = tuple(source_paths)
        if key not in self._maps:
            labels = None
            for p in source_paths:
                try:
                    labels = load_regime_labels(p)
                    break
                except (FileNotFoundError, ValueError, OSError):
                    continue
            self._maps[key] = labels
        return self._maps[key]

    def check_sources(self, source_paths: Sequence[str], what: str) -> None:
        """Refuse a scene not written by the synthetic generator (no label map
        beside any of its ``source_paths``): real scenes get no synthetic names."""
        if self.label_map(source_paths) is None:
            first = Path(source_paths[0]).name if source_paths else "(no source file recorded)"
            raise ValueError(f"--labels synthetic (the true regimes of synthetic scenes) cannot label {what}: its "
                             f"scene ({first}) has no synthetic label map ({LABEL_PREFIX}_*.nc) beside it, so it "
                             f"was not written by `convml_tt synthetic`; leave --labels out for real scenes")

    def label(self, tile: "Tile", source_paths: Sequence[str]) -> dict[str, Any] | None:
        labels = self.label_map(source_paths)
        if labels is None:
            return None
        m = self.samples
        u = (np.arange(m) + 0.5) / m * tile.size - tile.size / 2
        uu, vv = np.meshgrid(u, -u)
        lat, lon = tile.latlon(uu, vv)
        key = tuple(source_paths)
        if key not in self._rasters:
            self._rasters[key] = _label_raster(labels)
        found = np.asarray(regime_at(self._rasters[key], lat, lon)).ravel()
        found = found[found >= 0]
        if found.size == 0:
            return None
        counts = np.bincount(found)
        label = int(np.argmax(counts))
        names = labels.attrs.get("regimes") or ()
        name = str(names[label]) if label < len(names) else str(label)
        return {"regime": label, "regime_name": name, "regime_fraction": round(float(counts[label]) / (m * m), 4)}
