"""Calibration of ABI radiances: reflectance factor (bands 1-6) and
brightness temperature (bands 7-16, K)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .reader import data_variable, file_band, EMISSIVE_BANDS, REFLECTIVE_BANDS, ABIFileError


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

