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
from ..sources import goes_abi as abi
from ..sources.goes_abi import FixedGrid, OffDiskError, check_bbox
from ..sources.goes_abi import ABIKey
from .raster import _latlon_raster, _read_band, _row_blocks, _spacing, _target_raster
from .recipes import Kind, Recipe, combine_block, get_recipe
from .scenes import SkippedScene, find_scenes, no_scenes_error, scan_sources

__all__ = [
    "make_composite",
    "make_composites",
    "composite_path",
    "load_composite",
    "find_scenes",
    "scene_key",
    "Composites",
]

log = logging.getLogger(__name__)

Scene = Union[Mapping[int, Union[str, os.PathLike]], Sequence[Union[str, os.PathLike]]]


# -----------------------------------------------------------------------------
# scenes
# -----------------------------------------------------------------------------
def _scene_files(scene: Scene) -> dict[int, Path]:
    if isinstance(scene, Mapping):
        return {int(b): Path(p) for b, p in scene.items()}
    files: dict[int, Path] = {}
    for p in scene:
        key = ABIKey.parse(str(p))
        if key.band is None:
            raise ValueError(f"{p}: file name has no band (…C01_…), cannot use it in a composite")
        files[key.band] = Path(p)
    return files


def scene_key(scene: Scene) -> ABIKey:
    """The :class:`~convml_tt.data.sources.goes_abi.ABIKey` of a scene's first band file."""
    files = _scene_files(scene)
    return ABIKey.parse(str(files[min(files)]))


# -----------------------------------------------------------------------------
# paths and loading
# -----------------------------------------------------------------------------
def _domain_tag(domain) -> str:
    return "domain_" + "_".join(f"{v:.3f}" for v in check_bbox(domain))


def _res_tag(resolution_km: float) -> str:
    return f"{resolution_km:g}km"


def composite_path(
    data_root: str | os.PathLike,
    scene: Scene,
    domain: Sequence[float],
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
) -> Path:
    """Where the composite of ``scene`` over ``domain`` is cached:
    ``{data_root}/composites/goes{sat}/{domain}/{kind}_{res}km/{product}{sector}_{YYYYmmddTHHMMSS}.nc``
    (``kind``: the recipe's name, e.g. ``truecolor``, ``C13``)."""
    key = scene_key(scene)
    ktag = get_recipe(kind).name
    return (
        Path(data_root)
        / "composites"
        / f"goes{key.satellite}"
        / _domain_tag(domain)
        / f"{ktag}_{_res_tag(resolution_km)}"
        / f"{key.product}{key.sector}_{key.start:%Y%m%dT%H%M%S}.nc"
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
def _sunz(settings: CompositeSettings, recipe: Recipe) -> bool:
    """Whether the reflective bands of ``recipe`` are sun-zenith corrected
    (``settings.sunz``, or the recipe's default; False without reflective bands)."""
    on = recipe.sunz if settings.sunz is None else bool(settings.sunz)
    return on and any(b in abi.REFLECTIVE_BANDS for b in recipe.bands)


#: fingerprint attributes that composites made before them lack, and the value that meant
_ABSENT = {"sunz": "0"}


def _fingerprint(files: dict[int, Path], settings: CompositeSettings, recipe: Recipe) -> dict:
    fp = {
        "kind": recipe.name,
        "domain": " ".join(f"{v:.6f}" for v in check_bbox(settings.domain)),
        "resolution_km": float(settings.resolution_km),
        "margin_pixels": int(settings.margin),
        "dqf_max": int(settings.dqf_max),
        "recipe_version": recipe.version,
        "source_files": "\n".join(files[b].name for b in sorted(files)),
    }
    if any(b in abi.REFLECTIVE_BANDS for b in recipe.bands):
        fp["sunz"] = int(_sunz(settings, recipe))  # a corrected composite is not an uncorrected one
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
    scene: Scene,
    domain: Sequence[float],
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
    out_path: str | os.PathLike | None = None,
    margin: int = 2,
    dqf_max: int = 1,
    overwrite: bool = False,
    sunz: bool | None = None,
) -> xr.Dataset:
    """Composite of one scene over a lat/lon domain.

    Parameters
    ----------
    scene:
        the scene's band files, ``{band: path}`` or a list of paths whose names
        say the band (ABI L1b ``Rad`` or L2 ``CMI``), all from one scan.
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
        pixels with a data quality flag above this become NaN (0 = good,
        1 = conditionally usable, 2 = out of range, 3 = no value).
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

    Returns
    -------
    xarray.Dataset with coordinates ``y``, ``x`` (scan angles, radians),
    ``lat``, ``lon`` (y, x) in degrees and ``time``; NaN marks space and
    bad-quality pixels.

    Raises
    ------
    ValueError
        a domain with min >= max, a missing band, files of different scans.
    OffDiskError
        a domain off the Earth's disk or not wholly inside the files' sector.
    """
    settings = CompositeSettings(domain=domain, recipe=kind, resolution_km=resolution_km,
                                 margin=margin, dqf_max=dqf_max, sunz=sunz)
    return _make(scene, settings, get_recipe(kind), out_path, reuse=not overwrite)


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


def _make(scene: Scene, settings: CompositeSettings, recipe: Recipe, out_path, reuse: bool) -> xr.Dataset:
    bands, domain = recipe.bands, settings.domain
    files = _scene_files(scene)
    missing = [b for b in bands if b not in files]
    if missing:
        raise ValueError(
            f"composite {recipe.name!r} needs bands {list(bands)}; the scene lacks {missing} "
            f"(it has {sorted(files)})"
        )
    files = {b: files[b] for b in bands}
    fp = _fingerprint(files, settings, recipe)
    if out_path is not None:
        out_path = Path(out_path)
        if reuse and out_path.exists() and _matches(out_path, fp):
            return load_composite(out_path)

    keys = {b: ABIKey.parse(files[b].name) for b in bands}
    scans = {(k.satellite, k.sector, k.start.replace(microsecond=0)) for k in keys.values()}
    if len(scans) > 1:
        raise ValueError(
            f"composite files come from different scans {sorted(scans)}; give the band "
            "files of one scan (same satellite, sector and start time)"
        )
    # windows read straight through netCDF4 (same values as abi.read_abi +
    # abi.calibrate), without xarray's file backends and their imports
    readers: dict[int, abi.WindowReader] = {}
    try:
        for b in bands:
            readers[b] = abi.WindowReader(files[b], band=b)
        dss = {b: readers[b].header for b in bands}
        grids = {b: FixedGrid.from_dataset(dss[b]) for b in bands}
        if len(set(grids.values())) > 1:
            raise ValueError(f"the band files {sorted(map(str, files.values()))} have different projections")
        grid = grids[bands[0]]
        ref = max(bands, key=lambda b: abs(_spacing(dss[b]["x"].values)))
        xaxis, yaxis = _target_raster(dss[ref], domain, settings.resolution_km, settings.margin,
                                      f"band {ref} ({files[ref].name})")
        # every band goes straight into its place in the output (its plane,
        # per the recipe's read_into) or into an array of its own
        img, planes, arrays = _allocate(recipe, yaxis[2], xaxis[2])
        for b in bands:
            _read_band(readers[b], dss[b], xaxis, yaxis, settings.dqf_max, arrays[b],
                       f"band {b} ({files[b].name})")
        proj_attrs = dict(dss[bands[0]][abi.PROJECTION_VARIABLE].attrs)
    finally:
        for r in readers.values():
            r.close()

    (x0, dx, nx), (y0, dy, ny) = xaxis, yaxis
    x = x0 + dx * np.arange(nx)
    y = y0 + dy * np.arange(ny)
    lat, lon = _latlon_raster(grid, x, y)
    space = ~np.isfinite(lat)
    key = keys[bands[0]]
    coords: dict[str, Any] = {
        "y": ("y", y, {"units": "rad", "long_name": "fixed-grid N/S scan angle", "axis": "Y"}),
        "x": ("x", x, {"units": "rad", "long_name": "fixed-grid E/W scan angle", "axis": "X"}),
        "lat": (("y", "x"), lat, {"units": "degrees_north", "long_name": "latitude"}),
        "lon": (("y", "x"), lon, {"units": "degrees_east", "long_name": "longitude"}),
        "time": ((), np.datetime64(key.start, "ns"), {"long_name": "scan start time (UTC)"}),
    }
    sunz_attrs = _correct_sunz(recipe, arrays, key.start, lat, lon) if _sunz(settings, recipe) else {}
    _combine(recipe, planes, arrays)
    del planes, arrays
    img[space] = np.nan
    dims: tuple[str, ...] = ("y", "x")
    if recipe.channels is not None:
        dims += ("channel",)
        coords["channel"] = ("channel", np.array(list(recipe.channels)))
    var = xr.Variable(dims, img, {
        "units": recipe.units,
        "long_name": recipe.long_name,
        "grid_mapping": abi.PROJECTION_VARIABLE,
        **recipe.attrs,
    })
    name = recipe.variable
    ds = xr.Dataset({name: var}, coords=coords)
    ds[abi.PROJECTION_VARIABLE] = xr.Variable((), np.int32(-2147483647), proj_attrs)
    ds.attrs.update(
        {
            "title": f"GOES-{key.satellite} ABI {recipe.name} composite",
            "composite_variable": name,
            "satellite": int(key.satellite),
            "product": key.product,
            "sector": key.sector,
            "time_coverage_start": key.start.isoformat(),
            "source_paths": "\n".join(str(files[b]) for b in sorted(files)),
            "Conventions": "CF-1.8",
            **fp,
            **sunz_attrs,
        }
    )
    if out_path is not None:
        _write_netcdf(ds, out_path, name)
    return ds


def _correct_sunz(recipe: Recipe, arrays: dict[int, np.ndarray], start: dt.datetime, lat: np.ndarray,
                  lon: np.ndarray) -> dict:
    """Divide the recipe's reflective bands (``arrays``, float32 ``(ny, nx)``
    on the composite's raster, in place) by cos(SZA) at ``start`` and the
    pixels' ``lat``/``lon``, with the limit of
    :func:`~convml_tt.data.geometry.solar.sunz_correction_factor`; returns the
    attributes that record it. Row blocks bound the float64 temporaries."""
    from ..geometry import solar

    refl = [b for b in recipe.bands if b in abi.REFLECTIVE_BANDS]
    for o0, o1 in _row_blocks(lat.shape[0], 256):
        f = solar.sunz_correction_factor(solar.cos_solar_zenith(start, lat[o0:o1], lon[o0:o1]))
        for b in refl:
            arrays[b][o0:o1] *= f
    return {
        "sunz_correction": (
            f"bands {', '.join(f'C{b:02d}' for b in refl)} divided by cos(solar zenith angle) at the scan start "
            f"{start.isoformat()} up to {solar.SUNZ_LIMIT:g} degrees, then by a factor tapering linearly to 0 "
            f"at {solar.SUNZ_MAX:g} degrees (convml_tt.data.geometry.solar)"),
        "sunz_limit_deg": float(solar.SUNZ_LIMIT),
        "sunz_max_deg": float(solar.SUNZ_MAX),
    }


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
    of every cached scan that was not composited (a band missing, a file in
    another satellite's folder or, with ``skip_outside``, a sector that does
    not cover the domain), each with :meth:`~SkippedScene.describe`."""

    def __init__(self, paths: Sequence[Path] = (), skipped: Sequence[SkippedScene] = ()):
        super().__init__(paths)
        self.skipped: list[SkippedScene] = list(skipped)


def make_composites(
    data_root: str | os.PathLike,
    domain: Sequence[float] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
    satellite: int | None = None,
    skip_outside: bool = False,
    progress: bool = True,
    settings: CompositeSettings | None = None,
    strict: bool = False,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
    **kwargs,
) -> Composites:
    """Composites of every cached scene (``{data_root}/sources``) with scan start
    in ``[start, end]``, written to :func:`composite_path` (existing ones are
    reused). Returns their paths, in time order, as a :class:`Composites`
    list whose ``skipped`` names the scans left out and why; each is also
    logged as a warning (logger ``convml_tt.data.composites.build``), which
    the CLI prints.

    The settings come either as ``settings`` (a
    :class:`~convml_tt.config.CompositeSettings`) or as the keywords
    ``domain``, ``start``, ``end``, ``kind`` (the recipe), ``resolution_km``,
    ``satellite`` and, in ``kwargs``, ``margin``, ``dqf_max`` and ``sunz`` (see
    :func:`make_composite`), not both. ``kwargs`` may also hold
    ``overwrite`` (rebuild existing composites).
    ``skip_outside``: skip scenes whose sector does not cover the domain
    (e.g. mesoscale sectors) instead of raising :class:`OffDiskError`.
    ``strict``: raise :class:`~convml_tt.data.sources.goes_abi.MissingBandsError`, before
    any composite is made, when a scan of the cache lacks a band of the
    recipe (or a file is in another satellite's folder), instead of
    skipping it.
    ``workers``, ``scheduler``, ``client``: where the scenes' composites are
    made (one task per scene, :mod:`convml_tt.compute`): in this process
    (None or 1), ``workers`` local processes, or on a dask cluster (its
    address or scheduler file, or a ``distributed.Client``), whose workers
    read the band files from the source cache and write the composites
    (both on storage they share). A recipe registered by a plugin must be
    importable (by module name) in the worker processes.
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
    scenes, skipped = scan_sources(data_root, recipe.bands, start, end, satellite=settings.satellite)
    if strict and skipped:
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        raise MissingBandsError(
            f"{len(skipped)} cached scene(s) cannot be composited with {recipe.name!r}: "
            + "; ".join(s.describe() for s in skipped[:3]) + more
            + "; fetch the missing bands (convml_tt fetch) or drop --strict (strict=False) to "
            "composite the complete scenes only")
    for s in skipped:
        log.warning("%s", s.describe())
    if not scenes:
        raise no_scenes_error(data_root, recipe.bands, start, end, settings.satellite, skipped)
    paths = Composites(skipped=skipped)
    config = {"data_root": str(data_root), "settings": settings, "recipe": recipe,
              "overwrite": overwrite, "skip_outside": bool(skip_outside)}
    tasks = [{int(b): str(p) for b, p in files.items()} for files in scenes]
    # composites already made are found here (a header read each); only the others become tasks
    got: list[Any] = [_reusable(config, t) for t in tasks]
    todo = [k for k, g in enumerate(got) if g is None]
    made = run_tasks(_composite_task, [tasks[k] for k in todo], setup=_composite_setup, config=config,
                     workers=workers, scheduler=scheduler, client=client, progress=progress,
                     desc="composites", unit="scene", initial=len(tasks) - len(todo))
    for k, result in zip(todo, made):
        got[k] = result
    for result in got:
        if isinstance(result, SkippedScene):
            paths.skipped.append(result)
            log.info("%s", result.describe())
        else:
            paths.append(Path(result))
    return paths


_COMPOSITE_CONFIG: dict[str, Any] = {}


def _composite_setup(config: dict) -> None:
    """Set a process up for :func:`_composite_task` (settings, recipe, options)."""
    _COMPOSITE_CONFIG.clear()
    _COMPOSITE_CONFIG.update(config)


def _reusable(config: dict, files: dict[int, str]) -> str | None:
    """The path of the scene's composite when one made from the same files
    with the same settings exists (and ``overwrite`` is off), else None."""
    settings, recipe = config["settings"], config["recipe"]
    out = composite_path(config["data_root"], files, settings.domain, recipe, settings.resolution_km)
    fp = _fingerprint({b: Path(files[b]) for b in recipe.bands}, settings, recipe)
    if out.exists() and not config["overwrite"] and _matches(out, fp):
        return str(out)
    return None


def _composite_task(files: dict[int, str]) -> str | SkippedScene:
    """A task of :mod:`convml_tt.compute`: one scene's composite (``files``:
    band -> path of its band file), reused when a matching one exists;
    returns its path, or the :class:`SkippedScene` of a sector that does
    not cover the domain when ``skip_outside``."""
    c = _COMPOSITE_CONFIG
    settings, recipe = c["settings"], c["recipe"]
    reused = _reusable(c, files)
    if reused is not None:
        return reused
    out = composite_path(c["data_root"], files, settings.domain, recipe, settings.resolution_km)
    try:
        _make(files, settings, recipe, out, reuse=False)
    except OffDiskError:
        if c["skip_outside"]:
            key = scene_key(files)
            return SkippedScene(key.satellite, key.product, key.sector, key.start,
                                f"its sector does not cover the domain {settings.domain}", (),
                                tuple(Path(files[b]).name for b in sorted(files)))
        raise
    return str(out)
