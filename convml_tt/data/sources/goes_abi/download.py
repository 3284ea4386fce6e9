"""Listing the NOAA GOES buckets and downloading ABI files into the local cache.

:class:`DownloadMixin` is the bucket access of
:class:`~convml_tt.data.sources.goes_abi.catalogue.GOESCatalogue`: the anonymous s3fs
filesystem, the listing of hour folders (object sizes included), the check
that the cache can be written, and :meth:`~DownloadMixin.download`, which
copies files into ``{data_root}/sources/goes{NN}/{key}`` with a bounded
thread pool, retries transient errors with exponential backoff
(:func:`_retrying`) within a time budget per request, writes each file to a
hidden ``.{name}.part`` beside its final name and renames it when complete,
and resumes interrupted downloads from that file.

Network time is bounded: each request has a connect and a read timeout
(given to botocore, which does no retries of its own), and the retries of
one request stop when its ``retry_budget`` is spent (a hard deadline for
the s3fs filesystem built here). An endpoint that cannot be reached
(connection refused, connect or read timeout, unknown host) raises
:class:`EndpointUnreachableError` with a one-line message naming the
endpoint, the operation, the cause and what to do.

:func:`fetch` queries and downloads in one call.

s3fs is imported only when a catalogue goes online.
"""
from __future__ import annotations

import errno
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ...._io import check_writable_folder
from .keys import ABIKey, Scene, TimeLike, hour_prefix
from .retry import (  # noqa: F401  (DownloadError, Downloads, EndpointUnreachableError: part of this module's face)
    _PERMANENT,
    DownloadError,
    Downloads,
    EndpointUnreachableError,
    _Abort,
    _GaveUp,
    _retrying,
    _Truncated,
    _unreachable_reason,
)

# the package's logger, ``convml_tt.data.sources.goes_abi``
log = logging.getLogger(__package__)

#: endpoint used when none is given (the NOAA buckets are in us-east-1)
DEFAULT_REGION = "us-east-1"

_PART_SUFFIX = ".part"


class DownloadMixin:
    """The bucket access of :class:`~convml_tt.data.sources.goes_abi.catalogue.GOESCatalogue`:
    its filesystem, the listing of hour folders (of the bucket, or of the
    cache when offline) and the download into the cache.

    It uses the catalogue's settings (``satellite``, ``product``, ``sector``,
    ``bucket``, ``offline``, ``endpoint_url``, ``retries``, ``backoff``,
    ``connect_timeout``, ``read_timeout``, ``retry_budget``, ``chunk_size``,
    ``max_workers``), its state (``_fs``, ``_fs_lock``, ``_sizes``,
    ``_sizes_lock``) and its ``cache_dir``, ``local_path`` and ``_where``.
    """

    @property
    def _endpoint(self) -> str:
        """The endpoint, as error messages name it."""
        return self.endpoint_url or f"s3://{self.bucket} (AWS {DEFAULT_REGION})"

    def _deadline_kwarg(self) -> bool:
        """Whether fs calls take fsspec's ``timeout=`` (a hard deadline): only
        for the async s3fs filesystem built here, not for a given ``fs``."""
        return bool(getattr(self, "_own_fs", False))

    def _request(
        self,
        call: Callable[..., Any],
        what: str,
        operation: str,
        retries: int,
        abort: _Abort | None = None,
    ) -> Any:
        """One listing or read with retries, backoff and the retry budget;
        raises :class:`EndpointUnreachableError` when the endpoint cannot be
        reached, the last error otherwise."""
        self.fs  # build the filesystem (imports, client) before the clock starts
        budget = self.retry_budget
        hard = budget is not None and self._deadline_kwarg()

        def fn(timeout=None):
            return call(timeout) if hard else call(None)

        try:
            return _retrying(fn, what, retries, self.backoff, budget=budget, abort=abort, report=True)
        except _GaveUp as gave_up:
            err = gave_up.err
            reason = _unreachable_reason(err, self.connect_timeout, self.read_timeout, budget)
            if reason is None:
                raise err from None
            hint = (
                "check the endpoint_url (--endpoint-url) and that the server is running"
                if self.endpoint_url
                else "check the network connection (and any proxy settings)"
            )
            message = (
                f"cannot reach {self._endpoint} while {operation}: {reason} "
                f"({gave_up.attempts} attempt(s) in {gave_up.elapsed:.1f} s); {hint}, "
                f"or use --offline (offline=True) to read the cache"
            )
            unreachable = EndpointUnreachableError(
                message, self._endpoint, operation, reason, gave_up.attempts, gave_up.elapsed
            )
            if abort is not None:
                abort.set(unreachable)
            raise unreachable from err

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
                    # botocore.config.Config: aiobotocore turns the timeouts into
                    # aiohttp's sock_connect / sock_read of every request
                    config_kwargs={
                        "connect_timeout": self.connect_timeout,
                        "read_timeout": self.read_timeout,
                        # one attempt per request in botocore: the catalogue
                        # does the retries (with backoff, within the budget)
                        "retries": {"total_max_attempts": 1, "mode": "standard"},
                        "max_pool_connections": max(10, 2 * self.max_workers),
                    },
                    skip_instance_cache=True,
                    use_listings_cache=False,
                )
                # one attempt per call inside s3fs too: retries happen here
                self._fs.retries = 1
                # build the botocore client now (local work, no request), so
                # that its set-up does not count against a request's budget
                self._fs.connect()
                self._own_fs = True
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
    def _list_folder(
        self, folder: str, retries: int | None = None, abort: _Abort | None = None
    ) -> list[tuple[ABIKey, int]]:
        """(key, size in bytes) of each file of this product/sector in one hour folder."""
        out = []
        if self.offline:
            items = [(p.name, size) for p, size in self._offline_index().get(folder, [])]
        else:
            path = f"{self.bucket}/{folder}"

            def ls(timeout):
                kw = {} if timeout is None else {"timeout": timeout}
                try:
                    return self.fs.ls(path, detail=True, refresh=True, **kw)
                except FileNotFoundError:
                    return []

            listing = self._request(
                ls, f"listing s3://{path}", f"listing folder {folder} of {self.bucket}",
                self.retries if retries is None else retries, abort,
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

    def _offline_index(self) -> dict[str, list[tuple[Path, int]]]:
        """Offline: ``{hour folder of the bucket: [(path, size)]}`` of the
        satellite's ABI files anywhere under ``{data_root}/sources`` (any
        layout: the bucket's folders, a flat folder, your own; another
        satellite's ``goesNN`` folder excepted), built once per
        catalogue. A file shorter than its HDF5 superblock says (a cut
        download) is left out with a warning: it is not cached."""
        index = getattr(self, "_offline", None)
        if index is not None:
            return index
        from ..base import hdf5_truncated

        index = {}
        root = self.data_root / "sources"
        mine = f"goes{self.satellite}"
        for dirpath, dirnames, filenames in os.walk(root) if root.is_dir() else ():
            # the whole source cache in any layout, but not another satellite's folder
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (
                Path(dirpath) == root and d.startswith("goes") and d != mine))
            for name in sorted(filenames):
                if name.startswith(".") or not name.startswith("OR_ABI-"):
                    continue
                try:
                    k = ABIKey.parse(name)
                except ValueError:
                    continue
                path = Path(dirpath) / name
                cut = hdf5_truncated(path)
                if cut is not None:
                    log.warning("%s is truncated (%d of %d bytes): not counted as cached; delete it and fetch "
                                "it again", path, cut[0], cut[1])
                    continue
                folder = hour_prefix(k.product, k.sector, k.start)
                index.setdefault(folder, []).append((path, path.stat().st_size))
        self._offline = index
        return index

    def _list_folders(
        self, folders: Sequence[str], retries: int | None = None, workers: int | None = None
    ) -> dict[str, list[tuple[ABIKey, int]]]:
        workers = self.max_workers if workers is None else workers
        abort = _Abort()  # an unreachable endpoint stops the other listings too
        if len(folders) <= 1 or self.offline or workers <= 1:
            return {f: self._list_folder(f, retries, abort) for f in folders}
        with ThreadPoolExecutor(min(workers, len(folders))) as pool:
            futures = [pool.submit(self._list_folder, f, retries, abort) for f in folders]
            results = []
            for fut in futures:
                try:
                    results.append(fut.result())
                except EndpointUnreachableError as err:
                    raise abort.error or err  # the first one found, whichever folder
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

    def _fetch(self, key: ABIKey, size: int, path: Path, bar, retries: int, abort: _Abort | None = None) -> Path:
        """Download one object to ``path`` via a resumable temporary file."""
        if abort is not None and abort.error is not None:
            raise abort.error  # the endpoint was found unreachable: do not wait again
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

                def read(timeout, start=have, stop=stop):
                    kw = {} if timeout is None else {"timeout": timeout}
                    data = self.fs.cat_file(rpath, start=start, end=stop, **kw)
                    if len(data) != stop - start:
                        raise _Truncated(
                            errno.EIO, f"read {len(data)} of {stop - start} bytes at offset {start} of {key.key}"
                        )
                    return data

                data = self._request(read, f"reading {key.key}", f"downloading {key.key}", retries, abort)
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
            a :class:`~convml_tt.data.sources.goes_abi.catalogue.Scene`, an :class:`ABIKey`, an object key, or a list of them.
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
            found = {p.name: p for entries in self._offline_index().values() for p, _ in entries}
            paths = [found.get(ABIKey.parse(str(k)).filename, self.local_path(k)) for k in keys]
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
        except (*_PERMANENT, EndpointUnreachableError):
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
                abort = _Abort()  # an unreachable endpoint stops the other files too
                with ThreadPoolExecutor(min(workers, len(todo))) as pool:
                    futures = {
                        pool.submit(self._fetch, k, sizes[k], self.local_path(k), bar, retries, abort): k
                        for k in todo
                    }
                    for fut in as_completed(futures):
                        k = futures[fut]
                        try:
                            downloaded.append(fut.result())
                        except Exception as err:
                            failed[k.key] = err
        paths = [self.local_path(k) for k in keys]
        if failed:
            done = [p for p in paths if p.is_file()]
            unreachable = next((e for e in failed.values() if isinstance(e, EndpointUnreachableError)), None)
            if unreachable is not None:
                raise EndpointUnreachableError(
                    f"{unreachable}; {len(failed)} of {len(unique)} file(s) not downloaded "
                    f"(run again to resume: partial data is kept in hidden .part files)",
                    unreachable.endpoint, unreachable.operation, unreachable.reason,
                    unreachable.attempts, unreachable.elapsed, done, failed,
                ) from unreachable.__cause__
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
