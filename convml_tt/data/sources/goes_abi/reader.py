"""One GOES ABI file: opening, reading windows and calibration.

:func:`open_abi` opens an ABI L1b radiance (``Rad``) or L2 (``CMI``, ...)
file lazily through xarray and :func:`read_abi` reads (a window of) it;
:class:`WindowReader` reads the same values of a window straight through
netCDF4. The file's ``goes_imager_projection`` variable
(:data:`PROJECTION_VARIABLE`) carries the fixed grid that
:mod:`convml_tt.data.sources.goes_abi.navigation` works with.

Radiances are calibrated to reflectance factor (bands 1-6, ``kappa0 * Rad``,
not divided by the cosine of the solar zenith angle) or to brightness
temperature in K (bands 7-16, with the Planck constants stored in the file).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

# one class for every source (a domain outside a scene's coverage), defined with the grids
from ...geometry.grids import OffDiskError  # noqa: F401
from .calibration import radiance_to_brightness_temperature, radiance_to_reflectance

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


#: the image variable the files of each product hold (other L2 products: the product's name)
PRODUCT_VARIABLES = {"Rad": "Rad", "CMIP": "CMI", "MCMIP": "CMI_C13"}
#: radiance units of L1b files: reflective (1-6) and emissive (7-16) bands
RADIANCE_UNITS = {"W m-2 sr-1 um-1": REFLECTIVE_BANDS, "mW m-2 sr-1 (cm-1)-1": EMISSIVE_BANDS}


def check_content(path: str | os.PathLike, variables: Sequence[str], band_id: int | None,
                  units: str | None) -> None:
    """A file named like an ABI product must hold what its name says: the
    product's image variable, and for L1b ``Rad`` and L2 ``CMIP`` the band
    (``band_id`` variable, L1b) and its units. Raises :class:`ABIFileError`
    naming the mismatch; files whose names are not ABI keys are not checked.

    ``variables``: the file's variable names; ``band_id``: the value of its
    ``band_id`` variable (None when absent); ``units``: the image variable's
    ``units`` attribute.
    """
    from .keys import ABIKey

    path = Path(path)
    try:
        key = ABIKey.parse(path.name)
    except ValueError:
        return
    what = f"ABI {key.product}" + (f" band {key.band}" if key.band is not None else "")
    want = PRODUCT_VARIABLES.get(key.product, key.product)
    remedy = "it is not the file its name says (renamed or copied over?); fetch it again"
    if want not in variables:
        shown = sorted(v for v in variables if v not in ("x", "y"))[:8]
        raise ABIFileError(f"{path}: its name says {what} but it holds no {want!r} variable "
                           f"(variables: {shown}); {remedy}")
    if key.product == "Rad" and key.band is not None:
        if band_id is None:
            raise ABIFileError(f"{path}: its name says {what} but it has no band_id variable; {remedy}")
        if band_id != key.band:
            raise ABIFileError(f"{path}: its name says {what} but it holds band {band_id}; {remedy}")
        expected = next(u for u, bands in RADIANCE_UNITS.items() if key.band in bands)
        if units != expected:
            raise ABIFileError(f"{path}: its name says {what} (radiance in {expected!r}) but its {want!r} "
                               f"is in {units!r}; {remedy}")
    elif key.product == "CMIP" and key.band is not None:
        expected = "1" if key.band in REFLECTIVE_BANDS else "K"
        if units != expected:
            raise ABIFileError(f"{path}: its name says {what} (units {expected!r}) but its {want!r} is "
                               f"in {units!r}; {remedy}")


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
    from .keys import ABIKey

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
    try:
        band_id = int(np.asarray(ds["band_id"].values).ravel()[0]) if "band_id" in ds.variables else None
        units = next((ds[v].attrs.get("units") for v in PRODUCT_VARIABLES.values() if v in ds.variables), None)
        check_content(path, list(ds.variables), band_id, units)
    except ABIFileError:
        ds.close()
        raise
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
        ``(rows, cols)`` index slices, e.g. from
        :func:`~convml_tt.data.sources.goes_abi.navigation.bbox_window`; only
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

    What :func:`convml_tt.data.composites.make_composite` uses instead of
    :func:`open_abi` + :func:`read_abi`: the same values (packing decoded by
    xarray's CF decoder, ``valid_range`` masked, calibrated as
    :func:`calibrate`, as float32), without opening the file through
    xarray's backends (which import dask and other libraries) and with a
    small HDF5 chunk cache (the default, 64 MB per variable, would hold most
    of a window that is read once).

    ``header`` is a small :class:`xarray.Dataset` with the decoded ``x``,
    ``y``, the projection variable and the attributes of :func:`open_abi`,
    enough for :meth:`~convml_tt.data.sources.goes_abi.navigation.FixedGrid.from_dataset`
    and :func:`~convml_tt.data.sources.goes_abi.navigation.bbox_window`.
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
        #: pixels flagged out of range (DQF 2, e.g. saturated) that reads kept (quality keep-saturated, all)
        self.flagged_count = 0
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
            check_content(path, list(nc.variables),
                          int(self._decoded("band_id").ravel()[0]) if "band_id" in nc.variables else None,
                          next((getattr(nc.variables[v], "units", None) for v in PRODUCT_VARIABLES.values()
                                if v in nc.variables), None))
            multi = band is not None and f"CMI_C{band:02d}" in nc.variables  # MCMIP: all bands in one file
            self.variable = f"CMI_C{band:02d}" if multi else self._data_variable()
            #: the quality flags of the variable (``DQF``, or ``DQF_Cnn`` of MCMIP)
            self.dqf_variable = f"DQF_C{band:02d}" if multi else "DQF"
            self.band = band if multi else self._band()
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
                for n in (self.variable, self.dqf_variable) if n in nc.variables
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
        from .keys import ABIKey

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
        for name in (self.variable, self.dqf_variable):
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
            if dqf_max is not None and self.dqf_variable in self.nc.variables and self.nc.variables[self.dqf_variable].dimensions == ("y", "x"):
                bad = self._dqf_above(key, dqf_max)
                if dqf_max >= 2:  # out-of-range (saturated) pixels are kept: count them
                    self.flagged_count += int(np.count_nonzero(self._dqf_equal(key, 2) & np.isfinite(data)))
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

    def _dqf_equal(self, key: tuple, value: int) -> np.ndarray:
        """Where the decoded ``DQF`` equals ``value``."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self._decoded(self.dqf_variable, key)) == value

    def _dqf_above(self, key: tuple, dqf_max: int) -> np.ndarray:
        """Where the decoded ``DQF`` exceeds ``dqf_max`` (fill: never)."""
        packing = self._packing.get(self.dqf_variable)
        if packing is None or packing[2] is not None:
            dqf = self._decoded(self.dqf_variable, key)
            # compared in its decoded dtype (NaN fill compares False, as in float64)
            with np.errstate(invalid="ignore"):
                return dqf > dqf_max
        unsigned, fill, _, _ = packing
        raw = np.asarray(self.nc.variables[self.dqf_variable][key])
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

