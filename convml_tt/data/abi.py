"""One GOES ABI file: opening, fixed-grid navigation and calibration.

ABI images live on the *fixed grid*: pixel centres are given as scan angles
``x`` (east-west) and ``y`` (north-south) in radians, as seen from a
geostationary satellite at height ``h`` above the ellipsoid, with the sweep
angle axis ``x`` (GOES-R Product User Guide, PUG, vol. 3 section 4.2.8). The
file's ``goes_imager_projection`` variable carries ``perspective_point_height``
(m), the ellipsoid axes (m) and ``longitude_of_projection_origin`` (degrees
east); the satellite's nominal sub-point may differ slightly from the
projection origin (e.g. -75.2 vs -75.0): navigation always uses the
projection origin.

Navigation uses PROJ's ``geos`` projection through pyproj, whose projected
coordinates are the scan angles multiplied by ``h``. Points that are not on
the Earth's disk come back as NaN.

Radiances are calibrated to reflectance factor (bands 1-6, ``kappa0 * Rad``,
not divided by the cosine of the solar zenith angle) or to brightness
temperature in K (bands 7-16, with the Planck constants stored in the file).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import xarray as xr

if TYPE_CHECKING:  # imported where used: a composite does not need PROJ
    import pyproj

PROJECTION_VARIABLE = "goes_imager_projection"
#: data variables of the products this module reads, in order of preference
DATA_VARIABLES = ("Rad", "CMI")
REFLECTIVE_BANDS = tuple(range(1, 7))
EMISSIVE_BANDS = tuple(range(7, 17))
#: nominal sub-satellite pixel size in km by band
BAND_RESOLUTION_KM = {1: 1.0, 2: 0.5, 3: 1.0, 5: 1.0, **{b: 2.0 for b in (4, *range(6, 17))}}

_NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")


class ABIFileError(ValueError):
    """A file that cannot be read as the ABI file that was asked for."""


class OffDiskError(ValueError):
    """A location that is not on the Earth's disk seen by the satellite, or
    not inside a file's sector."""


def _corrupt(path, err: Exception) -> ABIFileError:
    return ABIFileError(
        f"{path} could not be read as netCDF ({err}); the file is probably "
        "truncated or corrupt: delete it and fetch it again"
    )


def _no_projection(path) -> ABIFileError:
    return ABIFileError(
        f"{path}: no '{PROJECTION_VARIABLE}' variable, so its pixels cannot be "
        "navigated; expected a GOES ABI L1b/L2 fixed-grid file"
    )


# -----------------------------------------------------------------------------
# navigation
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedGrid:
    """The ABI fixed-grid projection of one satellite position.

    Parameters
    ----------
    perspective_point_height:
        height of the satellite above the ellipsoid, m (35786023.0 for GOES-R).
    semi_major_axis, semi_minor_axis:
        ellipsoid axes, m (GRS80: 6378137.0, 6356752.31414).
    longitude_of_projection_origin:
        sub-satellite longitude used for navigation, degrees east.
    sweep_angle_axis:
        ``"x"`` for GOES-R.
    """

    perspective_point_height: float = 35786023.0
    semi_major_axis: float = 6378137.0
    semi_minor_axis: float = 6356752.31414
    longitude_of_projection_origin: float = -75.0
    sweep_angle_axis: str = "x"

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, source: str | os.PathLike | None = None) -> "FixedGrid":
        """The fixed grid described by ``ds.goes_imager_projection``."""
        src = source or ds.encoding.get("source", "<dataset>")
        if PROJECTION_VARIABLE not in ds.variables:
            raise _no_projection(src)
        attrs = ds[PROJECTION_VARIABLE].attrs
        try:
            return cls(
                perspective_point_height=float(attrs["perspective_point_height"]),
                semi_major_axis=float(attrs["semi_major_axis"]),
                semi_minor_axis=float(attrs["semi_minor_axis"]),
                longitude_of_projection_origin=float(attrs["longitude_of_projection_origin"]),
                sweep_angle_axis=str(attrs.get("sweep_angle_axis", "x")),
            )
        except KeyError as err:
            raise ABIFileError(
                f"{src}: '{PROJECTION_VARIABLE}' lacks the attribute {err.args[0]!r}"
            ) from None

    @property
    def proj4(self) -> str:
        """PROJ string whose projected coordinates are scan angle x ``h`` (m)."""
        return (
            f"+proj=geos +h={self.perspective_point_height!r} +a={self.semi_major_axis!r} "
            f"+b={self.semi_minor_axis!r} +lon_0={self.longitude_of_projection_origin!r} "
            f"+sweep={self.sweep_angle_axis} +units=m +no_defs"
        )

    @functools.cached_property
    def crs(self) -> pyproj.CRS:
        """The projection as a :class:`pyproj.CRS` (coordinates: scan angle x h, m)."""
        import pyproj

        return pyproj.CRS.from_proj4(self.proj4)

    @functools.cached_property
    def _to_scan(self) -> pyproj.Transformer:
        import pyproj

        return pyproj.Transformer.from_crs(self.crs.geodetic_crs, self.crs, always_xy=True)

    @functools.cached_property
    def _to_latlon(self) -> pyproj.Transformer:
        import pyproj

        return pyproj.Transformer.from_crs(self.crs, self.crs.geodetic_crs, always_xy=True)

    def latlon_to_scan(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Scan angles ``(x, y)`` in radians of geodetic ``lat``, ``lon`` (degrees).

        Any array shapes that broadcast together; points the satellite cannot
        see come back as NaN.
        """
        lat, lon = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float))
        px, py = self._to_scan.transform(lon, lat, errcheck=False)
        h = self.perspective_point_height
        x = np.asarray(px, float) / h
        y = np.asarray(py, float) / h
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            x = np.where(bad, np.nan, x)
            y = np.where(bad, np.nan, y)
        return x, y

    def scan_to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Geodetic ``(lat, lon)`` in degrees of scan angles ``x``, ``y`` (radians).

        Longitudes are in [-180, 180). Scan angles that point past the Earth's
        limb come back as NaN.
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        h = self.perspective_point_height
        lon, lat = self._to_latlon.transform(x * h, y * h, errcheck=False)
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        bad = ~(np.isfinite(lat) & np.isfinite(lon))
        with np.errstate(invalid="ignore"):
            lon = (lon + 180.0) % 360.0 - 180.0
        if bad.any():
            lat = np.where(bad, np.nan, lat)
            lon = np.where(bad, np.nan, lon)
        return lat, lon


# -----------------------------------------------------------------------------
# opening files
# -----------------------------------------------------------------------------
def _check_netcdf(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"ABI file {path} does not exist")
    if path.is_dir():
        raise ABIFileError(f"{path} is a directory, expected an ABI netCDF file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not any(head.startswith(m) for m in _NETCDF_MAGIC):
        raise ABIFileError(
            f"{path} is not a netCDF file (it starts with {head!r}); expected a "
            "GOES ABI L1b/L2 netCDF-4 file such as OR_ABI-L1b-RadF-M6C01_G16_....nc"
        )


def data_variable(ds: xr.Dataset) -> str:
    """Name of the image variable of an ABI dataset (``Rad``, ``CMI``, ...)."""
    for name in DATA_VARIABLES:
        if name in ds.data_vars:
            return name
    for name, var in ds.data_vars.items():
        if var.attrs.get("grid_mapping") == PROJECTION_VARIABLE and var.dims == ("y", "x"):
            return str(name)
    src = ds.encoding.get("source", "<dataset>")
    raise ABIFileError(
        f"{src}: no ABI image variable found (looked for {DATA_VARIABLES} or a "
        f"(y, x) variable with grid_mapping={PROJECTION_VARIABLE!r}); "
        f"variables present: {sorted(map(str, ds.data_vars))}"
    )


def file_band(ds: xr.Dataset) -> int | None:
    """The ABI band (1-16) of a dataset, from ``band_id`` or the file name."""
    if "band_id" in ds.variables:
        return int(np.asarray(ds["band_id"].values).ravel()[0])
    name = Path(str(ds.encoding.get("source", ""))).name or ds.attrs.get("dataset_name", "")
    from .goes import ABIKey

    for candidate in (name, ds.attrs.get("dataset_name", "")):
        try:
            return ABIKey.parse(candidate).band
        except ValueError:
            continue
    return None


def open_abi(path: str | os.PathLike, band: int | None = None) -> xr.Dataset:
    """Open one ABI L1b radiance (``Rad``) or L2 (``CMI``, ...) file lazily.

    Packed integers are decoded as the file says (``scale_factor``,
    ``add_offset``, ``_Unsigned``, ``_FillValue`` -> NaN); values outside
    ``valid_range`` are masked when the data are read with :func:`read_abi`.
    Scan angles ``x``, ``y`` are float64 radians (``y`` decreases: row 0 is
    north). Nothing but metadata is read until values are asked for.

    Parameters
    ----------
    path:
        the netCDF file.
    band:
        if given, the band the file must hold (1-16); another band is an error.

    Raises
    ------
    ABIFileError
        for a file that is not netCDF, is truncated, lacks
        ``goes_imager_projection`` or holds another band.
    """
    path = Path(path)
    _check_netcdf(path)
    try:
        ds = xr.open_dataset(path, engine="netcdf4", mask_and_scale=True, decode_times=True)
        # touch the coordinates now: a truncated file often opens but fails here
        x = ds["x"].values.astype("float64") if "x" in ds.variables else None
        y = ds["y"].values.astype("float64") if "y" in ds.variables else None
    except (OSError, RuntimeError, ValueError) as err:
        raise _corrupt(path, err) from err
    if PROJECTION_VARIABLE not in ds.variables:
        ds.close()
        raise _no_projection(path)
    if x is None or y is None:
        ds.close()
        raise ABIFileError(f"{path}: no fixed-grid scan-angle coordinates 'x' and 'y'")
    ds = ds.assign_coords(x=("x", x, ds["x"].attrs), y=("y", y, ds["y"].attrs))
    var = data_variable(ds)
    if band is not None:
        found = file_band(ds)
        if found != band:
            ds.close()
            raise ABIFileError(
                f"{path} holds band {found}, not the band {band} that was asked for"
            )
    ds.attrs["convml_tt_source"] = str(path)
    ds.attrs["convml_tt_variable"] = var
    return ds


def _valid_bounds(attrs: dict, enc: dict) -> tuple[float, float] | None:
    """Decoded ``(lo, hi)`` bounds (tolerance included) of a packed ``valid_range``."""
    vr = attrs.get("valid_range")
    if vr is None:
        return None
    raw = np.asarray(vr)
    if str(enc.get("_Unsigned", "false")).lower() == "true" and raw.dtype.kind == "i":
        raw = raw.view(raw.dtype.str.replace("i", "u"))
    lo, hi = raw.astype("float64") * float(enc.get("scale_factor", 1.0)) + float(
        enc.get("add_offset", 0.0)
    )
    if lo > hi:
        lo, hi = hi, lo
    tol = 1e-6 * max(abs(lo), abs(hi), 1.0)
    return lo - tol, hi + tol


def _valid_range_mask(var: xr.DataArray) -> xr.DataArray:
    """Mask the values of a decoded variable outside its packed ``valid_range``."""
    bounds = _valid_bounds(var.attrs, var.encoding)
    if bounds is None:
        return var
    return var.where((var >= bounds[0]) & (var <= bounds[1]))


def read_abi(
    path_or_ds: str | os.PathLike | xr.Dataset,
    window: tuple[slice, slice] | None = None,
    band: int | None = None,
) -> xr.Dataset:
    """Read (a window of) an ABI file into memory.

    Parameters
    ----------
    path_or_ds:
        a file path or a dataset from :func:`open_abi`.
    window:
        ``(rows, cols)`` index slices, e.g. from :func:`bbox_window`; only
        those pixels are read from disk.
    band:
        the band the file must hold (checked when a path is given).

    Returns
    -------
    xarray.Dataset
        the image variable (float32, NaN where fill or out of
        ``valid_range``), ``DQF`` when present, ``x``/``y`` scan angles
        (radians), the projection variable and scalar calibration variables
        (``kappa0``, ``planck_*``, ``band_id``, ...).
    """
    ds = path_or_ds if isinstance(path_or_ds, xr.Dataset) else open_abi(path_or_ds, band=band)
    var = ds.attrs.get("convml_tt_variable") or data_variable(ds)
    keep = [var] + [
        name
        for name, v in ds.variables.items()
        if name not in ("x", "y")
        and (name == "DQF" or name == PROJECTION_VARIABLE or v.ndim == 0 or name == "band_id")
    ]
    sub = ds[keep]
    if window is not None:
        rows, cols = window
        sub = sub.isel(y=rows, x=cols)
    try:
        sub = sub.load()
    except (OSError, RuntimeError) as err:
        src = ds.attrs.get("convml_tt_source", "<dataset>")
        raise ABIFileError(
            f"{src}: reading the pixel values failed ({err}); the file is probably "
            "truncated or corrupt: delete it and fetch it again"
        ) from err
    sub[var] = _valid_range_mask(sub[var]).astype("float32")
    return sub


def _simple_packing(attrs: dict, dtype: np.dtype):
    """``(unsigned view dtype or None, packed fill or None, scale, offset)``
    when xarray's CF decoding of a variable with these attributes amounts to:
    view as unsigned (``_Unsigned``), convert to float32, fill -> NaN, then
    ``*= scale_factor``, ``+= add_offset`` in float32 (8- and 16-bit
    integers with float32 packing, or none); None for anything else."""
    if dtype.kind not in "iu" or dtype.itemsize > 2 or "missing_value" in attrs:
        return None
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    if (scale is None) != (offset is None):
        return None
    if scale is not None and not (type(scale) is np.float32 and type(offset) is np.float32):
        return None
    unsigned = None
    if str(attrs.get("_Unsigned", "false")).lower() == "true" and dtype.kind == "i":
        unsigned = np.dtype(dtype.str.replace("i", "u"))
    elif "_Unsigned" in attrs and str(attrs["_Unsigned"]).lower() != "false":
        return None
    fill = attrs.get("_FillValue")
    if fill is not None:
        fill = np.asarray(fill)
        if fill.size != 1 or fill.dtype != dtype:
            return None
        fill = fill.reshape(()).view(unsigned) if unsigned is not None else fill.reshape(())
    return unsigned, fill, scale, offset


class WindowReader:
    """Lean reader of windows of one ABI file, straight through netCDF4.

    What :func:`convml_tt.data.composite.make_composite` uses instead of
    :func:`open_abi` + :func:`read_abi`: the same values (packing decoded by
    xarray's CF decoder, ``valid_range`` masked, calibrated as
    :func:`calibrate`, as float32), without opening the file through
    xarray's backends (which import dask and other libraries) and with a
    small HDF5 chunk cache (the default, 64 MB per variable, would hold most
    of a window that is read once).

    ``header`` is a small :class:`xarray.Dataset` with the decoded ``x``,
    ``y``, the projection variable and the attributes of :func:`open_abi`,
    enough for :meth:`FixedGrid.from_dataset` and :func:`bbox_window`.
    """

    def __init__(self, path: str | os.PathLike, band: int | None = None):
        import netCDF4

        path = Path(path)
        _check_netcdf(path)
        try:
            nc = netCDF4.Dataset(path)
        except (OSError, RuntimeError, ValueError) as err:
            raise _corrupt(path, err) from err
        self.nc, self.path = nc, path
        try:
            nc.set_auto_maskandscale(False)
            try:
                coords = {n: self._variable(n) for n in ("x", "y") if n in nc.variables}
            except (OSError, RuntimeError, ValueError) as err:
                raise _corrupt(path, err) from err
            if PROJECTION_VARIABLE not in nc.variables:
                raise _no_projection(path)
            if len(coords) < 2:
                raise ABIFileError(f"{path}: no fixed-grid scan-angle coordinates 'x' and 'y'")
            self.variable = self._data_variable()
            self.band = self._band()
            if band is not None and self.band != band:
                raise ABIFileError(f"{path} holds band {self.band}, not the band {band} that was asked for")
            self.header = xr.Dataset(
                {PROJECTION_VARIABLE: self._variable(PROJECTION_VARIABLE)},
                coords={n: (n, np.asarray(c.values).astype("float64"), c.attrs) for n, c in coords.items()},
                attrs={"convml_tt_source": str(path), "convml_tt_variable": self.variable},
            )
            self.header.encoding["source"] = str(path)
            attrs = self._attrs(self.variable)
            self._bounds = _valid_bounds(attrs, attrs)
            self._packing = {
                n: _simple_packing(self._attrs(n), nc.variables[n].dtype)
                for n in (self.variable, "DQF") if n in nc.variables
            }
            self._chunk_cache_set = False
        except BaseException:
            nc.close()
            raise

    # -- helpers --------------------------------------------------------------
    def _attrs(self, name: str) -> dict:
        v = self.nc.variables[name]
        return {k: v.getncattr(k) for k in v.ncattrs()}

    def _variable(self, name: str, key: tuple | None = None) -> xr.Variable:
        """``name`` (or its window ``key``, a tuple of slices), decoded by
        xarray's CF decoder as :func:`open_abi` decodes it."""
        v = self.nc.variables[name]
        raw = np.asarray(v[...] if key is None else v[key])
        return xr.conventions.decode_cf_variable(name, xr.Variable(v.dimensions, raw, self._attrs(name)))

    def _decoded(self, name: str, key: tuple | None = None) -> np.ndarray:
        return np.asarray(self._variable(name, key).values)

    def _data_variable(self) -> str:
        nc = self.nc
        for name in DATA_VARIABLES:
            if name in nc.variables and name not in ("x", "y"):
                return name
        for name, var in nc.variables.items():
            if name in nc.dimensions or name in ("x", "y"):
                continue
            if getattr(var, "grid_mapping", None) == PROJECTION_VARIABLE and var.dimensions == ("y", "x"):
                return str(name)
        raise ABIFileError(
            f"{self.path}: no ABI image variable found (looked for {DATA_VARIABLES} or a "
            f"(y, x) variable with grid_mapping={PROJECTION_VARIABLE!r}); "
            f"variables present: {sorted(n for n in nc.variables if n not in nc.dimensions)}"
        )

    def _band(self) -> int | None:
        if "band_id" in self.nc.variables:
            return int(self._decoded("band_id").ravel()[0])
        from .goes import ABIKey

        for candidate in (self.path.name, getattr(self.nc, "dataset_name", "")):
            try:
                return ABIKey.parse(candidate).band
            except ValueError:
                continue
        return None

    def _set_chunk_cache(self, cols: slice) -> None:
        # one row of chunks across the window: a block of rows that ends
        # inside a chunk leaves it cached for the next block (the default,
        # 64 MB per variable, would keep most of a window that is read once)
        for name in (self.variable, "DQF"):
            if name not in self.nc.variables:
                continue
            v = self.nc.variables[name]
            chunks = v.chunking()
            if chunks == "contiguous" or len(chunks) != 2:
                continue
            ncols = -(-(cols.stop - cols.start) // chunks[1]) + 1
            v.set_var_chunk_cache(size=ncols * chunks[0] * chunks[1] * v.dtype.itemsize)
        self._chunk_cache_set = True

    def scalar(self, name: str) -> float:
        """A scalar variable, decoded (fill -> NaN), as a float."""
        return float(self._decoded(name))

    # -- reading --------------------------------------------------------------
    def read(self, rows: slice, cols: slice, dqf_max: int | None = None) -> np.ndarray:
        """The calibrated values (float32, ``(rows, cols)``) of a window, as
        ``calibrate(read_abi(path, window=(rows, cols)))``; NaN for fill,
        out of ``valid_range`` and, if ``dqf_max`` is given, ``DQF > dqf_max``."""
        if not self._chunk_cache_set:
            self._set_chunk_cache(cols)
        key = (rows, cols)
        try:
            data = self._decoded_window(self.variable, key)
            if self._bounds is not None:
                with np.errstate(invalid="ignore"):
                    data[~((data >= self._bounds[0]) & (data <= self._bounds[1]))] = np.nan
            data = data.astype("float32", copy=False)
            bad = None
            if dqf_max is not None and "DQF" in self.nc.variables and self.nc.variables["DQF"].dimensions == ("y", "x"):
                bad = self._dqf_above(key, dqf_max)
        except (OSError, RuntimeError) as err:
            raise ABIFileError(
                f"{self.path}: reading the pixel values failed ({err}); the file is probably "
                "truncated or corrupt: delete it and fetch it again"
            ) from err
        var, band = self.variable, self.band
        if var != "Rad":
            out = data.astype("float32")
        elif band in REFLECTIVE_BANDS:
            if "kappa0" not in self.nc.variables:
                raise ABIFileError(f"{self.path}: band {band} radiance file lacks 'kappa0'")
            # radiance_to_reflectance in place (float32 times a Python float)
            out = data if data.dtype == np.float32 else data.astype("float32")
            out *= self.scalar("kappa0")
        elif band in EMISSIVE_BANDS:
            names = ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2")
            missing = [n for n in names if n not in self.nc.variables]
            if missing:
                raise ABIFileError(f"{self.path}: band {band} radiance file lacks {missing}")
            out = np.asarray(radiance_to_brightness_temperature(data, *map(self.scalar, names)), "float32")
        else:
            raise ABIFileError(f"{self.path}: cannot tell which band it holds (no band_id, odd name)")
        if bad is not None:
            out[bad] = np.nan
        return out

    def _decoded_window(self, name: str, key: tuple) -> np.ndarray:
        """A window of ``name`` decoded as xarray decodes it (a new array):
        in place on one float32 copy for simple packing, else through
        xarray's CF decoder."""
        packing = self._packing.get(name)
        if packing is None:
            return np.array(self._decoded(name, key))
        unsigned, fill, scale, offset = packing
        raw = np.asarray(self.nc.variables[name][key])
        if unsigned is not None:
            raw = raw.view(unsigned)
        out = raw.astype(np.float32)
        if fill is not None:
            out[raw == fill] = np.nan
        if scale is not None:
            out *= scale
            out += offset
        return out

    def _dqf_above(self, key: tuple, dqf_max: int) -> np.ndarray:
        """Where the decoded ``DQF`` exceeds ``dqf_max`` (fill: never)."""
        packing = self._packing.get("DQF")
        if packing is None or packing[2] is not None:
            dqf = self._decoded("DQF", key)
            # compared in its decoded dtype (NaN fill compares False, as in float64)
            with np.errstate(invalid="ignore"):
                return dqf > dqf_max
        unsigned, fill, _, _ = packing
        raw = np.asarray(self.nc.variables["DQF"][key])
        if unsigned is not None:
            raw = raw.view(unsigned)
        bad = raw > dqf_max
        if fill is not None:
            bad &= raw != fill
        return bad

    def close(self) -> None:
        self.nc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -----------------------------------------------------------------------------
# calibration
# -----------------------------------------------------------------------------
def radiance_to_reflectance(rad, kappa0: float):
    """Reflectance factor (1) from radiance (mW m-2 sr-1 (cm-1)-1) for bands 1-6.

    ``kappa0`` (sr m2 (cm-1) mW-1) is the file's ``kappa0`` variable; the result
    is not normalised by the cosine of the solar zenith angle (PUG 5.1.3.6.5).
    """
    return rad * kappa0


def radiance_to_brightness_temperature(rad, fk1: float, fk2: float, bc1: float, bc2: float):
    """Brightness temperature (K) from radiance for bands 7-16 (inverse Planck,
    PUG 5.1.3.6.6): ``(fk2 / ln(fk1 / rad + 1) - bc1) / bc2``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (fk2 / np.log(fk1 / rad + 1.0) - bc1) / bc2


def calibrate(ds: xr.Dataset) -> xr.DataArray:
    """The physical quantity of an ABI dataset read with :func:`read_abi`.

    Returns reflectance factor (units ``1``) for bands 1-6 and brightness
    temperature (units ``K``) for bands 7-16, as float32 on ``(y, x)``. L2
    ``CMI`` is already calibrated and is returned as it is.
    """
    var = ds.attrs.get("convml_tt_variable") or data_variable(ds)
    band = file_band(ds)
    src = ds.attrs.get("convml_tt_source", "<dataset>")
    data = ds[var]
    if var != "Rad":
        out = data.astype("float32")
        out.attrs = {"units": data.attrs.get("units", "1"), "band": band or -1}
    elif band in REFLECTIVE_BANDS:
        if "kappa0" not in ds.variables:
            raise ABIFileError(f"{src}: band {band} radiance file lacks 'kappa0'")
        kappa0 = float(ds["kappa0"].values)
        out = radiance_to_reflectance(data, kappa0).astype("float32")
        out.attrs = {"units": "1", "long_name": "reflectance factor", "band": band}
    elif band in EMISSIVE_BANDS:
        missing = [n for n in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2") if n not in ds]
        if missing:
            raise ABIFileError(f"{src}: band {band} radiance file lacks {missing}")
        consts = [float(ds[n].values) for n in ("planck_fk1", "planck_fk2", "planck_bc1", "planck_bc2")]
        out = radiance_to_brightness_temperature(data, *consts).astype("float32")
        out.attrs = {"units": "K", "long_name": "brightness temperature", "band": band}
    else:
        raise ABIFileError(f"{src}: cannot tell which band it holds (no band_id, odd name)")
    out.name = "reflectance" if out.attrs["units"] == "1" else "brightness_temperature"
    return out


# -----------------------------------------------------------------------------
# windows and pixel locations
# -----------------------------------------------------------------------------
def pixel_latlon(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Geodetic latitude and longitude (degrees) of every pixel centre of
    ``ds`` (shape ``(y, x)``); NaN for pixels off the Earth's disk."""
    grid = FixedGrid.from_dataset(ds)
    xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
    lat, lon = grid.scan_to_latlon(xx, yy)
    coords = {"y": ds["y"], "x": ds["x"]}
    return (
        xr.DataArray(lat, dims=("y", "x"), coords=coords, attrs={"units": "degrees_north"}),
        xr.DataArray(lon, dims=("y", "x"), coords=coords, attrs={"units": "degrees_east"}),
    )


def _bbox_samples(bbox: Sequence[float], n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    lon_min, lat_min, lon_max, lat_max = bbox
    lons = np.linspace(lon_min, lon_max, n)
    lats = np.linspace(lat_min, lat_max, n)
    lon2, lat2 = np.meshgrid(lons, lats)
    return lat2.ravel(), lon2.ravel()


def check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Validate a ``(lon_min, lat_min, lon_max, lat_max)`` box in degrees."""
    if len(bbox) != 4:
        raise ValueError(f"bbox {bbox!r} must be (lon_min, lat_min, lon_max, lat_max)")
    lon_min, lat_min, lon_max, lat_max = map(float, bbox)
    if not (lon_min < lon_max and lat_min < lat_max):
        raise ValueError(
            f"bbox {tuple(bbox)} has min >= max: expected "
            "(lon_min, lat_min, lon_max, lat_max) with lon_min < lon_max and lat_min < lat_max"
        )
    if not (-90 <= lat_min and lat_max <= 90 and -180 <= lon_min and lon_max <= 180):
        raise ValueError(
            f"bbox {tuple(bbox)} is outside lat [-90, 90], lon [-180, 180] (degrees)"
        )
    return lon_min, lat_min, lon_max, lat_max


def scan_extent(ds: xr.Dataset) -> tuple[float, float, float, float]:
    """``(x_min, x_max, y_min, y_max)`` of the pixel centres of ``ds`` (radians)."""
    x = ds["x"].values
    y = ds["y"].values
    return float(x.min()), float(x.max()), float(y.min()), float(y.max())


def bbox_window(
    ds: xr.Dataset,
    bbox: Sequence[float],
    margin: int = 2,
    require_inside: bool = True,
) -> tuple[slice, slice]:
    """Index window ``(rows, cols)`` of ``ds`` that covers a lat/lon box.

    Parameters
    ----------
    ds:
        an ABI dataset (from :func:`open_abi`; only coordinates are used).
    bbox:
        ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.
    margin:
        extra pixels on every side (clipped at the file's edge).
    require_inside:
        if True, a box that is not wholly inside the file's sector is an
        error; otherwise the window is clipped to the sector.

    Raises
    ------
    OffDiskError
        when the box is wholly off the Earth's disk, or outside the sector.
    """
    bbox = check_bbox(bbox)
    grid = FixedGrid.from_dataset(ds)
    src = ds.attrs.get("convml_tt_source", ds.encoding.get("source", "<dataset>"))
    lat, lon = _bbox_samples(bbox)
    x = ds["x"].values
    y = ds["y"].values
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    dy = float(y[1] - y[0]) if y.size > 1 else -1.0
    fast = _window_ends_without_proj(grid, lat, lon, x[0], dx, y[0], dy)
    if fast is not None:
        (c0, c1, r0, r1), ok = fast, np.ones(lat.shape, bool)
    else:
        c0, c1, r0, r1, ok = _window_ends(grid, bbox, lat, lon, x[0], dx, y[0], dy)
    inside = c0 >= 0 and r0 >= 0 and c1 <= x.size - 1 and r1 <= y.size - 1 and ok.all()
    overlaps = c1 >= 0 and r1 >= 0 and c0 <= x.size - 1 and r0 <= y.size - 1
    if not overlaps or (require_inside and not inside):
        lat_e, lon_e = _sector_latlon_extent(ds, grid)
        what = "outside" if not overlaps else "not wholly inside"
        off = "" if ok.all() else " (part of it is off the Earth's disk)"
        raise OffDiskError(
            f"bbox {bbox}{off} is {what} the sector of {src}, which covers about "
            f"lon {lon_e[0]:.2f} to {lon_e[1]:.2f}, lat {lat_e[0]:.2f} to {lat_e[1]:.2f}; "
            "choose a domain inside it"
        )
    c0, r0 = max(c0 - margin, 0), max(r0 - margin, 0)
    c1, r1 = min(c1 + margin, x.size - 1), min(r1 + margin, y.size - 1)
    return slice(r0, r1 + 1), slice(c0, c1 + 1)


def _window_ends(grid: FixedGrid, bbox, lat, lon, x0, dx, y0, dy):
    """First/last (fractional, floored/ceiled) column and row of the box
    samples, through PROJ; raises :class:`OffDiskError` when none is on the disk."""
    sx, sy = grid.latlon_to_scan(lat, lon)
    ok = np.isfinite(sx)
    if not ok.any():
        raise OffDiskError(
            f"bbox {bbox} (lon_min, lat_min, lon_max, lat_max) is wholly off the Earth's "
            f"disk seen from {grid.longitude_of_projection_origin}E; choose a domain "
            "within ~75 degrees of the sub-satellite point"
        )
    cols = (sx[ok] - x0) / dx
    rows = (sy[ok] - y0) / dy
    c0, c1 = int(np.floor(cols.min())), int(np.ceil(cols.max()))
    r0, r1 = int(np.floor(rows.min())), int(np.ceil(rows.max()))
    return c0, c1, r0, r1, ok


def _window_ends_without_proj(grid: FixedGrid, lat, lon, x0, dx, y0, dy):
    """What :func:`_window_ends` gives, from the fixed-grid forward formula
    (PROJ's ``geos`` ellipsoidal forward, same operations, float64), so that
    a composite needs no PROJ; None whenever the result could differ: a
    sweep-y grid, a sample off the disk or near the limb, or an end within
    1e-6 pixel of a whole pixel index (the two computations agree to ~1e-10
    pixel, so the floors and ceilings are the same)."""
    if grid.sweep_angle_axis != "x":
        return None
    a, b = grid.semi_major_axis, grid.semi_minor_axis
    radius_g = 1.0 + grid.perspective_point_height / a
    one_es = (b / a) ** 2
    radius_p = np.sqrt(one_es)
    phi = np.arctan(one_es * np.tan(np.radians(lat)))
    lam = np.radians(lon) - np.radians(grid.longitude_of_projection_origin)
    lam = np.where(np.abs(lam) > np.pi, (lam + np.pi) % (2 * np.pi) - np.pi, lam)
    r = radius_p / np.hypot(radius_p * np.cos(phi), np.sin(phi))
    vx = r * np.cos(lam) * np.cos(phi)
    vy = r * np.sin(lam) * np.cos(phi)
    vz = r * np.sin(phi)
    visible = (radius_g - vx) * vx - vy * vy - vz * vz / one_es
    if not np.all(visible > 1e-6):
        return None
    tmp = radius_g - vx
    sx = np.arctan(vy / np.hypot(vz, tmp))
    sy = np.arctan(vz / tmp)
    cols = (sx - x0) / dx
    rows = (sy - y0) / dy
    ends = np.array([cols.min(), cols.max(), rows.min(), rows.max()])
    if not np.all(np.isfinite(ends)) or np.any(np.abs(ends - np.rint(ends)) < 1e-6):
        return None
    return int(np.floor(ends[0])), int(np.ceil(ends[1])), int(np.floor(ends[2])), int(np.ceil(ends[3]))


def _sector_latlon_extent(ds: xr.Dataset, grid: FixedGrid):
    x = ds["x"].values
    y = ds["y"].values
    n = 50
    xs = np.concatenate([x[:: max(1, x.size // n)], x[-1:]])
    ys = np.concatenate([y[:: max(1, y.size // n)], y[-1:]])
    xx, yy = np.meshgrid(xs, ys)
    lat, lon = grid.scan_to_latlon(xx, yy)
    with np.errstate(invalid="ignore"):
        return (np.nanmin(lat), np.nanmax(lat)), (np.nanmin(lon), np.nanmax(lon))
