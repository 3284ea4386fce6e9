"""GOES ABI (GOES-16/17/18/19): the NOAA buckets and the files, one source package.

The buckets (object keys, catalogue queries, download and cache):

- :mod:`~convml_tt.data.sources.goes_abi.keys`: :class:`ABIKey` parses and formats the
  buckets' object keys (``ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C01_G16_s..._e..._c....nc``),
  the time stamps in them and the folder names; :class:`Scene` is the set of
  requested bands of one scan; the satellite, product, sector, mode and band
  constants.
- :mod:`~convml_tt.data.sources.goes_abi.catalogue`: :class:`GOESCatalogue` answers
  queries over a bucket (or, offline, the local cache): all scenes in a time
  range, the scene nearest a time, the scene nearest local solar noon on each
  day, reporting scans with a band missing (:class:`QueryResult`
  ``.incomplete``, :class:`MissingBandsWarning`, :class:`MissingBandsError`);
  :func:`local_solar_noon` and :func:`split_train_study` select scenes.
- :mod:`~convml_tt.data.sources.goes_abi.download`: listing and
  :meth:`GOESCatalogue.download`, which copies files into the local cache
  ``{data_root}/sources/goes{NN}/{key}`` with a bounded thread pool, retries
  with exponential backoff, a temporary name and a rename, and resumes
  interrupted downloads; :func:`fetch` queries and downloads in one call.

One file (opening, reading, calibration and fixed-grid navigation):

- :mod:`~convml_tt.data.sources.goes_abi.reader`: :func:`open_abi`, :func:`read_abi`,
  :class:`WindowReader` (windows straight through netCDF4), the band
  constants and the errors :class:`ABIFileError` and :class:`OffDiskError`.
- :mod:`~convml_tt.data.sources.goes_abi.calibration`: :func:`calibrate`
  (reflectance factor for bands 1-6, brightness temperature in K for 7-16).
- :mod:`~convml_tt.data.sources.goes_abi.navigation`: :class:`FixedGrid` (scan angles
  <-> geodetic lat/lon through PROJ's ``geos`` projection),
  :func:`pixel_latlon`, :func:`check_bbox`, :func:`bbox_window`.

Solar geometry lives in :mod:`convml_tt.data.geometry.solar` (re-exported
here for the names ABI code used). Nothing here imports torch; s3fs is
imported only when a catalogue goes online.
"""

from .navigation import FixedGrid, bbox_window, check_bbox, pixel_latlon
from .reader import (
    BAND_RESOLUTION_KM,
    DATA_VARIABLES,
    EMISSIVE_BANDS,
    PROJECTION_VARIABLE,
    REFLECTIVE_BANDS,
    ABIFileError,
    OffDiskError,
    WindowReader,
    calibrate,
    data_variable,
    file_band,
    open_abi,
    read_abi,
)
from .calibration import radiance_to_brightness_temperature, radiance_to_reflectance
from ...geometry import solar
from ...geometry.solar import (
    cos_solar_zenith,
    satellite_zenith_angle,
    solar_angles,
    solar_azimuth_angle,
    solar_zenith_angle,
    sunz_correction_factor,
)

_ABI_ALL = [
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
    "solar",
    "solar_angles",
    "solar_azimuth_angle",
    "solar_zenith_angle",
    "sunz_correction_factor",
]


from .catalogue import (
    Catalogue,
    GOESCatalogue,
    MissingBandsError,
    MissingBandsWarning,
    QueryResult,
    fetch,
    local_solar_noon,
    split_train_study,
)
from .download import DEFAULT_REGION, DownloadError, Downloads, EndpointUnreachableError
from .keys import (
    BANDS,
    DATA_START,
    PRODUCTS,
    SATELLITES,
    SCAN_MODES,
    SECTORS,
    ABIKey,
    KeyLike,
    Scene,
    TimeLike,
    format_timestamp,
    hour_prefix,
    parse_timestamp,
    product_folder,
)

_GOES_ALL = [
    "ABIKey",
    "BANDS",
    "Catalogue",
    "DATA_START",
    "DEFAULT_REGION",
    "DownloadError",
    "EndpointUnreachableError",
    "Downloads",
    "GOESCatalogue",
    "KeyLike",
    "MissingBandsError",
    "MissingBandsWarning",
    "PRODUCTS",
    "QueryResult",
    "SATELLITES",
    "SCAN_MODES",
    "SECTORS",
    "Scene",
    "TimeLike",
    "fetch",
    "format_timestamp",
    "hour_prefix",
    "local_solar_noon",
    "parse_timestamp",
    "product_folder",
    "split_train_study",
]

__all__ = sorted(set(_ABI_ALL) | set(_GOES_ALL))
