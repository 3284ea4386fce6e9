"""CERES SYN1deg hourly fields, read as NASA delivers them.

The CERES SYN1deg-1Hour product (Edition 4.1; ordered as netCDF from the
CERES ordering tool, ``CERES_SYN1deg-1H_Terra-Aqua-MODIS_Ed4.1_Subset_
YYYYMMDD-YYYYMMDD.nc``) holds hourly means on a 1 degree grid: dimensions
``time`` (days since 2000-03-01, at the middle of each hour), ``lat``
(-89.5 ... 89.5, ascending) and ``lon`` (0.5 ... 359.5), float32 variables
with a ``_FillValue``, among them the observed TOA fluxes ``toa_sw_all_1h``,
``toa_sw_clr_1h``, ``toa_lw_all_1h``, ``toa_lw_clr_1h`` (W m-2),
``toa_solar_all_1h`` (W m-2) and the albedos ``toa_alb_all_1h``,
``toa_alb_clr_1h`` (unitless). :func:`~convml_tt.data.fields.era5.open_era5`
reads these files as they are (``lat``/``lon`` renamed, longitudes to
[-180, 180), fill values to NaN), so the fields below co-locate like the
ERA5 ones; the files of one :class:`~convml_tt.data.fields.Environment`
share one grid, so CERES fields go in an Environment of CERES files.

==============  ===========================  ======  =====================================================
name            needs                        units   definition
==============  ===========================  ======  =====================================================
CERES_SW_UP     toa_sw_all_1h                W m-2   TOA shortwave up, all sky
CERES_ALBEDO    toa_alb_all_1h               1       TOA albedo, all sky
CERES_SW_CRE    toa_sw_all_1h, toa_sw_clr_1h W m-2   shortwave cloud radiative effect, clear - all sky up
CERES_LW_CRE    toa_lw_all_1h, toa_lw_clr_1h W m-2   longwave cloud radiative effect, clear - all sky up
CERES_NET_CRE   the four fluxes              W m-2   CERES_SW_CRE + CERES_LW_CRE
==============  ===========================  ======  =====================================================

Cloud radiative effect (Ramanathan et al. 1989, Science 243, 57): the
all-sky minus the clear-sky net downward flux at the top of the
atmosphere, i.e. clear-sky minus all-sky upward flux (the incoming solar
flux is the same); negative in the shortwave (clouds reflect), positive in
the longwave (their tops emit at colder temperatures).
"""
from __future__ import annotations

from .base import Field, register_field

__all__ = ["CERES_VARIABLES"]

#: SYN1deg-1Hour variables the fields use -> (units, long name) as the files carry them
CERES_VARIABLES = {
    "toa_sw_all_1h": ("W m-2", "Observed TOA Shortwave Flux - All-sky"),
    "toa_sw_clr_1h": ("W m-2", "Observed TOA Shortwave Flux - Clear-sky"),
    "toa_lw_all_1h": ("W m-2", "Observed TOA Longwave Flux - All-sky"),
    "toa_lw_clr_1h": ("W m-2", "Observed TOA Longwave Flux - Clear-sky"),
    "toa_alb_all_1h": ("unitless", "Observed TOA Albedo - All-sky"),
    "toa_alb_clr_1h": ("unitless", "Observed TOA Albedo - Clear-sky"),
    "toa_solar_all_1h": ("W m-2", "Incoming Solar Flux"),
}
_REF = "CERES SYN1deg-1Hour Ed4.1 (Doelling et al. 2013, 2016)"


def _sw_cre(v):
    return v["toa_sw_clr_1h"] - v["toa_sw_all_1h"]


def _lw_cre(v):
    return v["toa_lw_clr_1h"] - v["toa_lw_all_1h"]


register_field(Field("CERES_SW_UP", ("toa_sw_all_1h",), "W m-2", lambda v: v["toa_sw_all_1h"],
                     "TOA upward shortwave flux, all sky", _REF))
register_field(Field("CERES_ALBEDO", ("toa_alb_all_1h",), "1", lambda v: v["toa_alb_all_1h"],
                     "TOA albedo, all sky", _REF))
register_field(Field("CERES_SW_CRE", ("toa_sw_all_1h", "toa_sw_clr_1h"), "W m-2", _sw_cre,
                     "TOA shortwave cloud radiative effect", f"{_REF}; Ramanathan et al. 1989"))
register_field(Field("CERES_LW_CRE", ("toa_lw_all_1h", "toa_lw_clr_1h"), "W m-2", _lw_cre,
                     "TOA longwave cloud radiative effect", f"{_REF}; Ramanathan et al. 1989"))
register_field(Field("CERES_NET_CRE", ("toa_sw_all_1h", "toa_sw_clr_1h", "toa_lw_all_1h", "toa_lw_clr_1h"),
                     "W m-2", lambda v: _sw_cre(v) + _lw_cre(v), "TOA net cloud radiative effect",
                     f"{_REF}; Ramanathan et al. 1989"))
