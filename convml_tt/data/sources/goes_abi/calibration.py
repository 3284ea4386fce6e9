"""Calibration of ABI radiances: reflectance factor (bands 1-6) and
brightness temperature (bands 7-16, K), the formulas of the GOES-R PUG (the
reader applies them: :func:`convml_tt.data.sources.goes_abi.reader.calibrate`)."""
from __future__ import annotations

import numpy as np


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
