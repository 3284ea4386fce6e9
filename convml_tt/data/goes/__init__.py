"""The NOAA GOES ABI buckets: object keys, catalogue queries, download and cache.

- :mod:`~convml_tt.data.goes.keys`: :class:`ABIKey` parses and formats the
  buckets' object keys (``ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C01_G16_s..._e..._c....nc``),
  the time stamps in them and the folder names; :class:`Scene` is the set of
  requested bands of one scan; the satellite, product, sector, mode and band
  constants.
- :mod:`~convml_tt.data.goes.catalogue`: :class:`GOESCatalogue` answers
  queries over a bucket (or, offline, the local cache): all scenes in a time
  range, the scene nearest a time, the scene nearest local solar noon on each
  day, reporting scans with a band missing (:class:`QueryResult`
  ``.incomplete``, :class:`MissingBandsWarning`, :class:`MissingBandsError`);
  :func:`local_solar_noon` and :func:`split_train_study` select scenes.
- :mod:`~convml_tt.data.goes.download`: listing and
  :meth:`GOESCatalogue.download`, which copies files into the local cache
  ``{data_root}/sources/goes{NN}/{key}`` with a bounded thread pool, retries
  with exponential backoff, a temporary name and a rename, and resumes
  interrupted downloads; :func:`fetch` queries and downloads in one call.

Nothing here imports torch; s3fs is imported only when a catalogue goes
online.
"""
from .catalogue import (
    Catalogue,
    GOESCatalogue,
    MissingBandsError,
    MissingBandsWarning,
    QueryResult,
    local_solar_noon,
    split_train_study,
)
from .download import DEFAULT_REGION, DownloadError, Downloads, EndpointUnreachableError, fetch
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

__all__ = [
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
