"""Domain composites: a recipe's bands over a lat/lon domain, on one raster.

A composite is built from the band files of one ABI scan ("scene") and a
recipe (:mod:`convml_tt.data.composites.recipes`; default: true colour):

1. for every band of the recipe, only the window of the file covering the
   domain plus a margin is read (:func:`convml_tt.data.sources.goes_abi.bbox_window` and
   :class:`~convml_tt.data.sources.goes_abi.WindowReader`, which gives the values of
   :func:`~convml_tt.data.sources.goes_abi.read_abi` with ``window=`` straight through
   netCDF4);
2. radiances are calibrated to reflectance factor (bands 1-6) or
   brightness temperature (K, bands 7-16); L2 ``CMI`` is already
   calibrated; with the sun-zenith correction (``sunz``: the recipe's
   default ``Recipe.sunz``, on for true colour), reflective bands are
   divided by the cosine of the solar zenith angle at each pixel at the
   scan start (:func:`~convml_tt.data.geometry.solar.sunz_correction_factor`:
   ``1 / cos(SZA)`` up to 88 degrees, then tapered to 0 at 95 degrees),
   after they are on the common raster and before the recipe combines them;
3. space pixels (fill values, off the Earth's disk) and pixels whose data
   quality flag ``DQF`` exceeds ``dqf_max`` (default 1: keep "good" and
   "conditionally usable") become NaN;
4. bands are brought to a common resolution (default 1 km): finer bands are
   block-averaged (band 2 at 0.5 km: 2 x 2 means, NaN if any input is NaN),
   coarser bands are upsampled by pixel replication, on a fixed-grid raster
   aligned with the bands' own pixels (:mod:`~convml_tt.data.composites.raster`);
5. the recipe combines the bands into its output planes, e.g. the CIMSS
   simulated green of true colour (Bah et al. 2018, doi:10.1029/2018EA000379)::

       green = 0.45 * red + 0.10 * veggie + 0.45 * blue

The stored values are the linear reflectances (or brightness temperatures),
so they stay comparable with other tools;
:func:`~convml_tt.data.composites.enhance.to_uint8` applies the display
stretch used for PNG tiles and plots: clip to [0, 1], then gamma 1/2.2
(``255 * r ** (1 / 2.2)``, rounded).

The composite is a netCDF file: the image on the fixed grid (``x``, ``y``
scan angles in radians, row 0 north), 2-D ``lat``/``lon`` coordinates, the
``goes_imager_projection`` variable with the attributes of the source files,
the scan start ``time``, the source file names and the parameters. It is
written atomically (:func:`convml_tt._io.atomic_path`), and a second call
with the same inputs reuses it. Before a composite is written, temporary
files of the same composite that a killed run left are removed (assuming
one writer per composite file: two processes must not build the same
composite at the same time).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import xarray as xr

from ..._io import atomic_path, remove_temps_of
from ...config import CompositeSettings
from ..sources import get_source, identify, list_sources
from ..sources.base import Scene, SourceFileError, group_scenes, platform_label
from ..sources.goes_abi import OffDiskError, check_bbox
from .recipes import Kind, Recipe, combine_block, get_recipe
from .scenes import SkippedScene, coverage_table, find_scenes, no_scenes_error, scan_sources

__all__ = [
    "make_composite",
    "make_composites",
    "composite_path",
    "load_composite",
    "find_scenes",
    "as_scene",
    "Composites",
]

log = logging.getLogger(__name__)

SceneLike = Union[Scene, Mapping[Any, Union[str, os.PathLike]], Sequence[Union[str, os.PathLike]], str, os.PathLike]

#: output rows per block of the recipe's combine and the sun-zenith correction
_BLOCK_ROWS = 64


def _row_blocks(n: int, rows: int = _BLOCK_ROWS):
    """``(start, stop)`` of consecutive blocks of ``rows`` rows covering ``range(n)``."""
    for o0 in range(0, n, rows):
        yield o0, min(n, o0 + rows)


# -----------------------------------------------------------------------------
# scenes
# -----------------------------------------------------------------------------
def as_scene(scene: SceneLike, source: str | None = None, start: dt.datetime | None = None) -> Scene:
    """A :class:`~convml_tt.data.sources.base.Scene` from a Scene, a
    ``{band: path}`` mapping, a list of paths or one path (each file
    recognised by a registered source, or by ``source``); the files must
    make exactly one scan, or, with ``start``, hold the one that starts then
    (to the second: a time step of gridded output with several)."""
    if isinstance(scene, Scene):
        return scene
    if isinstance(scene, (str, os.PathLike)):
        paths = [Path(scene)]
    elif isinstance(scene, Mapping):
        paths = [Path(p) for p in scene.values()]
    else:
        paths = [Path(p) for p in scene]
    names = [source] if source else None
    files = []
    for p in paths:
        f = identify(p, names)
        if f is None:
            raise SourceFileError(
                f"{p}: no registered source recognises this file (sources: {', '.join(list_sources())}); for an "
                f"ABI file the name must be NOAA's (…C01_G16_s…_e…_c….nc), or name the source with --source")
        files.append(f)
    scenes = group_scenes(files)
    if start is not None:
        scenes = [s for s in scenes if abs((s.start - start).total_seconds()) < 1] or scenes
    if len(scenes) != 1:
        scans = sorted({(s.platform, s.sector, s.start) for s in scenes})
        raise ValueError(
            f"composite files come from different scans {[(platform_label(a), b, str(c)) for a, b, c in scans]}; "
            "give the band files of one scan (same satellite, sector and start time)")
    return scenes[0]


# -----------------------------------------------------------------------------
# paths and loading
# -----------------------------------------------------------------------------
def _domain_tag(domain) -> str:
    return "domain_" + "_".join(f"{v:.3f}" for v in check_bbox(domain))


def _res_tag(resolution_km: float) -> str:
    return f"{resolution_km:g}km"


def composite_path(
    data_root: str | os.PathLike,
    scene: SceneLike,
    domain: Sequence[float],
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
) -> Path:
    """Where the composite of ``scene`` over ``domain`` is cached:
    ``{data_root}/composites/{platform}/{domain}/{kind}_{res}km/{product}{sector}_{YYYYmmddTHHMMSS}.nc``
    (``platform``: e.g. ``goes16``; ``kind``: the recipe's name, e.g. ``truecolor``, ``C13``)."""
    s = as_scene(scene)
    ktag = get_recipe(kind).name
    return (
        Path(data_root)
        / "composites"
        / s.platform
        / _domain_tag(domain)
        / f"{ktag}_{_res_tag(resolution_km)}"
        / f"{s.product}{s.sector}_{s.start:%Y%m%dT%H%M%S}.nc"
    )


def load_composite(path: str | os.PathLike, load: bool = False) -> xr.Dataset:
    """Open a composite written by :func:`make_composite` (lazily unless ``load``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"composite {path} does not exist; make it with make_composite")
    ds = xr.open_dataset(path, engine="netcdf4")
    if "composite_variable" not in ds.attrs:
        ds.close()
        raise ValueError(f"{path} is not a convml_tt composite (no 'composite_variable' attribute)")
    if load:
        ds.load()
        ds.close()
    return ds


# -----------------------------------------------------------------------------
# making composites
# -----------------------------------------------------------------------------
def _reflective(scene: Scene, recipe: Recipe) -> list:
    """The recipe's bands that are reflective in the scene's band table."""
    table = get_source(scene.source).band_table(scene.platform)
    return [b for b in recipe.bands if table.get(b, f"(recipe {recipe.name!r})").reflective]


def _sunz(settings: CompositeSettings, recipe: Recipe, scene: Scene) -> bool:
    """Whether the reflective bands of ``recipe`` are sun-zenith corrected
    (``settings.sunz``, or the recipe's default; False without reflective bands)."""
    on = recipe.sunz if settings.sunz is None else bool(settings.sunz)
    return on and bool(_reflective(scene, recipe))


#: fingerprint attributes that composites made before them lack, and the value that meant
_ABSENT = {"sunz": "0"}


def _dqf_max(settings: CompositeSettings) -> int | None:
    from ..sources.goes_abi.source import dqf_max_for

    return dqf_max_for(settings.quality) if settings.dqf_max is None else int(settings.dqf_max)


def _source_stats(paths: Sequence[Path]) -> str:
    """``name size mtime_ns`` of each source file: a source that changed
    (rewritten with other content) invalidates what was made from it."""
    lines = []
    for p in paths:
        try:
            st = os.stat(p)
            lines.append(f"{Path(p).name} {st.st_size} {st.st_mtime_ns}")
        except OSError:
            lines.append(f"{Path(p).name} missing")
    return "\n".join(lines)


def _fingerprint(scene: Scene, settings: CompositeSettings, recipe: Recipe) -> dict:
    paths = [Path(scene.files[b]) for b in recipe.bands]
    fp = {
        "kind": recipe.name,
        "domain": " ".join(f"{v:.6f}" for v in check_bbox(settings.domain)),
        "resolution_km": float(settings.resolution_km),
        "margin_pixels": int(settings.margin),
        "quality": settings.quality,
        "dqf_max": -1 if _dqf_max(settings) is None else _dqf_max(settings),
        "recipe_version": recipe.version,
        "source_files": "\n".join(dict.fromkeys(p.name for p in paths)),
        "source_stats": _source_stats(list(dict.fromkeys(paths))),
    }
    if _reflective(scene, recipe):
        fp["sunz"] = int(_sunz(settings, recipe, scene))  # a corrected composite is not an uncorrected one
    return fp


def _matches(path: Path, fp: dict) -> bool:
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except (OSError, ValueError, KeyError, RuntimeError):
        return False
    return all(
        str(attrs.get(k, _ABSENT.get(k))) == str(v) if not isinstance(v, float) else
        bool(np.isclose(float(attrs.get(k, np.nan)), v))
        for k, v in fp.items()
    )


def make_composite(
    scene: SceneLike,
    domain: Sequence[float],
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
    out_path: str | os.PathLike | None = None,
    margin: int = 2,
    dqf_max: int | None = None,
    overwrite: bool = False,
    sunz: bool | None = None,
    quality: str = "keep-saturated",
    source: str | None = None,
) -> xr.Dataset:
    """Composite of one scene over a lat/lon domain.

    Parameters
    ----------
    scene:
        the scene's files: a :class:`~convml_tt.data.sources.base.Scene`, or
        ``{band: path}``, a list of paths or one path, each recognised by a
        registered source (ABI files by their NOAA names) or by ``source``,
        all from one scan.
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
    kind:
        a recipe (:func:`~convml_tt.data.composites.recipes.get_recipe`):
        ``"truecolor"`` (bands 1, 2, 3 -> variable ``rgb`` (y, x, channel) with
        channels red, green, blue, reflectance), a band number 1-16 or its
        name ``"C13"`` (variable ``C13`` etc. (y, x): reflectance for bands
        1-6, brightness temperature in K for 7-16), any registered recipe
        name or a :class:`~convml_tt.data.composites.recipes.Recipe`.
    resolution_km:
        common pixel size at the sub-satellite point, km (0.5, 1 or 2; a
        whole multiple or divisor of every band's native resolution).
    out_path:
        netCDF file to write (None: do not write). Reused when it exists and
        was made from the same files with the same parameters.
    margin:
        extra pixels around the domain's window, at the bands' native resolution.
    dqf_max:
        ABI only: pixels with a data quality flag above this become NaN (0 =
        good, 1 = conditionally usable, 2 = out of range, e.g. saturated, 3 =
        no value); None: from ``quality``.
    overwrite:
        rebuild even if ``out_path`` holds a matching composite.
    sunz:
        divide the reflectance of the reflective bands (1-6) by the cosine
        of the solar zenith angle at the scan start (None: the recipe's
        default ``Recipe.sunz``: on for ``truecolor``, off for ``C01``-``C06``,
        which then stay the plain reflectance factor; no effect on
        infrared bands). The correction is ``1 / cos(SZA)`` up to
        ``SZA = 88`` degrees, then tapered linearly to 0 at 95 degrees
        (night pixels are 0); see :func:`convml_tt.data.geometry.solar.sunz_correction_factor`.
        The composite's ``sunz`` attribute (1/0) records it, and a cached
        composite is reused only with the same setting.
    quality:
        how pixels the producer flagged are treated: ``"keep-saturated"``
        (default: saturated pixels keep their stored value, as satpy does,
        and are counted in the ``flagged_pixels`` attribute), ``"strict"``
        (NaN) or ``"all"`` (every pixel with a value).
    source:
        the registry name of the source that reads the files (None: the one
        that recognises them).

    Returns
    -------
    xarray.Dataset with coordinates ``y``, ``x`` (scan angles, radians),
    ``lat``, ``lon`` (y, x) in degrees and ``time``; NaN marks space and
    bad-quality pixels.

    Raises
    ------
    ValueError
        a domain with min >= max, a missing band, files of different scans
        (:class:`~convml_tt.data.sources.base.SceneMismatchError` when the
        contents of a file disagree with its name or the other bands').
    OffDiskError
        a domain off the Earth's disk or not wholly inside the files' sector.
    """
    settings = CompositeSettings(domain=domain, recipe=kind, resolution_km=resolution_km,
                                 margin=margin, dqf_max=dqf_max, sunz=sunz, quality=quality, source=source)
    return _make(as_scene(scene, source), settings, get_recipe(kind), out_path, reuse=not overwrite)


def _allocate(recipe: Recipe, ny: int, nx: int):
    """The output image, its planes (``(ny, nx)`` views) and the array each
    band is read into (its plane, per ``recipe.read_into``, or its own)."""
    if recipe.channels is None:
        img = np.empty((ny, nx), np.float32)
        planes = [img]
    else:
        img = np.empty((ny, nx, recipe.n_planes), np.float32)
        planes = [img[:, :, i] for i in range(recipe.n_planes)]
    arrays = {
        b: planes[recipe.read_into[b]] if b in recipe.read_into else np.empty((ny, nx), np.float32)
        for b in recipe.bands
    }
    return img, planes, arrays


def _combine(recipe: Recipe, planes: list[np.ndarray], arrays: dict[int, np.ndarray]) -> None:
    """Apply ``recipe.combine`` in row blocks (bounded temporaries); a band
    read into a plane is read before that plane is overwritten, elementwise,
    so the values are those of one whole-image expression."""
    if recipe.combine is None:
        return
    filled = set(recipe.read_into.values())
    for o0, o1 in _row_blocks(planes[0].shape[0]):
        out = combine_block(recipe, {b: a[o0:o1] for b, a in arrays.items()}, planes[0][o0:o1].shape)
        for i, values in out.items():
            planes[i][o0:o1] = values
            filled.add(i)
    empty = sorted(set(range(recipe.n_planes)) - filled)
    if empty:
        raise ValueError(f"recipe {recipe.name!r}: its combine function returned nothing for "
                         f"output plane(s) {empty}, which no band was read into")


def _bands_of(scene: Scene, recipe: Recipe) -> list:
    """The recipe's bands, checked against the scene's source: its sensor and
    its band table; a band the scene lacks is named."""
    src = get_source(scene.source)
    sensors = set(getattr(src, "sensors", (src.sensor,)))
    if recipe.sensor not in sensors and "*" not in sensors:
        raise ValueError(f"recipe {recipe.name!r} is made of {recipe.sensor} bands but {scene.describe()} is "
                         f"{'/'.join(sorted(sensors))} data (source {src.name}); choose a recipe of its sensor "
                         f"(convml_tt composite --list-recipes)")
    table = src.band_table(scene.platform)
    if len(sensors) > 1 and table.sensor != recipe.sensor:  # a source of several sensors: this scene's
        raise ValueError(f"recipe {recipe.name!r} is made of {recipe.sensor} bands but {scene.describe()} is "
                         f"{table.sensor} data (source {src.name}); choose a recipe of its sensor "
                         f"(convml_tt composite --list-recipes)")
    for b in recipe.bands:
        table.get(b, f"(recipe {recipe.name!r})")
    missing = [b for b in recipe.bands if b not in scene.files]
    if missing:
        raise ValueError(
            f"composite {recipe.name!r} needs bands {list(recipe.bands)}; the scene lacks {missing} "
            f"(it has {sorted(scene.files, key=str)})"
        )
    return list(recipe.bands)


def _make(scene: Scene, settings: CompositeSettings, recipe: Recipe, out_path, reuse: bool) -> xr.Dataset:
    bands, domain = _bands_of(scene, recipe), settings.domain
    fp = _fingerprint(scene, settings, recipe)
    if out_path is not None:
        out_path = Path(out_path)
        if reuse and out_path.exists() and _matches(out_path, fp):
            return load_composite(out_path)
    src = get_source(scene.source)
    kw = {"dqf_max": _dqf_max(settings)} if src.name == "goes_abi" else {}
    with src.open_window(scene, bands, domain, settings.resolution_km, settings.margin, settings.quality,
                         **kw) as win:
        # every band goes straight into its place in the output (its plane,
        # per the recipe's read_into) or into an array of its own
        img, planes, arrays = _allocate(recipe, *win.shape)
        for b in bands:
            win.read(b, arrays[b])
        x, y = win.x, win.y
        grid_name, grid_attrs = win.grid_mapping
        x_attrs, y_attrs = win.x_attrs, win.y_attrs
        flagged = dict(win.flagged)
        lat, lon = win.latlon()
        # a field recipe (units "") keeps the units of the source's variable
        units = recipe.units or (win.units(bands[0]) if hasattr(win, "units") else "1")
    space = ~np.isfinite(lat)
    coords: dict[str, Any] = {
        "y": ("y", y, y_attrs),
        "x": ("x", x, x_attrs),
        "lat": (("y", "x"), lat, {"units": "degrees_north", "long_name": "latitude"}),
        "lon": (("y", "x"), lon, {"units": "degrees_east", "long_name": "longitude"}),
        "time": ((), np.datetime64(scene.start, "ns"), {"long_name": "scan start time (UTC)"}),
    }
    sunz_attrs = _correct_sunz(scene, recipe, arrays, lat, lon) if _sunz(settings, recipe, scene) else {}
    _combine(recipe, planes, arrays)
    del planes, arrays
    img[space] = np.nan
    dims: tuple[str, ...] = ("y", "x")
    if recipe.channels is not None:
        dims += ("channel",)
        coords["channel"] = ("channel", np.array(list(recipe.channels)))
    var = xr.Variable(dims, img, {
        "units": units,
        "long_name": recipe.long_name,
        "grid_mapping": grid_name,
        **recipe.attrs,
    })
    name = recipe.variable
    ds = xr.Dataset({name: var}, coords=coords)
    ds[grid_name] = xr.Variable((), np.int32(-2147483647), grid_attrs)
    label = platform_label(scene.platform)
    attrs = {
        "title": f"{label} {src.band_table(scene.platform).sensor.upper()} {recipe.name} composite",
        "composite_variable": name,
        "platform": scene.platform,
        "source": src.name,
        "product": scene.product,
        "sector": scene.sector,
        "time_coverage_start": scene.start.isoformat(),
        "source_paths": "\n".join(str(p) for p in dict.fromkeys(str(scene.files[b]) for b in bands)),
        "Conventions": "CF-1.8",
        **fp,
        **sunz_attrs,
    }
    if scene.platform.startswith("goes") and scene.platform[4:].isdigit():
        attrs["satellite"] = int(scene.platform[4:])
    if flagged:
        attrs["flagged_pixels"] = ", ".join(f"{k}: {v}" for k, v in flagged.items())
        attrs["flagged_pixels_meaning"] = ("pixels the producer flagged out of range (e.g. saturated) that the "
                                           f"quality policy {settings.quality!r} kept at their stored value")
    ds.attrs.update(attrs)
    if out_path is not None:
        _write_netcdf(ds, out_path, name)
    return ds


def _correct_sunz(scene: Scene, recipe: Recipe, arrays: dict, lat: np.ndarray, lon: np.ndarray) -> dict:
    """Divide the recipe's reflective bands (``arrays``, float32 ``(ny, nx)``
    on the composite's raster, in place) by cos(SZA) at ``start`` and the
    pixels' ``lat``/``lon``, with the limit of
    :func:`~convml_tt.data.geometry.solar.sunz_correction_factor`; returns the
    attributes that record it. Row blocks bound the float64 temporaries."""
    from ..geometry import solar

    start = scene.start
    refl = _reflective(scene, recipe)
    for o0, o1 in _row_blocks(lat.shape[0], 256):
        f = solar.sunz_correction_factor(solar.cos_solar_zenith(start, lat[o0:o1], lon[o0:o1]))
        for b in refl:
            arrays[b][o0:o1] *= f
    return {
        "sunz_correction": (
            f"bands {', '.join(_band_name(scene, b) for b in refl)} divided by cos(solar zenith angle) at the scan start "
            f"{start.isoformat()} up to {solar.SUNZ_LIMIT:g} degrees, then by a factor tapering linearly to 0 "
            f"at {solar.SUNZ_MAX:g} degrees (convml_tt.data.geometry.solar)"),
        "sunz_limit_deg": float(solar.SUNZ_LIMIT),
        "sunz_max_deg": float(solar.SUNZ_MAX),
    }


def _band_name(scene: Scene, band) -> str:
    return get_source(scene.source).band_table(scene.platform).get(band).name


def _write_netcdf(ds: xr.Dataset, out_path: Path, name: str) -> None:
    out_path = Path(out_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create the folder {out_path.parent} for composites ({err})") from err
    var = ds[name]
    chunks = tuple(min(s, 256) for s in var.shape[:2]) + tuple(var.shape[2:])
    encoding = {name: {"chunksizes": chunks, "zlib": False}, "lat": {"zlib": True, "complevel": 1}, "lon": {"zlib": True, "complevel": 1}}
    # stale temporary files of this composite (a killed write); one writer per output
    remove_temps_of(out_path)
    with atomic_path(out_path, mkdir=False) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)


_KEYWORD_DEFAULTS = {"domain": None, "start": None, "end": None, "kind": "truecolor",
                     "resolution_km": 1.0, "satellite": None}


class Composites(list):
    """What :func:`make_composites` returns: the composite paths (a list, in
    time order) plus ``skipped``, the :class:`~convml_tt.data.composites.scenes.SkippedScene`
    of every scan that was not composited (a band missing, a file in another
    platform's cache folder, or a sector that does not cover the domain),
    each with :meth:`~SkippedScene.describe`; :meth:`coverage` is the table
    of both."""

    def __init__(self, paths: Sequence[Path] = (), skipped: Sequence[SkippedScene] = ()):
        super().__init__(paths)
        self.skipped: list[SkippedScene] = list(skipped)

    def coverage(self) -> str:
        """A plain-text table: each scene, composited or skipped, and why."""
        return coverage_table(self, self.skipped)


class NoCoverageError(OffDiskError):
    """No scene covers the domain: every sector seen lies elsewhere."""


def make_composites(
    data_root: str | os.PathLike,
    domain: Sequence[float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
    satellite: int | str | None = None,
    skip_outside: bool = True,
    progress: bool = True,
    settings: CompositeSettings | None = None,
    strict: bool = False,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
    **kwargs,
) -> Composites:
    """Composites of every scene with scan start in ``[start, end]``, of the
    source cache (``{data_root}/sources``, any layout below it) or of
    ``inputs`` (your own folders, glob patterns or files), written to
    :func:`composite_path` (existing ones are reused). Returns their paths,
    in time order, as a :class:`Composites` list whose ``skipped`` names the
    scans left out and why (``coverage()``: the table of both); each is also
    logged as a warning (logger ``convml_tt.data.composites.build``), which
    the CLI prints.

    The settings come either as ``settings`` (a
    :class:`~convml_tt.config.CompositeSettings`) or as the keywords
    ``domain``, ``start``, ``end``, ``kind`` (the recipe), ``resolution_km``,
    ``satellite`` (a platform: 16-19 or an id) and, in ``kwargs``,
    ``margin``, ``dqf_max``, ``sunz``, ``quality``, ``product``, ``sector``,
    ``source`` and ``inputs`` (see :class:`~convml_tt.config.CompositeSettings`),
    not both. ``kwargs`` may also hold ``overwrite`` (rebuild existing
    composites).
    ``skip_outside`` (default True): a scene whose sector does not cover the
    domain (e.g. a mesoscale sector that moved) is skipped and reported; when
    no scene is left a :class:`NoCoverageError` (an ``OffDiskError``) names
    the sectors seen and where they lie. False: the first such scene raises.
    ``strict``: raise :class:`~convml_tt.data.sources.goes_abi.MissingBandsError`, before
    any composite is made, when a scan lacks a band of the recipe (or a file
    is in another platform's folder), instead of skipping it.
    ``workers``, ``scheduler``, ``client``: where the scenes' composites are
    made (one task per scene, :mod:`convml_tt.compute`): in this process
    (None or 1), ``workers`` local processes, or on a dask cluster (its
    address or scheduler file, or a ``distributed.Client``), whose workers
    read the source files and write the composites (both on storage they
    share). A recipe registered by a plugin must be importable (by module
    name) in the worker processes.
    """
    from ...compute import compute_settings, run_tasks
    from ..sources.goes_abi import MissingBandsError

    overwrite = bool(kwargs.pop("overwrite", False))
    if settings is None:
        if domain is None:
            raise TypeError("make_composites needs a domain (or settings=CompositeSettings(...))")
        settings = CompositeSettings(domain=domain, start=start, end=end, recipe=kind,
                                     resolution_km=resolution_km, satellite=satellite, **kwargs)
    else:
        given = dict(domain=domain, start=start, end=end, kind=kind, resolution_km=resolution_km,
                     satellite=satellite, **kwargs)
        both = sorted(k for k, v in given.items() if k not in _KEYWORD_DEFAULTS or v != _KEYWORD_DEFAULTS[k])
        if both:
            raise TypeError(f"make_composites got settings= and the keyword(s) {both}; "
                            f"give the composite settings one way, not both")
    compute_settings(workers, scheduler, client)  # bad choices fail before anything is read
    recipe = get_recipe(settings.recipe)
    start, end = settings.start, settings.end
    where = dict(inputs=settings.inputs, source=settings.source, sensor=recipe.sensor)
    scenes, skipped = scan_sources(data_root, recipe.bands, start, end, settings.satellite, settings.product,
                                   settings.sector, **where)
    if strict and skipped:
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise MissingBandsError(
            f"{len(skipped)} {'cached ' if settings.inputs is None else ''}scene(s) cannot be composited with "
            f"{recipe.name!r}: "
            + "; ".join(s.describe() for s in skipped[:3]) + more
            + "; fetch the missing bands (convml_tt fetch) or drop --strict (strict=False) to "
            "composite the complete scenes only")
    for s in skipped:
        log.warning("%s", s.describe())
    if not scenes:
        raise no_scenes_error(data_root, recipe.bands, start, end, settings.satellite, skipped,
                              product=settings.product, sector=settings.sector, **where)
    paths = Composites(skipped=skipped)
    config = {"data_root": str(data_root), "settings": settings, "recipe": recipe,
              "overwrite": overwrite, "skip_outside": bool(skip_outside)}
    # composites already made are found here (a header read each); only the others become tasks
    got: list[Any] = [_reusable(config, s) for s in scenes]
    todo = [k for k, g in enumerate(got) if g is None]
    made = run_tasks(_composite_task, [scenes[k] for k in todo], setup=_composite_setup, config=config,
                     workers=workers, scheduler=scheduler, client=client, progress=progress,
                     desc="composites", unit="scene", initial=len(scenes) - len(todo))
    for k, result in zip(todo, made):
        got[k] = result
    outside = []
    for result in got:
        if isinstance(result, SkippedScene):
            paths.skipped.append(result)
            outside.append(result)
        else:
            paths.append(Path(result))
    if paths:  # (with no scene left, the error below lists them)
        for s in outside:
            log.warning("%s", s.describe())
    if not paths and outside:
        seen = "; ".join(f"{s.satellite if isinstance(s.satellite, str) else f'GOES-{s.satellite}'} "
                         f"{s.product}{s.sector} {s.start:%Y-%m-%dT%H:%M}: {s.reason}" for s in outside[:4])
        more = f" (and {len(outside) - 4} more)" if len(outside) > 4 else ""
        raise NoCoverageError(f"no scene covers the domain {tuple(settings.domain)}: {len(outside)} scene(s) seen, "
                              f"{seen}{more}; choose a domain inside one of these sectors, or other scenes "
                              f"(--sector/--product/--input)")
    return paths


_COMPOSITE_CONFIG: dict[str, Any] = {}


def _composite_setup(config: dict) -> None:
    """Set a process up for :func:`_composite_task` (settings, recipe, options)."""
    _COMPOSITE_CONFIG.clear()
    _COMPOSITE_CONFIG.update(config)


def _reusable(config: dict, scene: Scene) -> str | None:
    """The path of the scene's composite when one made from the same files
    with the same settings exists (and ``overwrite`` is off), else None."""
    settings, recipe = config["settings"], config["recipe"]
    out = composite_path(config["data_root"], scene, settings.domain, recipe, settings.resolution_km)
    if out.exists() and not config["overwrite"] and _matches(out, _fingerprint(scene, settings, recipe)):
        return str(out)
    return None


def _composite_task(scene: Scene) -> str | SkippedScene:
    """A task of :mod:`convml_tt.compute`: one scene's composite, reused when
    a matching one exists; returns its path, or the :class:`SkippedScene` of
    a sector that does not cover the domain when ``skip_outside``."""
    c = _COMPOSITE_CONFIG
    settings, recipe = c["settings"], c["recipe"]
    reused = _reusable(c, scene)
    if reused is not None:
        return reused
    out = composite_path(c["data_root"], scene, settings.domain, recipe, settings.resolution_km)
    try:
        _make(scene, settings, recipe, out, reuse=False)
    except OffDiskError as err:
        if c["skip_outside"]:
            reason = str(err)
            for p in scene.paths():
                reason = reason.replace(str(p), p.name)
            return SkippedScene.of(scene, f"its sector does not cover the domain: {reason}")
        raise
    return str(out)
