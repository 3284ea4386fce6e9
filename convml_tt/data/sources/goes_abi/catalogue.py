"""Queries over a NOAA GOES ABI bucket (or, offline, the local cache).

:class:`GOESCatalogue` answers queries over a bucket (or over the local
cache): all scenes in a time range, the scene nearest a time, the scene
nearest local solar noon on each day. A *scene* (:class:`Scene`) is the set
of requested bands from one scan (same start time), and scans with a band
missing are reported (:class:`QueryResult` ``.incomplete``, a
:class:`MissingBandsWarning`, or :class:`MissingBandsError` when strict).
Listing the bucket's folders and downloading come from
:class:`~convml_tt.data.sources.goes_abi.download.DownloadMixin`.

:func:`local_solar_noon` and :func:`split_train_study` are the scene
selection helpers of the original convml_tt.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import random
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from .download import DownloadMixin
from .keys import (
    DATA_START,
    ABIKey,
    KeyLike,
    Scene,
    TimeLike,
    _as_utc,
    _check_bands,
    _check_satellite,
    _hours,
    hour_prefix,
    product_folder,
)


class MissingBandsWarning(UserWarning):
    """Some scans in a query lack one or more of the requested bands."""


class MissingBandsError(RuntimeError):
    """Raised instead of :class:`MissingBandsWarning` when ``strict=True``."""


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


class GOESCatalogue(DownloadMixin):
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
    connect_timeout:
        seconds to wait for a connection to the endpoint, per request
        (default 10).
    read_timeout:
        seconds to wait for the server to answer (or to send more of an
        answer), per request (default 30).
    retry_budget:
        seconds one request may take, its retries and backoff included
        (default 120): no retry starts after it, and for the s3fs
        filesystem built here it is a hard deadline. ``None``: no budget
        (``retries`` alone bound the request).
    timeout:
        if given, sets both ``connect_timeout`` and ``read_timeout``.
    chunk_size:
        bytes per ranged GET when downloading (a resumed download restarts at
        the last whole chunk written).
    max_workers:
        default size of the thread pool used for listing and downloading.

    Listing, :meth:`download` and :meth:`check_writable` come from
    :class:`~convml_tt.data.sources.goes_abi.download.DownloadMixin`. An endpoint that
    cannot be reached raises
    :class:`~convml_tt.data.sources.goes_abi.download.EndpointUnreachableError` within
    about ``retry_budget`` seconds.
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
        timeout: float | None = None,
        chunk_size: int = 8 * 2**20,
        max_workers: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retry_budget: float | None = 120.0,
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
        if timeout is not None:
            connect_timeout = read_timeout = timeout
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout),
                            ("retry_budget", retry_budget)):
            if value is None and name == "retry_budget":
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive number of seconds")
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.retry_budget = None if retry_budget is None else float(retry_budget)
        self.timeout = self.read_timeout  # the former single timeout setting
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

    # -- folders and files ---------------------------------------------------------
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
            for ``near_local_noon``, the largest allowed distance from noon
            (``0 < tolerance <= 12 h``; a number is seconds).
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
        if not dt.timedelta(0) < tol <= dt.timedelta(hours=12):
            raise ValueError(f"tolerance {tol} from local solar noon is out of range: use 0 < tolerance <= 12 h "
                             f"(--tolerance 0 < MINUTES <= 720), e.g. 30 minutes")
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


#: another name of :class:`GOESCatalogue`
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
    **settings: Any,
) -> tuple[QueryResult, Downloads]:
    """Query scenes in [start, end] and bring their files into the cache.

    A shortcut for :meth:`~convml_tt.data.sources.goes_abi.catalogue.GOESCatalogue.query`
    then :meth:`~DownloadMixin.download`; returns both results. Other keyword
    arguments (``retries``, ``backoff``, ``connect_timeout``,
    ``read_timeout``, ``retry_budget``, ``chunk_size``) go to the catalogue.
    """

    cat = GOESCatalogue(
        satellite=satellite, product=product, sector=sector, data_root=data_root,
        offline=offline, endpoint_url=endpoint_url, max_workers=max_workers, **settings,
    )
    if not offline:
        cat.check_writable()
    scenes = cat.query(start, end, bands=bands, near_local_noon=near_local_noon, strict=strict)
    return scenes, cat.download(scenes, progress=progress)
