"""Derived environment quantities and the built-in fields.

Constants (SI): dry-air gas constant ``RD`` = 287.04 J kg-1 K-1, water
vapour ``RV`` = 461.5 J kg-1 K-1, ``CP`` = 1004.64 J kg-1 K-1 (ECMWF IFS
values), ``G`` = 9.80665 m s-2, latent heat of vaporisation ``LV`` =
2.501e6 J kg-1, reference pressure 1000 hPa. Temperatures in K, pressures
in hPa, heights in m.

Built-in fields (ERA5 short names; ``@700``: on the 700 hPa level):

=========  ======================================  ======  ==============================
name       needs                                   units   what
=========  ======================================  ======  ==============================
LTS        t@700, t2m, sp                          K       :func:`lts`
EIS        t@700, t2m, d2m, sp                     K       :func:`eis`
RH700      r@700                                   %       relative humidity at 700 hPa
WS10       u10, v10                                m s-1   10 m wind speed
OMEGA500   w@500                                   Pa s-1  500 hPa vertical (pressure) velocity
SST        sst                                     K       sea surface temperature
=========  ======================================  ======  ==============================
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .base import Field, register_field

__all__ = ["RD", "RV", "CP", "G", "LV", "potential_temperature", "saturation_vapour_pressure",
           "saturation_mixing_ratio", "moist_adiabatic_lapse_rate", "lcl_height", "lts", "eis"]

RD, RV, CP, G, LV = 287.04, 461.5, 1004.64, 9.80665, 2.501e6
P0 = 1000.0  # hPa


def potential_temperature(t, p_hpa):
    """theta = T (1000 / p)^(Rd/cp); ``t`` K, ``p_hpa`` hPa -> K."""
    return np.asarray(t, float) * (P0 / np.asarray(p_hpa, float)) ** (RD / CP)


def saturation_vapour_pressure(t):
    """Saturation vapour pressure over liquid water, hPa, of ``t`` K (Bolton 1980, eq. 10)."""
    tc = np.asarray(t, float) - 273.15
    return 6.112 * np.exp(17.67 * tc / (tc + 243.5))


def saturation_mixing_ratio(t, p_hpa):
    """Saturation mixing ratio, kg kg-1, at ``t`` K and ``p_hpa`` hPa."""
    es = saturation_vapour_pressure(t)
    return (RD / RV) * es / (np.asarray(p_hpa, float) - es)


def moist_adiabatic_lapse_rate(t, p_hpa):
    """Moist-adiabatic (saturated) lapse rate, K m-1, at ``t`` K and ``p_hpa`` hPa
    (Wood and Bretherton 2006, eq. 5):
    Gamma_m = g/cp [1 - (1 + Lv qs / (Rd T)) / (1 + Lv^2 qs / (cp Rv T^2))]."""
    t = np.asarray(t, float)
    qs = saturation_mixing_ratio(t, p_hpa)
    return (G / CP) * (1.0 - (1.0 + LV * qs / (RD * t)) / (1.0 + LV**2 * qs / (CP * RV * t**2)))


def lcl_height(t, td):
    """Lifting condensation level above the surface, m, of a parcel at ``t``
    K with dew point ``td`` K: the LCL temperature of Bolton (1980, eq. 15),
    T_L = 1 / (1 / (Td - 56) + ln(T / Td) / 800) + 56, lifted dry-adiabatically,
    z = cp (T - T_L) / g."""
    t, td = np.asarray(t, float), np.asarray(td, float)
    tl = 1.0 / (1.0 / (td - 56.0) + np.log(t / td) / 800.0) + 56.0
    return CP * (t - tl) / G


def lts(t700, t_surface, p_surface_hpa):
    """Lower-tropospheric stability, K: theta(700 hPa) - theta(surface)
    (Klein and Hartmann 1993, J. Climate 6, 1587), from the 700 hPa
    temperature, the 2 m temperature and the surface pressure (hPa)."""
    return potential_temperature(t700, 700.0) - potential_temperature(t_surface, p_surface_hpa)


def eis(t700, t_surface, td_surface, p_surface_hpa):
    """Estimated inversion strength, K (Wood and Bretherton 2006, J. Climate
    19, 6425, eq. 4): EIS = LTS - Gamma_m^850 (z700 - z_LCL), with the
    moist-adiabatic lapse rate at 850 hPa and the mean of the surface and
    700 hPa temperatures (:func:`moist_adiabatic_lapse_rate`), the height
    of 700 hPa from the hypsometric equation with that mean temperature,
    z700 = Rd T_mean / g ln(p_s / 700), and the LCL from the surface
    temperature and dew point (:func:`lcl_height`)."""
    t700, ts = np.asarray(t700, float), np.asarray(t_surface, float)
    tmean = 0.5 * (ts + t700)
    z700 = RD * tmean / G * np.log(np.asarray(p_surface_hpa, float) / 700.0)
    gamma = moist_adiabatic_lapse_rate(tmean, 850.0)
    return lts(t700, ts, p_surface_hpa) - gamma * (z700 - lcl_height(ts, td_surface))


def _sp(v: Mapping[str, np.ndarray]) -> np.ndarray:
    return v["sp"] / 100.0  # ERA5 surface pressure is in Pa


register_field(Field("LTS", ("t@700", "t2m", "sp"), "K", lambda v: lts(v["t@700"], v["t2m"], _sp(v)),
                     "lower-tropospheric stability theta700 - theta_surface", "Klein and Hartmann 1993"))
register_field(Field("EIS", ("t@700", "t2m", "d2m", "sp"), "K",
                     lambda v: eis(v["t@700"], v["t2m"], v["d2m"], _sp(v)),
                     "estimated inversion strength", "Wood and Bretherton 2006"))
register_field(Field("RH700", ("r@700",), "%", lambda v: v["r@700"], "relative humidity at 700 hPa", "ERA5"))
register_field(Field("WS10", ("u10", "v10"), "m s-1", lambda v: np.hypot(v["u10"], v["v10"]),
                     "10 m wind speed", "ERA5"))
register_field(Field("OMEGA500", ("w@500",), "Pa s-1", lambda v: v["w@500"],
                     "vertical pressure velocity at 500 hPa", "ERA5"))
register_field(Field("SST", ("sst",), "K", lambda v: v["sst"], "sea surface temperature", "ERA5"))
