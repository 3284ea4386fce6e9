"""Listing the NOAA GOES buckets and downloading ABI files into the local cache.

:class:`DownloadMixin` is the bucket access of
:class:`~convml_tt.data.goes.catalogue.GOESCatalogue`: the anonymous s3fs
filesystem, the listing of hour folders (object sizes included), the check
that the cache can be written, and :meth:`~DownloadMixin.download`, which
copies files into ``{data_root}/sources/goes{NN}/{key}`` with a bounded
thread pool, retries transient errors with exponential backoff
(:func:`_retrying`), writes each file to a hidden ``.{name}.part`` beside
its final name and renames it when complete, and resumes interrupted
downloads from that file.

:func:`fetch` queries and downloads in one call.

s3fs is imported only when a catalogue goes online.
"""
from __future__ import annotations

import errno
import logging
import os
import random
import time as _time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..._io import check_writable_folder
from .keys import ABIKey, Scene, TimeLike

if TYPE_CHECKING:
    from .catalogue import QueryResult

# the package's logger, ``convml_tt.data.goes``
log = logging.getLogger(__package__)

#: endpoint used when none is given (the NOAA buckets are in us-east-1)
DEFAULT_REGION = "us-east-1"

_PART_SUFFIX = ".part"


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


class Downloads(list):
    """Local paths of the requested files, in request order, with
    ``downloaded`` (fetched now) and ``cached`` (already complete on disk)."""

    def __init__(self, paths=(), downloaded=(), cached=()):
        super().__init__(paths)
        self.downloaded: list[Path] = list(downloaded)
        self.cached: list[Path] = list(cached)


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


class DownloadMixin:
    """The bucket access of :class:`~convml_tt.data.goes.catalogue.GOESCatalogue`:
    its filesystem, the listing of hour folders (of the bucket, or of the
    cache when offline) and the download into the cache.

    It uses the catalogue's settings (``satellite``, ``product``, ``sector``,
    ``bucket``, ``offline``, ``endpoint_url``, ``retries``, ``backoff``,
    ``timeout``, ``chunk_size``, ``max_workers``), its state (``_fs``,
    ``_fs_lock``, ``_sizes``, ``_sizes_lock``) and its ``cache_dir``,
    ``local_path`` and ``_where``.
    """

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
        try:
            check_writable_folder(d, "the GOES cache", "pass a data_root (--data-root)")
        except PermissionError as err:
            cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
            raise PermissionError(
                f"cache directory {d} is not writable ({cause.strerror or cause}); "
                f"pass a data_root (--data-root) in a folder you can write to"
            ) from cause
        return d

    # -- listing ---------------------------------------------------------------
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

    # -- download --------------------------------------------------------------
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
            a :class:`~convml_tt.data.goes.catalogue.Scene`, an :class:`ABIKey`, an object key, or a list of them.
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

    A shortcut for :meth:`~convml_tt.data.goes.catalogue.GOESCatalogue.query`
    then :meth:`~DownloadMixin.download`; returns both results.
    """
    from .catalogue import GOESCatalogue  # the catalogue module imports this one

    cat = GOESCatalogue(
        satellite=satellite, product=product, sector=sector, data_root=data_root,
        offline=offline, endpoint_url=endpoint_url, max_workers=max_workers,
    )
    if not offline:
        cat.check_writable()
    scenes = cat.query(start, end, bands=bands, near_local_noon=near_local_noon, strict=strict)
    return scenes, cat.download(scenes, progress=progress)
