"""One GOES ABI file: opening, reading, calibration and fixed-grid navigation.

- :mod:`~convml_tt.data.abi.reader`: :func:`open_abi`, :func:`read_abi`,
  :class:`WindowReader` (windows straight through netCDF4),
  :func:`calibrate` (reflectance factor for bands 1-6, brightness
  temperature in K for bands 7-16), the band constants and the errors
  :class:`ABIFileError` and :class:`OffDiskError`.
- :mod:`~convml_tt.data.abi.navigation`: :class:`FixedGrid` (scan angles
  <-> geodetic lat/lon through PROJ's ``geos`` projection),
  :func:`pixel_latlon`, :func:`check_bbox`, :func:`bbox_window` and
  :func:`scan_extent`.
- :mod:`~convml_tt.data.abi.solar`: solar zenith and azimuth angles of
  pixels at a scan time (:func:`solar_zenith_angle`,
  :func:`solar_azimuth_angle`, :func:`solar_angles`,
  :func:`cos_solar_zenith`), the satellite zenith angle
  (:func:`satellite_zenith_angle`) and the sun-zenith correction factor of
  reflectances (:func:`sunz_correction_factor`).
"""
from .navigation import FixedGrid, bbox_window, check_bbox, pixel_latlon, scan_extent
from .reader import (
    BAND_RESOLUTION_KM,
    DATA_VARIABLES,
    EMISSIVE_BANDS,
    PROJECTION_VARIABLE,
    REFLECTIVE_BANDS,
    ABIFileError,
    OffDiskError,
    WindowReader,
    data_variable,
    file_band,
    open_abi,
    read_abi,
)
from .calibration import calibrate, radiance_to_brightness_temperature, radiance_to_reflectance
from . import solar
from .solar import (
    cos_solar_zenith,
    satellite_zenith_angle,
    solar_angles,
    solar_azimuth_angle,
    solar_zenith_angle,
    sunz_correction_factor,
)

__all__ = [
    "ABIFileError",
    "BAND_RESOLUTION_KM",
    "DATA_VARIABLES",
    "EMISSIVE_BANDS",
    "FixedGrid",
    "OffDiskError",
    "PROJECTION_VARIABLE",
    "REFLECTIVE_BANDS",
    "WindowReader",
    "bbox_window",
    "calibrate",
    "check_bbox",
    "cos_solar_zenith",
    "data_variable",
    "file_band",
    "open_abi",
    "pixel_latlon",
    "radiance_to_brightness_temperature",
    "radiance_to_reflectance",
    "read_abi",
    "satellite_zenith_angle",
    "scan_extent",
    "solar",
    "solar_angles",
    "solar_azimuth_angle",
    "solar_zenith_angle",
    "sunz_correction_factor",
]
