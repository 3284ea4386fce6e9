"""The NOAA GOES ABI buckets: object keys, catalogue queries, download and cache.

Object keys in the public buckets (``noaa-goes16`` ... ``noaa-goes19``) look
like::

    ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc
    <folder product>/<year>/<day of year>/<hour>/<file name>

where the file name is ``OR_<product>-M<scan mode>C<band>_G<satellite>_s<start>_e<end>_c<created>.nc``
and each time stamp is ``YYYYJJJHHMMSSt`` (``t`` = tenths of a second).
Mesoscale files say ``RadM1``/``RadM2`` in their name but live in the folder
``ABI-L1b-RadM``.

:class:`ABIKey` parses and formats these keys; everything else in this module
works with it:

* :class:`GOESCatalogue` answers queries over a bucket (or, offline, over the
  local cache): all scenes in a time range, the scene nearest a time, the
  scene nearest local solar noon on each day; a *scene* (:class:`Scene`) is
  the set of requested bands from one scan (same start time), and scans with
  a band missing are reported (:class:`QueryResult` ``.incomplete``, a
  :class:`MissingBandsWarning`, or :class:`MissingBandsError` when strict).
* :meth:`GOESCatalogue.download` copies files into the local cache
  ``{data_root}/sources/goes{NN}/{key}`` with a bounded thread pool, retries
  with exponential backoff, a temporary name and a rename, and resumes
  interrupted downloads.
* :func:`local_solar_noon` and :func:`split_train_study` are the scene
  selection helpers of the original convml_tt.

Nothing here imports torch; s3fs is imported only when a catalogue goes
online.
"""
from __future__ import annotations

import datetime as dt
import errno
import logging
import math
import os
import random
import re
import threading
import time as _time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence, Union

SATELLITES = (16, 17, 18, 19)
#: products by processing level; others are easy to add here
PRODUCTS = {"Rad": "L1b", "CMIP": "L2", "AOD": "L2"}
SECTORS = ("F", "C", "M1", "M2")
SCAN_MODES = (3, 4, 6)
BANDS = tuple(range(1, 17))

_FILENAME_RE = re.compile(
    r"^OR_ABI-(?P<level>L1b|L2)-(?P<product>[A-Za-z]+?)(?P<sector>F|C|M1|M2)"
    r"-M(?P<mode>\d)(?:C(?P<band>\d{2}))?_G(?P<sat>\d{2})"
    r"_s(?P<start>\d{14})_e(?P<end>\d{14})_c(?P<created>\d{14})\.nc$"
)


def parse_timestamp(stamp: str) -> dt.datetime:
    """Parse an ABI time stamp ``YYYYJJJHHMMSSt`` (t = tenths of a second).

    Returns a naive UTC :class:`datetime.datetime`.
    """
    if not re.fullmatch(r"\d{14}", stamp):
        raise ValueError(
            f"ABI time stamp {stamp!r} is not 14 digits 'YYYYJJJHHMMSSt'"
        )
    year, doy = int(stamp[0:4]), int(stamp[4:7])
    hour, minute, sec, tenth = (
        int(stamp[7:9]),
        int(stamp[9:11]),
        int(stamp[11:13]),
        int(stamp[13]),
    )
    if not 1 <= doy <= 366 or hour > 23 or minute > 59 or sec > 60:
        raise ValueError(f"ABI time stamp {stamp!r} has an impossible date or time")
    return dt.datetime(year, 1, 1) + dt.timedelta(
        days=doy - 1, hours=hour, minutes=minute, seconds=sec, milliseconds=100 * tenth
    )


def format_timestamp(time: dt.datetime) -> str:
    """Format a (naive UTC) datetime as an ABI time stamp ``YYYYJJJHHMMSSt``."""
    tenth = time.microsecond // 100_000
    return f"{time:%Y%j%H%M%S}{tenth}"


@dataclass(frozen=True, order=True)
class ABIKey:
    """One ABI file in a NOAA bucket, identified by its object key.

    Attributes
    ----------
    start, end, created:
        scan start, scan end and file creation times (naive UTC).
    satellite:
        16, 17, 18 or 19 (GOES-16 ... GOES-19).
    product:
        ``"Rad"`` (L1b radiance) or an L2 product such as ``"CMIP"``.
    sector:
        ``"F"`` (full disk), ``"C"`` (CONUS/PACUS), ``"M1"`` or ``"M2"`` (mesoscale).
    mode:
        ABI scan mode (3, 4 or 6).
    band:
        ABI band 1-16, or None for products without a band in the name.
    """

    start: dt.datetime
    satellite: int
    product: str
    sector: str
    band: int | None
    mode: int
    end: dt.datetime
    created: dt.datetime

    def __post_init__(self):
        if self.satellite not in SATELLITES:
            raise ValueError(
                f"unknown GOES satellite {self.satellite!r}: expected one of {SATELLITES}"
            )
        if self.product not in PRODUCTS:
            raise ValueError(
                f"unknown ABI product {self.product!r}: expected one of {sorted(PRODUCTS)}"
            )
        if self.sector not in SECTORS:
            raise ValueError(
                f"unknown ABI sector {self.sector!r}: expected one of {SECTORS}"
            )
        if self.band is not None and self.band not in BANDS:
            raise ValueError(f"unknown ABI band {self.band!r}: expected 1 to 16")
        if self.mode not in SCAN_MODES:
            raise ValueError(
                f"unknown ABI scan mode {self.mode!r}: expected one of {SCAN_MODES}"
            )

    # -- names ---------------------------------------------------------------
    @property
    def level(self) -> str:
        """Processing level, ``"L1b"`` or ``"L2"``."""
        return PRODUCTS[self.product]

    @property
    def bucket(self) -> str:
        """Name of the public bucket holding this file, e.g. ``noaa-goes16``."""
        return f"noaa-goes{self.satellite}"

    @property
    def folder_product(self) -> str:
        """Top-level folder, e.g. ``ABI-L1b-RadF`` or ``ABI-L1b-RadM`` for M1/M2."""
        return product_folder(self.product, self.sector)

    @property
    def filename(self) -> str:
        band = "" if self.band is None else f"C{self.band:02d}"
        return (
            f"OR_ABI-{self.level}-{self.product}{self.sector}-M{self.mode}{band}"
            f"_G{self.satellite}_s{format_timestamp(self.start)}"
            f"_e{format_timestamp(self.end)}_c{format_timestamp(self.created)}.nc"
        )

    @property
    def key(self) -> str:
        """The object key in the bucket (folders and file name)."""
        return f"{hour_prefix(self.product, self.sector, self.start)}/{self.filename}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> "ABIKey":
        """Parse an object key, a bucket URL (``s3://noaa-goes16/...``), a local
        cache path or a bare file name."""
        name = PurePosixPath(str(key).replace("\\", "/")).name
        m = _FILENAME_RE.match(name)
        if m is None:
            raise ValueError(
                f"{key!r} is not an ABI file name: expected "
                "'OR_ABI-<level>-<product><sector>-M<mode>C<band>_G<sat>_s<YYYYJJJHHMMSSt>"
                "_e<...>_c<...>.nc', e.g. "
                "'OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc'"
            )
        product = m["product"]
        level = PRODUCTS.get(product)
        if level is not None and level != m["level"]:
            raise ValueError(f"{key!r}: product {product} is {level}, not {m['level']}")
        return cls(
            start=parse_timestamp(m["start"]),
            satellite=int(m["sat"]),
            product=product,
            sector=m["sector"],
            band=None if m["band"] is None else int(m["band"]),
            mode=int(m["mode"]),
            end=parse_timestamp(m["end"]),
            created=parse_timestamp(m["created"]),
        )

    def with_band(self, band: int) -> "ABIKey":
        """The same scan's key for another band (times unchanged)."""
        return replace(self, band=band)


def product_folder(product: str, sector: str) -> str:
    """Top-level folder in the bucket for a product and sector (``ABI-L1b-RadF``)."""
    if product not in PRODUCTS:
        raise ValueError(
            f"unknown ABI product {product!r}: expected one of {sorted(PRODUCTS)}"
        )
    if sector not in SECTORS:
        raise ValueError(f"unknown ABI sector {sector!r}: expected one of {SECTORS}")
    return f"ABI-{PRODUCTS[product]}-{product}{sector[0]}"


def hour_prefix(product: str, sector: str, time: dt.datetime) -> str:
    """Bucket folder holding the files whose scan starts in ``time``'s hour."""
    return f"{product_folder(product, sector)}/{time:%Y}/{time:%j}/{time:%H}"


# ---------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------
log = logging.getLogger(__name__)

#: Conservative lower bounds (UTC) for the first ABI files in each NOAA bucket:
#: no file in ``noaa-goesNN`` starts earlier (the first files may come some
#: weeks later). GOES-16 ABI data went public in early 2017 (operational as
#: GOES-East from 2017-12-18), GOES-17 from its 2018 check-out (GOES-West from
#: 2019-02-12), GOES-18 after its 2022-03-01 launch (GOES-West from 2023-01),
#: GOES-19 after its 2024-06-25 launch (preliminary data from autumn 2024,
#: operational GOES-East from 2025-04-07). A query that ends before its
#: satellite's bound is an error; one that starts before it is clipped.
DATA_START = {
    16: dt.datetime(2017, 1, 1),
    17: dt.datetime(2018, 5, 1),
    18: dt.datetime(2022, 5, 1),
    19: dt.datetime(2024, 9, 1),
}

#: endpoint used when none is given (the NOAA buckets are in us-east-1)
DEFAULT_REGION = "us-east-1"

TimeLike = Union[dt.datetime, dt.date, str]
KeyLike = Union["ABIKey", str]

_PART_SUFFIX = ".part"


class MissingBandsWarning(UserWarning):
    """Some scans in a query lack one or more of the requested bands."""


class MissingBandsError(RuntimeError):
    """Raised instead of :class:`MissingBandsWarning` when ``strict=True``."""


class DownloadError(RuntimeError):
    """Some files could not be downloaded after all retries.

    ``paths`` holds the local paths of the files that did arrive (or were
    already cached), ``failed`` maps each failed key to its last error.
    """

    def __init__(self, message: str, paths: list[Path], failed: dict[str, BaseException]):
        super().__init__(message)
        self.paths = paths
        self.failed = failed


class _Truncated(OSError):
    """A read returned fewer bytes than the listing promised (transient)."""


def _as_utc(value: TimeLike, name: str) -> dt.datetime:
    """A time as a naive UTC datetime (tz-aware ones are converted)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().rstrip("Z"))
        except ValueError:
            raise ValueError(
                f"{name} {value!r} is not an ISO 8601 time, e.g. '2020-01-02T14:00'"
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    # numpy.datetime64 and friends
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts.to_pydatetime()
    except Exception:
        raise TypeError(
            f"{name} {value!r} is not a time: pass a datetime, a date or an ISO 8601 string"
        ) from None


def _check_satellite(satellite: int | str) -> int:
    text = str(satellite).upper().removeprefix("GOES-").removeprefix("GOES").removeprefix("G")
    try:
        sat = int(text)
    except ValueError:
        sat = None
    if sat not in SATELLITES:
        raise ValueError(
            f"unknown GOES satellite {satellite!r}: expected one of {SATELLITES}"
        )
    return sat


def _check_bands(bands: Iterable[int] | int | None) -> tuple[int, ...] | None:
    if bands is None:
        return None
    if isinstance(bands, (int, str)):
        bands = [bands]
    out = []
    for b in bands:
        try:
            bi = int(b)
        except (TypeError, ValueError):
            bi = None
        if bi not in BANDS or (isinstance(b, float) and b != bi):
            raise ValueError(f"unknown ABI band {b!r}: expected integers 1 to 16")
        if bi not in out:
            out.append(bi)
    if not out:
        raise ValueError("bands is empty: ask for at least one ABI band 1 to 16 (or None for all)")
    return tuple(out)


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Each whole hour from ``start``'s hour to ``end``'s hour, inclusive."""
    h = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while h <= end:
        out.append(h)
        h += dt.timedelta(hours=1)
    return out


@dataclass
class Scene:
    """One scan: the requested bands' files, all with the same start time.

    Attributes
    ----------
    time:
        scan start time (naive UTC), as in the files' ``s`` time stamp.
    keys:
        band -> :class:`ABIKey` for each band that exists for this scan
        (band ``None`` for products without bands).
    sizes:
        band -> object size in bytes, from the bucket listing (or the cache).
    missing:
        requested bands that this scan lacks (empty for a complete scene).
    """

    time: dt.datetime
    keys: dict
    sizes: dict = field(default_factory=dict)
    missing: tuple = ()

    @property
    def complete(self) -> bool:
        """True when no requested band is missing."""
        return not self.missing

    @property
    def bands(self) -> tuple:
        return tuple(self.keys)

    @property
    def nbytes(self) -> int:
        """Total size of the scene's files in bytes."""
        return int(sum(self.sizes.values()))

    def __repr__(self) -> str:
        miss = f", missing={list(self.missing)}" if self.missing else ""
        return f"Scene({self.time:%Y-%m-%dT%H:%M:%S.%f}"[:-5] + f", bands={list(self.keys)}{miss})"


class QueryResult(list):
    """The complete scenes of a query (a list, sorted by time), plus what was
    left out and why.

    Attributes
    ----------
    incomplete:
        scans that lack a requested band (:class:`Scene` with ``missing``).
    folders:
        the bucket (or cache) hour folders that were listed, in time order.
    days_without_scene:
        for ``near_local_noon`` queries, the dates with no complete scene
        within the tolerance of local solar noon.
    """

    def __init__(self, scenes=(), incomplete=(), folders=(), days_without_scene=()):
        super().__init__(scenes)
        self.incomplete: list[Scene] = list(incomplete)
        self.folders: list[str] = list(folders)
        self.days_without_scene: list[dt.date] = list(days_without_scene)

    def missing_report(self) -> str:
        """One line per incomplete scan: ``time: missing bands [..]``."""
        return "\n".join(
            f"{s.time:%Y-%m-%dT%H:%M:%S}: missing bands {list(s.missing)}"
            for s in self.incomplete
        )


class Downloads(list):
    """Local paths of the requested files, in request order, with
    ``downloaded`` (fetched now) and ``cached`` (already complete on disk)."""

    def __init__(self, paths=(), downloaded=(), cached=()):
        super().__init__(paths)
        self.downloaded: list[Path] = list(downloaded)
        self.cached: list[Path] = list(cached)


def local_solar_noon(date: dt.date | dt.datetime | str, lon: float, equation_of_time: bool = True) -> dt.datetime:
    """Time (naive UTC) of local solar noon on ``date`` at longitude ``lon``.

    Parameters
    ----------
    date:
        the local calendar date (a datetime's time of day is ignored).
    lon:
        longitude in degrees east (-180 to 360; e.g. -59.5 for Barbados).
    equation_of_time:
        correct for the equation of time (up to about +-16 minutes over the
        year; NOAA's Fourier approximation, accurate to about a minute).
        Without it, noon is simply 12:00 UTC - ``lon`` / 15 hours.
    """
    if not isinstance(lon, (int, float)) or not math.isfinite(lon) or not -180 <= lon <= 360:
        raise ValueError(f"longitude {lon!r} is not a number of degrees east in [-180, 360]")
    if isinstance(date, str):
        date = _as_utc(date, "date")
    if isinstance(date, dt.datetime):
        date = date.date()
    if lon >= 180:
        lon -= 360
    minutes = 720.0 - 4.0 * lon
    if equation_of_time:
        doy = date.timetuple().tm_yday
        gamma = 2 * math.pi / 365.0 * (doy - 1 + (minutes / 60.0 - 12) / 24)
        eot = 229.18 * (
            0.000075
            + 0.001868 * math.cos(gamma)
            - 0.032077 * math.sin(gamma)
            - 0.014615 * math.cos(2 * gamma)
            - 0.040849 * math.sin(2 * gamma)
        )
        minutes -= eot
    return dt.datetime(date.year, date.month, date.day) + dt.timedelta(minutes=minutes)


def split_train_study(scenes: Sequence[Any], seed: int | None = 0) -> tuple[list, list]:
    """Split scenes into train and study sets, holding out one scene per date.

    Scenes (anything with a ``time`` attribute: :class:`Scene`, synthetic
    scenes) are grouped by the UTC date of their time; from each date one
    scene, drawn at random with ``seed``, goes to the study set and the rest
    to training. A date with a single scene therefore contributes only to the
    study set: query several scans a day to have both. Both lists are sorted
    by time; the same seed gives the same split.
    """
    by_date: dict = {}
    for s in scenes:
        t = getattr(s, "time", None)
        if not isinstance(t, dt.datetime):
            raise TypeError(f"{s!r} has no 'time' datetime: pass Scene objects")
        by_date.setdefault(t.date(), []).append(s)
    rng = random.Random(seed)
    train, study = [], []
    for date in sorted(by_date):
        group = sorted(by_date[date], key=lambda s: s.time)
        pick = rng.randrange(len(group))
        study.append(group[pick])
        train.extend(g for i, g in enumerate(group) if i != pick)
    train.sort(key=lambda s: s.time)
    study.sort(key=lambda s: s.time)
    return train, study


def _sleep_backoff(attempt: int, base: float, cap: float = 30.0) -> None:
    """Exponential backoff with jitter: base * 2**attempt (capped), +-25 %."""
    delay = min(cap, base * (2**attempt))
    _time.sleep(delay * (0.75 + 0.5 * random.random()))


_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, TypeError)


def _retrying(fn: Callable[[], Any], what: str, retries: int, backoff: float) -> Any:
    """Call ``fn``; on a transient error retry up to ``retries`` times with
    exponential backoff. Missing objects, denied access and bad arguments are
    not transient and are raised at once."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except _PERMANENT:
            raise
        except Exception as err:  # connection resets, 5xx, timeouts, short reads
            if attempt >= retries:
                raise
            log.info("%s failed (%s: %s); retry %d of %d", what, type(err).__name__, err, attempt + 1, retries)
            _sleep_backoff(attempt, backoff)


class GOESCatalogue:
    """ABI files of one satellite, product and sector: in a NOAA bucket, or,
    offline, in the local cache.

    Parameters
    ----------
    satellite:
        16, 17, 18 or 19 (bucket ``noaa-goes{satellite}``).
    product:
        ``"Rad"`` (L1b radiances) or an L2 product in :data:`PRODUCTS`.
    sector:
        ``"F"``, ``"C"``, ``"M1"`` or ``"M2"``.
    data_root:
        root of the local cache; files go to ``{data_root}/sources/goes{NN}/{key}``.
    offline:
        answer queries from the cache folder alone (no network at all); the
        same queries give the same scenes for the files that are cached.
    endpoint_url:
        S3-compatible server to use instead of AWS (e.g. ``http://127.0.0.1:5000``).
    fs:
        an fsspec filesystem to use instead of building an anonymous
        :class:`s3fs.S3FileSystem` (it must list ``bucket/prefix`` paths).
    retries:
        how many times a failed listing or read is retried (transient errors
        only: connection errors, HTTP 5xx, timeouts, short reads).
    backoff:
        first retry delay in seconds; doubles each retry (capped at 30 s).
    timeout:
        connect and read timeout of each request, in seconds.
    chunk_size:
        bytes per ranged GET when downloading (a resumed download restarts at
        the last whole chunk written).
    max_workers:
        default size of the thread pool used for listing and downloading.
    """

    def __init__(
        self,
        satellite: int = 16,
        product: str = "Rad",
        sector: str = "F",
        data_root: str | os.PathLike = "data",
        offline: bool = False,
        endpoint_url: str | None = None,
        fs: Any = None,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 60.0,
        chunk_size: int = 8 * 2**20,
        max_workers: int = 8,
    ):
        self.satellite = _check_satellite(satellite)
        product_folder(product, sector)  # validates product and sector
        self.product = product
        self.sector = sector
        self.data_root = Path(data_root)
        self.offline = bool(offline)
        self.endpoint_url = endpoint_url
        if int(retries) < 0:
            raise ValueError(f"retries={retries!r} must be >= 0")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be a positive number of bytes")
        if int(max_workers) < 1:
            raise ValueError(f"max_workers={max_workers!r} must be >= 1")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self.chunk_size = int(chunk_size)
        self.max_workers = int(max_workers)
        self._fs = fs
        self._fs_lock = threading.Lock()
        self._sizes: dict[str, int] = {}
        self._sizes_lock = threading.Lock()

    # -- places ----------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return f"noaa-goes{self.satellite}"

    @property
    def cache_dir(self) -> Path:
        """``{data_root}/sources/goes{NN}``: the bucket's mirror on disk."""
        return self.data_root / "sources" / f"goes{self.satellite}"

    def local_path(self, key: KeyLike) -> Path:
        """Where ``key`` (an :class:`ABIKey` or its string) lives in the cache."""
        k = key if isinstance(key, ABIKey) else ABIKey.parse(key)
        return self.cache_dir.joinpath(*k.key.split("/"))

    @property
    def fs(self):
        """The anonymous s3fs filesystem (built on first use; never offline)."""
        if self.offline:
            raise RuntimeError("this catalogue is offline: it reads the cache only")
        with self._fs_lock:
            if self._fs is None:
                import s3fs

                client_kwargs: dict[str, Any] = {"region_name": DEFAULT_REGION}
                if self.endpoint_url:
                    client_kwargs["endpoint_url"] = self.endpoint_url
                self._fs = s3fs.S3FileSystem(
                    anon=True,  # unsigned requests, as the public NOAA buckets allow
                    client_kwargs=client_kwargs,
                    config_kwargs={
                        "connect_timeout": self.timeout,
                        "read_timeout": self.timeout,
                        # the catalogue does its own retries (with backoff)
                        "retries": {"total_max_attempts": 1},
                        "max_pool_connections": max(10, 2 * self.max_workers),
                    },
                    skip_instance_cache=True,
                    use_listings_cache=False,
                )
                # one attempt per call inside s3fs too: retries happen here
                self._fs.retries = 1
            return self._fs

    def check_writable(self) -> Path:
        """Make sure the cache folder exists and files can be written to it.

        Returns the folder; raises :class:`PermissionError` naming it otherwise.
        """
        d = self.cache_dir
        probe = d / f".write-test-{uuid.uuid4().hex}"
        try:
            d.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"ok")
        except OSError as err:
            raise PermissionError(
                f"cache directory {d} is not writable ({err.strerror or err}); "
                f"pass a data_root (--data-root) in a folder you can write to"
            ) from err
        finally:
            try:
                probe.unlink()
            except OSError:
                pass
        return d

    # -- listing -----------------------------------------------------------------
    def _check_range(self, start: TimeLike, end: TimeLike) -> tuple[dt.datetime, dt.datetime]:
        t0, t1 = _as_utc(start, "start"), _as_utc(end, "end")
        if t1 < t0:
            raise ValueError(f"time range ends ({t1:%Y-%m-%dT%H:%M:%S}) before it starts ({t0:%Y-%m-%dT%H:%M:%S})")
        first = DATA_START[self.satellite]
        if t1 < first:
            raise ValueError(
                f"time range {t0:%Y-%m-%dT%H:%M} to {t1:%Y-%m-%dT%H:%M} is before GOES-{self.satellite} "
                f"ABI data begin (no files before {first:%Y-%m-%d}): choose a later range or another satellite"
            )
        return max(t0, first), t1

    def _list_folder(self, folder: str, retries: int | None = None) -> list[tuple[ABIKey, int]]:
        """(key, size in bytes) of each file of this product/sector in one hour folder."""
        out = []
        if self.offline:
            d = self.cache_dir.joinpath(*folder.split("/"))
            try:
                entries = list(os.scandir(d))
            except (FileNotFoundError, NotADirectoryError):
                return []
            items = [(e.name, e.stat().st_size) for e in entries if e.is_file() and not e.name.startswith(".")]
        else:
            path = f"{self.bucket}/{folder}"

            def ls():
                try:
                    return self.fs.ls(path, detail=True, refresh=True)
                except FileNotFoundError:
                    return []

            listing = _retrying(
                ls, f"listing s3://{path}", self.retries if retries is None else retries, self.backoff
            )
            items = [
                (PurePosixPath(e["name"]).name, int(e.get("size") or e.get("Size") or 0))
                for e in listing
                if e.get("type", "file") == "file"
            ]
        for name, size in items:
            try:
                k = ABIKey.parse(name)
            except ValueError:
                log.debug("skipping %s/%s: not an ABI file name", folder, name)
                continue
            if k.satellite != self.satellite or k.product != self.product or k.sector != self.sector:
                continue
            out.append((k, size))
        with self._sizes_lock:
            for k, size in out:
                self._sizes[k.key] = size
        return out

    def _list_folders(
        self, folders: Sequence[str], retries: int | None = None, workers: int | None = None
    ) -> dict[str, list[tuple[ABIKey, int]]]:
        workers = self.max_workers if workers is None else workers
        if len(folders) <= 1 or self.offline or workers <= 1:
            return {f: self._list_folder(f, retries) for f in folders}
        with ThreadPoolExecutor(min(workers, len(folders))) as pool:
            results = list(pool.map(lambda f: self._list_folder(f, retries), folders))
        return dict(zip(folders, results))

    def folders(self, start: TimeLike, end: TimeLike) -> list[str]:
        """The hour folders that hold the scans starting in [start, end]."""
        t0, t1 = self._check_range(start, end)
        return [hour_prefix(self.product, self.sector, h) for h in _hours(t0, t1)]

    def files(self, start: TimeLike, end: TimeLike, bands: Iterable[int] | None = None) -> list[ABIKey]:
        """Every file (of the given bands, or all) whose scan starts in [start, end], sorted."""
        t0, t1 = self._check_range(start, end)
        bands_t = _check_bands(bands)
        listed = self._list_folders(self.folders(t0, t1))
        return sorted(
            k
            for entries in listed.values()
            for k, _ in entries
            if t0 <= k.start <= t1 and (bands_t is None or k.band in bands_t)
        )

    def _scenes(self, entries: Iterable[tuple[ABIKey, int]], bands: tuple | None) -> list[Scene]:
        """Group files into scenes by scan start time (latest ``created`` wins)."""
        by_time: dict[dt.datetime, dict] = {}
        for k, size in entries:
            if bands is not None and k.band not in bands:
                continue
            slot = by_time.setdefault(k.start, {})
            old = slot.get(k.band)
            if old is None or k.created > old[0].created:
                slot[k.band] = (k, size)
        scenes = []
        for t in sorted(by_time):
            slot = by_time[t]
            order = bands if bands is not None else sorted(slot, key=lambda b: -1 if b is None else b)
            keys = {b: slot[b][0] for b in order if b in slot}
            sizes = {b: slot[b][1] for b in order if b in slot}
            missing = tuple(b for b in order if b not in slot)
            scenes.append(Scene(time=t, keys=keys, sizes=sizes, missing=missing))
        return scenes

    @staticmethod
    def _not_found(what: str, folders: Sequence[str], where: str) -> FileNotFoundError:
        shown = ", ".join(folders[:6]) + (f", ... ({len(folders)} folders)" if len(folders) > 6 else "")
        return FileNotFoundError(f"no {what} found; listed {where} folders: {shown}")

    def _report_missing(self, incomplete: Sequence[Scene], strict: bool) -> None:
        if not incomplete:
            return
        lines = "; ".join(f"{s.time:%Y-%m-%dT%H:%M:%S} lacks bands {list(s.missing)}" for s in incomplete[:10])
        more = f" (and {len(incomplete) - 10} more)" if len(incomplete) > 10 else ""
        msg = f"{len(incomplete)} scan(s) of GOES-{self.satellite} {self.product}{self.sector} miss requested bands: {lines}{more}"
        if strict:
            raise MissingBandsError(msg)
        warnings.warn(msg, MissingBandsWarning, stacklevel=3)

    @property
    def _where(self) -> str:
        return f"cache {self.cache_dir}" if self.offline else f"s3://{self.bucket}"

    # -- queries -----------------------------------------------------------------
    def query(
        self,
        start: TimeLike,
        end: TimeLike,
        bands: Iterable[int] | None = (1, 2, 3),
        near_local_noon: float | None = None,
        tolerance: dt.timedelta = dt.timedelta(minutes=30),
        strict: bool = False,
    ) -> QueryResult:
        """Scenes whose scan starts in [start, end] (UTC, inclusive).

        Parameters
        ----------
        bands:
            ABI bands each scene must have; ``None`` takes whatever bands
            each scan has (for products without bands, too).
        near_local_noon:
            a longitude in degrees east: keep, for each date in the range,
            only the complete scene nearest that longitude's local solar noon
            (within ``tolerance``); only the hour folders around noon are listed.
        tolerance:
            for ``near_local_noon``, the largest allowed distance from noon.
        strict:
            raise :class:`MissingBandsError` (instead of warning) when a
            scan lacks a requested band or a date has no scene near noon.

        Returns a :class:`QueryResult`: the complete scenes sorted by time,
        with ``incomplete`` scans, the listed ``folders`` and, for noon
        queries, ``days_without_scene``. Raises :class:`FileNotFoundError`
        (naming the folders listed) when no file at all matches.
        """
        t0, t1 = self._check_range(start, end)
        bands_t = _check_bands(bands)
        if near_local_noon is not None:
            return self._query_noon(t0, t1, bands_t, float(near_local_noon), tolerance, strict)
        folders = self.folders(t0, t1)
        listed = self._list_folders(folders)
        entries = [(k, s) for v in listed.values() for k, s in v if t0 <= k.start <= t1]
        scenes = self._scenes(entries, bands_t)
        if not scenes:
            what = f"GOES-{self.satellite} {self.product}{self.sector} files" + (
                f" of bands {list(bands_t)}" if bands_t else ""
            ) + f" starting {t0:%Y-%m-%dT%H:%M:%S} to {t1:%Y-%m-%dT%H:%M:%S}"
            raise self._not_found(what, folders, self._where)
        result = QueryResult(
            [s for s in scenes if s.complete], [s for s in scenes if not s.complete], folders
        )
        self._report_missing(result.incomplete, strict)
        return result

    def _query_noon(self, t0, t1, bands_t, lon, tolerance, strict) -> QueryResult:
        tol = tolerance if isinstance(tolerance, dt.timedelta) else dt.timedelta(seconds=float(tolerance))
        windows = []
        day = (t0 - dt.timedelta(days=1)).date()
        while day <= (t1 + dt.timedelta(days=1)).date():
            noon = local_solar_noon(day, lon)
            a, b = max(t0, noon - tol), min(t1, noon + tol)
            if a <= b:
                windows.append((day, noon, a, b))
            day += dt.timedelta(days=1)
        folders: list[str] = []
        for _, _, a, b in windows:
            for h in _hours(a, b):
                f = hour_prefix(self.product, self.sector, h)
                if f not in folders:
                    folders.append(f)
        listed = self._list_folders(folders)
        all_entries = [e for v in listed.values() for e in v]
        chosen, incomplete, empty_days = [], [], []
        any_file = False
        for day, noon, a, b in windows:
            scenes = self._scenes([(k, s) for k, s in all_entries if a <= k.start <= b], bands_t)
            any_file = any_file or bool(scenes)
            complete = [s for s in scenes if s.complete]
            best = min(complete, key=lambda s: (abs(s.time - noon), s.time), default=None)
            if best is None:
                empty_days.append(day)
            else:
                chosen.append(best)
            limit = abs(best.time - noon) if best is not None else None
            incomplete.extend(
                s for s in scenes if not s.complete and (limit is None or abs(s.time - noon) < limit)
            )
        if not any_file:
            what = (
                f"GOES-{self.satellite} {self.product}{self.sector} files within {tol} of local solar noon "
                f"at {lon} deg E between {t0:%Y-%m-%dT%H:%M} and {t1:%Y-%m-%dT%H:%M}"
            )
            raise self._not_found(what, folders, self._where)
        result = QueryResult(chosen, incomplete, folders, empty_days)
        self._report_missing(result.incomplete, strict)
        if empty_days:
            msg = (
                f"no complete scene within {tol} of local solar noon at {lon} deg E on "
                + ", ".join(f"{d}" for d in empty_days[:10])
                + (f" (and {len(empty_days) - 10} more)" if len(empty_days) > 10 else "")
            )
            if strict:
                raise MissingBandsError(msg)
            warnings.warn(msg, MissingBandsWarning, stacklevel=2)
        return result

    def nearest(
        self,
        time: TimeLike,
        bands: Iterable[int] | None = (1, 2, 3),
        tolerance: dt.timedelta = dt.timedelta(minutes=15),
        strict: bool = False,
    ) -> Scene:
        """The complete scene whose scan start is nearest ``time`` (within
        ``tolerance``; ties go to the earlier scan).

        If a scan nearer than the returned one lacks a requested band it is
        reported (warning, or :class:`MissingBandsError` when ``strict``).
        Raises :class:`FileNotFoundError` when no complete scene is within
        the tolerance, naming the folders listed and any incomplete scans.
        """
        t = _as_utc(time, "time")
        tol = tolerance if isinstance(tolerance, dt.timedelta) else dt.timedelta(seconds=float(tolerance))
        if tol < dt.timedelta(0):
            raise ValueError(f"tolerance {tol} is negative: pass a duration >= 0")
        t0, t1 = self._check_range(t - tol, t + tol)
        bands_t = _check_bands(bands)
        folders = self.folders(t0, t1)
        listed = self._list_folders(folders)
        scenes = self._scenes([(k, s) for v in listed.values() for k, s in v if t0 <= k.start <= t1], bands_t)
        complete = [s for s in scenes if s.complete]
        best = min(complete, key=lambda s: (abs(s.time - t), s.time), default=None)
        if best is None:
            what = f"complete GOES-{self.satellite} {self.product}{self.sector} scene within {tol} of {t:%Y-%m-%dT%H:%M:%S}"
            if scenes:
                what += " (incomplete scans: " + "; ".join(
                    f"{s.time:%H:%M:%S} lacks bands {list(s.missing)}" for s in scenes[:5]
                ) + ")"
            raise self._not_found(what, folders, self._where)
        nearer = [s for s in scenes if not s.complete and abs(s.time - t) < abs(best.time - t)]
        self._report_missing(nearer, strict)
        return best

    # -- download ----------------------------------------------------------------
    def _resolve(self, items) -> list[ABIKey]:
        if isinstance(items, (Scene, ABIKey, str)):
            items = [items]
        keys: list[ABIKey] = []
        for item in items:
            if isinstance(item, Scene):
                for band, k in item.keys.items():
                    if band in item.sizes:
                        with self._sizes_lock:
                            self._sizes.setdefault(k.key, int(item.sizes[band]))
                keys.extend(item.keys.values())
            elif isinstance(item, ABIKey):
                keys.append(item)
            elif isinstance(item, (str, os.PathLike)):
                keys.append(ABIKey.parse(str(item)))
            else:
                raise TypeError(f"cannot download {item!r}: pass Scenes, ABIKeys or object keys")
        for k in keys:
            if (k.satellite, k.product, k.sector) != (self.satellite, self.product, self.sector):
                raise ValueError(
                    f"{k.filename} is GOES-{k.satellite} {k.product}{k.sector}, not this catalogue's "
                    f"GOES-{self.satellite} {self.product}{self.sector}"
                )
        return keys

    def _remote_sizes(self, keys: Sequence[ABIKey], workers: int, retries: int) -> dict[ABIKey, int]:
        """Object sizes in bytes, from earlier listings or by listing the keys'
        hour folders (no per-object HEAD requests)."""
        with self._sizes_lock:
            unknown = [k for k in keys if k.key not in self._sizes]
        folders = list(dict.fromkeys(k.key.rsplit("/", 1)[0] for k in unknown))
        if folders:
            self._list_folders(folders, retries=retries, workers=workers)
        with self._sizes_lock:
            absent = [k.key for k in keys if k.key not in self._sizes]
            if absent:
                raise FileNotFoundError(
                    f"{len(absent)} file(s) not in s3://{self.bucket}: " + ", ".join(absent[:5])
                    + (" ..." if len(absent) > 5 else "")
                )
            return {k: self._sizes[k.key] for k in keys}

    @staticmethod
    def _part_path(path: Path) -> Path:
        return path.with_name(f".{path.name}{_PART_SUFFIX}")

    def _fetch(self, key: ABIKey, size: int, path: Path, bar, retries: int) -> Path:
        """Download one object to ``path`` via a resumable temporary file."""
        part = self._part_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > size:  # not a prefix of this object: start again
            part.unlink()
            have = 0
        if have and bar is not None:
            bar.update(have)
        rpath = f"{self.bucket}/{key.key}"
        with open(part, "ab") as f:
            f.seek(have)
            f.truncate(have)
            while have < size:
                stop = min(size, have + self.chunk_size)

                def read(start=have, stop=stop):
                    data = self.fs.cat_file(rpath, start=start, end=stop)
                    if len(data) != stop - start:
                        raise _Truncated(
                            errno.EIO, f"read {len(data)} of {stop - start} bytes at offset {start} of {key.key}"
                        )
                    return data

                data = _retrying(read, f"reading {key.key}", retries, self.backoff)
                f.write(data)
                f.flush()
                have = stop
                if bar is not None:
                    bar.update(len(data))
        got = part.stat().st_size
        if got != size:  # pragma: no cover - guarded by the reads above
            raise _Truncated(errno.EIO, f"{part} has {got} bytes, the listing says {size}")
        os.replace(part, path)
        return path

    def download(
        self,
        scenes_or_keys,
        max_workers: int | None = None,
        progress: bool = True,
        retries: int | None = None,
    ) -> Downloads:
        """Bring files into the cache; returns their local paths (request order).

        Parameters
        ----------
        scenes_or_keys:
            a :class:`Scene`, an :class:`ABIKey`, an object key, or a list of them.
        max_workers:
            size of the download thread pool (default: the catalogue's).
        progress:
            show a tqdm progress bar in bytes.
        retries:
            retries per request on transient errors (default: the catalogue's).

        A file already in the cache with the listed size is not fetched
        again. Each file is written to ``.{name}.part`` in its final folder,
        checked against the listed size, and renamed; an interrupted run
        leaves only that hidden ``.part`` file, which the next run resumes
        from its last whole chunk. Offline, the files must already be cached
        (:class:`FileNotFoundError` names those that are not). Raises
        :class:`DownloadError` if some files still fail after the retries;
        the others are kept.
        """
        keys = self._resolve(scenes_or_keys)
        unique = list(dict.fromkeys(keys))
        if self.offline:
            paths = [self.local_path(k) for k in keys]
            absent = [str(p) for p in dict.fromkeys(paths) if not p.is_file()]
            if absent:
                raise FileNotFoundError(
                    f"offline: {len(absent)} file(s) not in the cache {self.cache_dir}: "
                    + ", ".join(absent[:5])
                    + (" ..." if len(absent) > 5 else "")
                    + "; fetch them online first"
                )
            return Downloads(paths, [], list(dict.fromkeys(paths)))
        if retries is None:
            retries = self.retries
        elif int(retries) < 0:
            raise ValueError(f"retries={retries!r} must be >= 0")
        self.check_writable()
        return self._download(keys, unique, max_workers or self.max_workers, progress, int(retries))

    def _download(self, keys, unique, workers, progress, retries) -> Downloads:
        from tqdm.auto import tqdm

        workers = max(1, int(workers))
        try:
            sizes = self._remote_sizes(unique, workers, retries)
        except _PERMANENT:
            raise
        except Exception as err:
            raise DownloadError(
                f"listing the sizes of {len(unique)} file(s) in {self._where} failed after {retries} retries: "
                f"{type(err).__name__}: {err}",
                [],
                {k.key: err for k in unique},
            ) from err
        cached, todo = [], []
        for k in unique:
            p = self.local_path(k)
            if p.is_file() and p.stat().st_size == sizes[k]:
                cached.append(p)
            else:
                todo.append(k)
        failed: dict[str, BaseException] = {}
        downloaded: list[Path] = []
        total = sum(sizes[k] for k in todo)
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"GOES-{self.satellite} {len(todo)} file(s)",
            disable=not progress or not todo,
            leave=False,
        ) as bar:
            if todo:
                with ThreadPoolExecutor(min(workers, len(todo))) as pool:
                    futures = {pool.submit(self._fetch, k, sizes[k], self.local_path(k), bar, retries): k for k in todo}
                    for fut in as_completed(futures):
                        k = futures[fut]
                        try:
                            downloaded.append(fut.result())
                        except Exception as err:
                            failed[k.key] = err
        paths = [self.local_path(k) for k in keys]
        if failed:
            done = [p for p in paths if p.is_file()]
            first = next(iter(failed.items()))
            hint = "Run again to resume; partial data is kept in hidden .part files"
            if isinstance(first[1], PermissionError):
                hint = (
                    "Access was denied to an anonymous (unsigned) request: the bucket or "
                    "endpoint must allow public reads"
                )
            elif isinstance(first[1], FileNotFoundError):
                hint = "The object is not in the bucket (not retried)"
            raise DownloadError(
                f"{len(failed)} of {len(unique)} file(s) failed after {retries} retries "
                f"(from {self._where}); first: {first[0]}: {type(first[1]).__name__}: {first[1]}. {hint}",
                done,
                failed,
            )
        return Downloads(paths, downloaded, cached)


#: the name the design document uses for the catalogue
Catalogue = GOESCatalogue


def fetch(
    start: TimeLike,
    end: TimeLike,
    bands: Iterable[int] | None = (1, 2, 3),
    satellite: int = 16,
    product: str = "Rad",
    sector: str = "F",
    data_root: str | os.PathLike = "data",
    near_local_noon: float | None = None,
    offline: bool = False,
    endpoint_url: str | None = None,
    max_workers: int = 8,
    progress: bool = True,
    strict: bool = False,
) -> tuple[QueryResult, Downloads]:
    """Query scenes in [start, end] and bring their files into the cache.

    A shortcut for :meth:`GOESCatalogue.query` then
    :meth:`GOESCatalogue.download`; returns both results.
    """
    cat = GOESCatalogue(
        satellite=satellite, product=product, sector=sector, data_root=data_root,
        offline=offline, endpoint_url=endpoint_url, max_workers=max_workers,
    )
    if not offline:
        cat.check_writable()
    scenes = cat.query(start, end, bands=bands, near_local_noon=near_local_noon, strict=strict)
    return scenes, cat.download(scenes, progress=progress)
