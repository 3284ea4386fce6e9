"""Domain composites: true-colour RGB (or one band) over a lat/lon domain.

A composite is built from the band files of one ABI scan ("scene"):

1. for every band, only the window of the file covering the domain plus a
   margin is read (:func:`convml_tt.data.abi.bbox_window` and
   :class:`~convml_tt.data.abi.WindowReader`, which gives the values of
   :func:`~convml_tt.data.abi.read_abi` with ``window=`` straight through
   netCDF4);
2. radiances are calibrated to reflectance factor (bands 1-6, not divided by
   the cosine of the solar zenith angle) or brightness temperature (K,
   bands 7-16); L2 ``CMI`` is already calibrated;
3. space pixels (fill values, off the Earth's disk) and pixels whose data
   quality flag ``DQF`` exceeds ``dqf_max`` (default 1: keep "good" and
   "conditionally usable") become NaN;
4. bands are brought to a common resolution (default 1 km): finer bands are
   block-averaged (band 2 at 0.5 km: 2 x 2 means, NaN if any input is NaN),
   coarser bands are upsampled by pixel replication, on a fixed-grid raster
   aligned with the bands' own pixels;
5. true colour: red = band 2 (0.64 um), blue = band 1 (0.47 um) and a
   simulated green from band 3 ("veggie", 0.86 um), following the CIMSS
   natural true-colour recipe (Bah et al. 2018, doi:10.1029/2018EA000379)::

       green = 0.45 * red + 0.10 * veggie + 0.45 * blue

The stored values are the linear reflectances (red, green, blue), so they
stay comparable with other tools; :func:`to_uint8` applies the display
stretch used for PNG tiles and plots: clip to [0, 1], then gamma 1/2.2
(``255 * r ** (1 / 2.2)``, rounded).

The composite is a netCDF file: the image on the fixed grid (``x``, ``y``
scan angles in radians, row 0 north), 2-D ``lat``/``lon`` coordinates, the
``goes_imager_projection`` variable with the attributes of the source files,
the scan start ``time``, the source file names and the parameters. It is
written to a temporary name and renamed, and a second call with the same
inputs reuses it.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

import numpy as np
import xarray as xr

from . import abi
from .abi import ABIFileError, FixedGrid, OffDiskError, check_bbox
from .goes import ABIKey

__all__ = [
    "TRUECOLOR_BANDS",
    "GREEN_FRACTIONS",
    "GAMMA",
    "RECIPE_VERSION",
    "make_composite",
    "make_composites",
    "composite_path",
    "load_composite",
    "find_scenes",
    "simulated_green",
    "to_uint8",
    "OffDiskError",
]

#: ABI bands of the true-colour recipe: blue (0.47 um), red (0.64 um), veggie (0.86 um)
TRUECOLOR_BANDS = (1, 2, 3)
#: CIMSS simulated green (Bah et al. 2018): fractions of red, veggie and blue
GREEN_FRACTIONS = {"red": 0.45, "veggie": 0.10, "blue": 0.45}
#: display gamma: 8-bit value = 255 * clip(r, 0, 1) ** (1 / GAMMA)
GAMMA = 2.2
#: bump when the recipe changes, so cached composites are rebuilt
RECIPE_VERSION = 1
#: scan-angle spacing of a 1 km ABI pixel, radians
_RAD_PER_KM = 28e-6

Scene = Union[Mapping[int, Union[str, os.PathLike]], Sequence[Union[str, os.PathLike]]]
Kind = Union[str, int]


# -----------------------------------------------------------------------------
# recipe
# -----------------------------------------------------------------------------
def simulated_green(red, veggie, blue):
    """CIMSS simulated green reflectance from red (band 2), veggie (band 3)
    and blue (band 1) reflectances (any broadcastable arrays)."""
    f = GREEN_FRACTIONS
    return f["red"] * red + f["veggie"] * veggie + f["blue"] * blue


def to_uint8(values: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """The display stretch: reflectance -> 8-bit, ``round(255 * clip(r, 0, 1) ** (1/gamma))``.

    NaN becomes 0. Works on any shape (e.g. ``(n, n, 3)``).
    """
    # same operations (so the same bytes) as
    # rint(255 * clip(nan_to_num(v), 0, 1) ** (1 / gamma)), in place on one copy
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)  # NaN stays NaN
    np.nan_to_num(v, copy=False, nan=0.0)
    np.power(v, np.float32(1.0 / gamma), out=v)
    v *= 255.0
    np.rint(v, out=v)
    return v.astype(np.uint8)


def _kind_bands(kind: Kind) -> tuple[tuple[int, ...], str]:
    if isinstance(kind, str) and kind.lower() in ("truecolor", "truecolour", "rgb"):
        return TRUECOLOR_BANDS, "truecolor"
    try:
        band = int(kind)
    except (TypeError, ValueError):
        raise ValueError(
            f"composite kind {kind!r} must be 'truecolor' or an ABI band number 1-16"
        ) from None
    if not 1 <= band <= 16:
        raise ValueError(f"composite band {band} must be an ABI band number 1-16")
    return (band,), f"C{band:02d}"


# -----------------------------------------------------------------------------
# scenes in the source cache
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
    """The :class:`~convml_tt.data.goes.ABIKey` of a scene's first band file."""
    files = _scene_files(scene)
    return ABIKey.parse(str(files[min(files)]))


def find_scenes(
    data_root: str | os.PathLike,
    bands: Iterable[int] = TRUECOLOR_BANDS,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    satellite: int | None = None,
    product: str | None = None,
    sector: str | None = None,
) -> list[dict[int, Path]]:
    """Scenes in the local source cache ``{data_root}/sources/goes*/`` that
    have every band of ``bands``, scan start in ``[start, end]``.

    Returns a list (sorted by scan start, satellite) of ``{band: path}``;
    files are grouped by satellite, product, sector, scan mode and scan start
    time. Works offline; nothing is downloaded.
    """
    want = tuple(sorted(set(int(b) for b in bands)))
    root = Path(data_root) / "sources"
    groups: dict[tuple, dict[int, Path]] = {}
    for path in sorted(root.glob("goes*/**/OR_ABI-*.nc")):
        try:
            key = ABIKey.parse(path.name)
        except ValueError:
            continue
        if key.band not in want:
            continue
        if satellite is not None and key.satellite != satellite:
            continue
        if product is not None and key.product != product:
            continue
        if sector is not None and key.sector != sector:
            continue
        if (start is not None and key.start < start) or (end is not None and key.start > end):
            continue
        gid = (key.start.replace(microsecond=0), key.satellite, key.product, key.sector, key.mode)
        groups.setdefault(gid, {})[key.band] = path
    return [
        dict(sorted(files.items()))
        for gid, files in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))
        if tuple(sorted(files)) == want
    ]


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
    ``{data_root}/composites/goes{sat}/{domain}/{kind}_{res}km/{product}{sector}_{YYYYmmddTHHMMSS}.nc``."""
    key = scene_key(scene)
    _, ktag = _kind_bands(kind)
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
# the common raster
# -----------------------------------------------------------------------------
def _spacing(coord: np.ndarray) -> float:
    return float((coord[-1] - coord[0]) / (coord.size - 1))


def _factor(target: float, native: float, what: str) -> Fraction:
    ratio = abs(target / native)
    f = Fraction(ratio).limit_denominator(8)
    if abs(float(f) - ratio) > 1e-3 * ratio or (f.numerator != 1 and f.denominator != 1):
        raise ValueError(
            f"{what}: resolution {abs(target) / _RAD_PER_KM:.3g} km is not a whole multiple or "
            f"divisor of the band's {abs(native) / _RAD_PER_KM:.3g} km; choose e.g. 0.5, 1 or 2 km"
        )
    return f


def _target_axis(coord: np.ndarray, sl: slice, f: Fraction) -> tuple[float, float, int]:
    """Target raster (origin, step, size) along one axis from a window of the
    reference band and the reference's factor ``f`` (target step / band step)."""
    d = _spacing(coord)
    i0, i1 = sl.start, sl.stop
    if f.denominator == 1:  # block-average p x p
        p = f.numerator
        i0 = (i0 // p) * p
        i1 = i0 + max(1, -(-(i1 - i0) // p)) * p
        while i1 > coord.size:
            i1 -= p
        n = (i1 - i0) // p
        if n < 1:
            raise ValueError("the domain is smaller than one pixel at the chosen resolution")
        return coord[i0] + (p - 1) / 2 * d, p * d, n
    m = f.denominator  # upsample by m
    return coord[i0] - (m - 1) / (2 * m) * d, d / m, (i1 - i0) * m


def _source_index(coord: np.ndarray, t0: float, dt_: float, n: int, src: str):
    """Indices into ``coord`` (a band's x or y) for a target axis: returns
    (slice to read, how to reduce: ('block', p) or ('take', idx))."""
    d = _spacing(coord)
    f = _factor(dt_, d, src)
    if f.denominator == 1:
        p = f.numerator
        s = (t0 - coord[0]) / d - (p - 1) / 2
        i0 = int(round(s))
        if abs(s - i0) > 0.05:
            raise ValueError(f"{src}: pixels are not aligned with the other bands' (offset {s - i0:.2f} px)")
        i1 = i0 + n * p
        if i0 < 0 or i1 > coord.size:
            raise OffDiskError(f"{src}: the domain window is outside this file's sector")
        return slice(i0, i1), ("block", p)
    s = (t0 - coord[0]) / d + np.arange(n) * float(f)
    idx = np.rint(s).astype(int)
    if idx[0] < 0 or idx[-1] > coord.size - 1:
        raise OffDiskError(f"{src}: the domain window is outside this file's sector")
    return slice(int(idx[0]), int(idx[-1]) + 1), ("take", idx - idx[0])


def _reduce(a: np.ndarray, axis: int, how) -> np.ndarray:
    kind, arg = how
    if kind == "take":
        return np.take(a, arg, axis=axis)
    p = arg
    if p == 1:
        return a
    shape = list(a.shape)
    shape[axis : axis + 1] = [shape[axis] // p, p]
    return a.reshape(shape).mean(axis=axis + 1)


#: output rows per block when reading and reducing bands (bounds the memory
#: beyond the output to about one block of the finest band)
_BLOCK_ROWS = 64
#: output rows per block of the lat/lon computation (float64 temporaries,
#: a dozen per block, while the output is already held)
_LATLON_BLOCK_ROWS = 32


def _read_reduced(reader: abi.WindowReader, rsl: slice, rhow, csl: slice, chow, dqf_max: int, out: np.ndarray) -> np.ndarray:
    """Read the source rows ``rsl`` x columns ``csl`` of a band and reduce them
    to the target raster (``out``, ``(ny, nx)``), in blocks of
    :data:`_BLOCK_ROWS` output rows. Every output pixel depends only on its
    own source pixels, so the values are those of one whole-window read."""
    ny = out.shape[0]
    kind, arg = rhow
    for o0 in range(0, ny, _BLOCK_ROWS):
        o1 = min(ny, o0 + _BLOCK_ROWS)
        if kind == "block":
            s0, s1, how = rsl.start + o0 * arg, rsl.start + o1 * arg, rhow
        else:
            idx = arg[o0:o1]
            s0, s1, how = rsl.start + int(idx[0]), rsl.start + int(idx[-1]) + 1, ("take", idx - idx[0])
        v = reader.read(slice(s0, s1), csl, dqf_max)
        out[o0:o1] = _reduce(_reduce(v, 0, how), 1, chow)
    return out


def _grid_latlon(grid: FixedGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geodetic ``(lat, lon)`` (degrees, float32, ``(y.size, x.size)``) of the
    raster of scan angles ``x`` (columns) and ``y`` (rows), NaN off the disk.

    The fixed-grid inverse of the GOES-R PUG (vol. 4, sect. 4.2.8), the same
    ellipsoidal geometry as PROJ's ``geos``: in float32 it gives the same
    values as :meth:`FixedGrid.scan_to_latlon` but for a handful of pixels
    per million that differ by one float32 step (<= 2e-6 degree); the
    per-column and per-row factors are computed once.
    """
    if grid.sweep_angle_axis != "x":
        lat, lon = grid.scan_to_latlon(*np.meshgrid(x, y))
        return lat.astype(np.float32), lon.astype(np.float32)
    req, rpol = grid.semi_major_axis, grid.semi_minor_axis
    H = grid.perspective_point_height + req
    e = (req / rpol) ** 2
    sx, cx = np.sin(x)[None, :], np.cos(x)[None, :]
    sy, cy = np.sin(y)[:, None], np.cos(y)[:, None]
    a = sx**2 + cx**2 * (cy**2 + e * sy**2)
    b = -2.0 * H * cx * cy
    with np.errstate(invalid="ignore"):
        rs = (-b - np.sqrt(b * b - 4.0 * a * (H * H - req * req))) / (2.0 * a)
    s_x = rs * cx * cy
    s_y = -rs * sx
    s_z = rs * cx * sy
    hx = H - s_x
    lat = np.degrees(np.arctan(e * s_z / np.hypot(hx, s_y)))
    lon = grid.longitude_of_projection_origin - np.degrees(np.arctan(s_y / hx))
    with np.errstate(invalid="ignore"):
        lon = (lon + 180.0) % 360.0 - 180.0
    return lat.astype(np.float32), lon.astype(np.float32)


# -----------------------------------------------------------------------------
# making composites
# -----------------------------------------------------------------------------
def _fingerprint(files: dict[int, Path], domain, kind_tag, resolution_km, margin, dqf_max) -> dict:
    return {
        "kind": kind_tag,
        "domain": " ".join(f"{v:.6f}" for v in check_bbox(domain)),
        "resolution_km": float(resolution_km),
        "margin_pixels": int(margin),
        "dqf_max": int(dqf_max),
        "recipe_version": RECIPE_VERSION,
        "source_files": "\n".join(files[b].name for b in sorted(files)),
    }


def _matches(path: Path, fp: dict) -> bool:
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
    except (OSError, ValueError, KeyError, RuntimeError):
        return False
    return all(
        str(attrs.get(k)) == str(v) if not isinstance(v, float) else
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
        ``"truecolor"`` (bands 1, 2, 3 -> variable ``rgb`` (y, x, channel) with
        channels red, green, blue, reflectance) or a band number 1-16
        (variable ``C13`` etc. (y, x): reflectance for bands 1-6,
        brightness temperature in K for 7-16).
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
    bands, ktag = _kind_bands(kind)
    domain = check_bbox(domain)
    if not resolution_km > 0:
        raise ValueError(f"resolution_km={resolution_km!r} must be a positive number of km")
    files = _scene_files(scene)
    missing = [b for b in bands if b not in files]
    if missing:
        raise ValueError(
            f"composite {ktag!r} needs bands {list(bands)}; the scene lacks {missing} "
            f"(it has {sorted(files)})"
        )
    files = {b: files[b] for b in bands}
    fp = _fingerprint(files, domain, ktag, resolution_km, margin, dqf_max)
    if out_path is not None:
        out_path = Path(out_path)
        if out_path.exists() and not overwrite and _matches(out_path, fp):
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
        xr_, yr_ = dss[ref]["x"].values, dss[ref]["y"].values
        rows, cols = abi.bbox_window(dss[ref], domain, margin=margin, require_inside=True)
        target_dx = resolution_km * _RAD_PER_KM * np.sign(_spacing(xr_))
        f_ref = _factor(target_dx, _spacing(xr_), f"band {ref} ({files[ref].name})")
        x0, dx, nx = _target_axis(xr_, cols, f_ref)
        y0, dy, ny = _target_axis(yr_, rows, f_ref)
        # every band goes straight into its place in the output: the RGB
        # image's red and blue planes, or its own array
        if ktag == "truecolor":
            # veggie (band 3) is read into the green plane, which becomes
            # the simulated green below
            img = np.empty((ny, nx, 3), np.float32)
            channels = {2: img[:, :, 0], 1: img[:, :, 2], 3: img[:, :, 1]}
        else:
            channels = {bands[0]: np.empty((ny, nx), np.float32)}
        for b in bands:
            src = f"band {b} ({files[b].name})"
            rsl, rhow = _source_index(dss[b]["y"].values, y0, dy, ny, src)
            csl, chow = _source_index(dss[b]["x"].values, x0, dx, nx, src)
            _read_reduced(readers[b], rsl, rhow, csl, chow, dqf_max, channels[b])
        proj_attrs = dict(dss[bands[0]][abi.PROJECTION_VARIABLE].attrs)
        units = "K" if bands[0] in abi.EMISSIVE_BANDS and readers[bands[0]].variable == "Rad" else None
    finally:
        for r in readers.values():
            r.close()

    x = x0 + dx * np.arange(nx)
    y = y0 + dy * np.arange(ny)
    lat = np.empty((ny, nx), np.float32)
    lon = np.empty((ny, nx), np.float32)
    for o0 in range(0, ny, _LATLON_BLOCK_ROWS):
        o1 = min(ny, o0 + _LATLON_BLOCK_ROWS)
        lat[o0:o1], lon[o0:o1] = _grid_latlon(grid, x, y[o0:o1])
    space = ~np.isfinite(lat)
    key = keys[bands[0]]
    coords = {
        "y": ("y", y, {"units": "rad", "long_name": "fixed-grid N/S scan angle", "axis": "Y"}),
        "x": ("x", x, {"units": "rad", "long_name": "fixed-grid E/W scan angle", "axis": "X"}),
        "lat": (("y", "x"), lat, {"units": "degrees_north", "long_name": "latitude"}),
        "lon": (("y", "x"), lon, {"units": "degrees_east", "long_name": "longitude"}),
        "time": ((), np.datetime64(key.start, "ns"), {"long_name": "scan start time (UTC)"}),
    }
    if ktag == "truecolor":
        red, blue, veggie = channels[2], channels[1], channels[3]
        # in row blocks (bounded temporaries); veggie is read before the
        # green overwrites it, elementwise, so the values are those of one
        # whole-image expression
        for o0 in range(0, ny, _BLOCK_ROWS):
            o1 = min(ny, o0 + _BLOCK_ROWS)
            img[o0:o1, :, 1] = simulated_green(red[o0:o1], veggie[o0:o1], blue[o0:o1])
        del veggie, channels
        img[space] = np.nan
        var = xr.Variable(
            ("y", "x", "channel"),
            img,
            {
                "units": "1",
                "long_name": "true-colour reflectance factor (red, simulated green, blue)",
                "grid_mapping": abi.PROJECTION_VARIABLE,
                "green_recipe": "green = 0.45 * red(C02) + 0.10 * veggie(C03) + 0.45 * blue(C01) (CIMSS, Bah et al. 2018)",
                "display_stretch": f"uint8 = round(255 * clip(value, 0, 1) ** (1 / {GAMMA}))",
            },
        )
        coords["channel"] = ("channel", np.array(["red", "green", "blue"]))
        name = "rgb"
    else:
        img = channels[bands[0]]
        img[space] = np.nan
        is_bt = units == "K" or (bands[0] in abi.EMISSIVE_BANDS)
        var = xr.Variable(
            ("y", "x"),
            img,
            {
                "units": "K" if is_bt else "1",
                "long_name": f"ABI band {bands[0]} " + ("brightness temperature" if is_bt else "reflectance factor"),
                "grid_mapping": abi.PROJECTION_VARIABLE,
            },
        )
        name = ktag
    ds = xr.Dataset({name: var}, coords=coords)
    ds[abi.PROJECTION_VARIABLE] = xr.Variable((), np.int32(-2147483647), proj_attrs)
    ds.attrs.update(
        {
            "title": f"GOES-{key.satellite} ABI {ktag} composite",
            "composite_variable": name,
            "satellite": int(key.satellite),
            "product": key.product,
            "sector": key.sector,
            "time_coverage_start": key.start.isoformat(),
            "source_paths": "\n".join(str(files[b]) for b in sorted(files)),
            "Conventions": "CF-1.8",
            **fp,
        }
    )
    if out_path is not None:
        _write_netcdf(ds, out_path, name)
    return ds


def _write_netcdf(ds: xr.Dataset, out_path: Path, name: str) -> None:
    out_path = Path(out_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"cannot create the folder {out_path.parent} for composites ({err})") from err
    var = ds[name]
    chunks = tuple(min(s, 256) for s in var.shape[:2]) + tuple(var.shape[2:])
    encoding = {name: {"chunksizes": chunks, "zlib": False}, "lat": {"zlib": True, "complevel": 1}, "lon": {"zlib": True, "complevel": 1}}
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_composites(
    data_root: str | os.PathLike,
    domain: Sequence[float],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: Kind = "truecolor",
    resolution_km: float = 1.0,
    satellite: int | None = None,
    skip_outside: bool = False,
    progress: bool = True,
    **kwargs,
) -> list[Path]:
    """Composites of every cached scene (``{data_root}/sources``) with scan start
    in ``[start, end]``, written to :func:`composite_path` (existing ones are
    reused). Returns their paths, in time order.

    ``skip_outside``: skip scenes whose sector does not cover the domain
    (e.g. mesoscale sectors) instead of raising :class:`OffDiskError`.
    ``kwargs`` go to :func:`make_composite`.
    """
    from tqdm.auto import tqdm

    bands, _ = _kind_bands(kind)
    domain = check_bbox(domain)
    scenes = find_scenes(data_root, bands, start, end, satellite=satellite)
    if not scenes:
        raise FileNotFoundError(
            f"no cached scenes with bands {list(bands)} in {Path(data_root) / 'sources'}"
            + (f" between {start} and {end}" if start or end else "")
            + "; fetch some with `convml_tt fetch` (or make synthetic ones with `convml_tt synthetic`)"
        )
    paths = []
    for files in tqdm(scenes, desc="composites", unit="scene", disable=not progress):
        out = composite_path(data_root, files, domain, kind, resolution_km)
        bands_, ktag = _kind_bands(kind)
        fp = _fingerprint(
            {b: Path(files[b]) for b in bands_}, domain, ktag, resolution_km,
            kwargs.get("margin", 2), kwargs.get("dqf_max", 1),
        )
        if out.exists() and not kwargs.get("overwrite") and _matches(out, fp):
            paths.append(out)
            continue
        try:
            make_composite(files, domain, kind, resolution_km, out_path=out, **kwargs)
        except OffDiskError:
            if skip_outside:
                continue
            raise
        paths.append(out)
    return paths
