"""Errors, retries and the reasons an endpoint cannot be reached (for
:mod:`.download`): bounded retries with backoff within a total time budget,
and one clear error naming the endpoint when it does not answer."""
from __future__ import annotations

import errno
import logging
import random
import socket
import threading
import time as _time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("convml_tt.data.sources.goes_abi")


class DownloadError(RuntimeError):
    """Some files could not be downloaded after all retries.

    ``paths`` holds the local paths of the files that did arrive (or were
    already cached), ``failed`` maps each failed key to its last error.
    """

    def __init__(self, message: str, paths: list[Path], failed: dict[str, BaseException]):
        super().__init__(message)
        self.paths = paths
        self.failed = failed


class EndpointUnreachableError(DownloadError, ConnectionError):
    """The S3 endpoint could not be reached (connection refused, no
    connection or no answer within the timeouts, unknown host) after the
    retries of one request.

    It is a :class:`ConnectionError` (an :class:`OSError`) and a
    :class:`DownloadError` (a :class:`RuntimeError`, so ``convml_tt fetch``
    prints its one-line message and exits with status 1). Attributes:
    ``endpoint`` (the endpoint URL, or ``s3://bucket (AWS ...)``),
    ``operation`` (what was being done), ``reason`` (the cause, in words),
    ``attempts`` and ``elapsed`` (seconds); ``paths`` and ``failed`` as for
    :class:`DownloadError` (empty for a listing).
    """

    def __init__(
        self,
        message: str,
        endpoint: str,
        operation: str,
        reason: str,
        attempts: int,
        elapsed: float,
        paths: list[Path] | None = None,
        failed: dict[str, BaseException] | None = None,
    ):
        super().__init__(message, list(paths or []), dict(failed or {}))
        self.endpoint = endpoint
        self.operation = operation
        self.reason = reason
        self.attempts = attempts
        self.elapsed = elapsed


class _Abort:
    """Shared by the requests of one listing or download: once one of them
    finds the endpoint unreachable, the others fail at once with that error
    (instead of each waiting out its own timeouts)."""

    def __init__(self) -> None:
        self.error: EndpointUnreachableError | None = None
        self._lock = threading.Lock()

    def set(self, err: EndpointUnreachableError) -> None:
        with self._lock:
            if self.error is None:
                self.error = err


def _chain(err: BaseException):
    """``err``, its causes and contexts, and the errors botocore and aiohttp
    keep as ``kwargs['error']`` / ``os_error`` (each once)."""
    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        kwargs = getattr(e, "kwargs", None)
        todo += [
            e.__cause__,
            e.__context__,
            kwargs.get("error") if isinstance(kwargs, dict) else None,
            getattr(e, "os_error", None),
        ]


def _unreachable_reason(err: BaseException, connect_timeout: float, read_timeout: float, budget: float | None) -> str | None:
    """Why ``err`` means the endpoint cannot be reached, in words; ``None``
    when it does not (an HTTP error, a dropped or truncated answer, ...)."""
    try:
        from botocore import exceptions as bce
    except ImportError:  # pragma: no cover - s3fs depends on botocore
        bce = None
    try:
        from fsspec.exceptions import FSTimeoutError
    except ImportError:  # pragma: no cover - s3fs depends on fsspec
        FSTimeoutError = ()
    chain = list(_chain(err))
    if isinstance(err, FSTimeoutError):  # the hard deadline of the retry budget
        return f"no complete answer within the {budget:g} s retry budget" if budget else "no answer in time"
    if bce is not None and isinstance(err, bce.ConnectTimeoutError):
        return f"no connection within {connect_timeout:g} s"
    if bce is not None and isinstance(err, bce.ReadTimeoutError):
        return f"no answer within {read_timeout:g} s"
    connecting = isinstance(err, (ConnectionRefusedError, socket.gaierror)) or (
        bce is not None and isinstance(err, bce.EndpointConnectionError)
    )
    if not connecting:
        if isinstance(err, TimeoutError) and not isinstance(err, ConnectionError):
            return f"no answer within {read_timeout:g} s"
        return None
    for e in chain:
        if isinstance(e, socket.gaierror) or type(e).__name__ == "ClientConnectorDNSError":
            return "host name not found (DNS lookup failed)"
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
    for e in chain:
        if isinstance(e, TimeoutError):
            return f"no connection within {connect_timeout:g} s"
    inner = next((e for e in chain[1:] if str(e)), None)
    return f"cannot connect ({inner})" if inner is not None else "cannot connect"


class _Truncated(OSError):
    """A read returned fewer bytes than the listing promised (transient)."""


class Downloads(list):
    """Local paths of the requested files, in request order, with
    ``downloaded`` (fetched now) and ``cached`` (already complete on disk)."""

    def __init__(self, paths=(), downloaded=(), cached=()):
        super().__init__(paths)
        self.downloaded: list[Path] = list(downloaded)
        self.cached: list[Path] = list(cached)


def _backoff_delay(attempt: int, base: float, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: base * 2**attempt (capped), +-25 %."""
    delay = min(cap, base * (2**attempt))
    return delay * (0.75 + 0.5 * random.random())


_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, TypeError)


class _GaveUp(Exception):
    """Internal: the retries of one request are over; ``err`` is the last error."""

    def __init__(self, err: BaseException, attempts: int, elapsed: float):
        super().__init__(str(err))
        self.err, self.attempts, self.elapsed = err, attempts, elapsed


def _retrying(
    fn: Callable[..., Any],
    what: str,
    retries: int,
    backoff: float,
    budget: float | None = None,
    abort: _Abort | None = None,
    report: bool = False,
) -> Any:
    """Call ``fn``; on a transient error retry up to ``retries`` times with
    exponential backoff. Missing objects, denied access and bad arguments are
    not transient and are raised at once.

    With a ``budget`` (seconds), ``fn`` is called with the seconds left
    (``fn(timeout=...)``) and no retry starts (nor is slept for) past the
    deadline. With ``abort``, a request of the same operation that found the
    endpoint unreachable stops this one before its next attempt. With
    ``report``, the last error is raised as :class:`_GaveUp` (with the number
    of attempts and the seconds spent) instead of as itself.
    """
    t0 = _time.monotonic()
    deadline = None if budget is None else t0 + budget
    attempt = 0
    while True:
        if abort is not None and abort.error is not None:
            raise abort.error
        try:
            if deadline is None:
                return fn()
            return fn(timeout=max(0.001, deadline - _time.monotonic()))
        except _PERMANENT:
            raise
        except Exception as err:  # connection resets, 5xx, timeouts, short reads
            delay = _backoff_delay(attempt, backoff)
            over = deadline is not None and _time.monotonic() + delay >= deadline
            if attempt >= retries or over or (abort is not None and abort.error is not None):
                if over and attempt < retries:
                    log.info("%s failed (%s: %s); retry budget of %g s spent", what, type(err).__name__, err, budget)
                if report:
                    raise _GaveUp(err, attempt + 1, _time.monotonic() - t0) from err
                raise
            log.info("%s failed (%s: %s); retry %d of %d", what, type(err).__name__, err, attempt + 1, retries)
            _time.sleep(delay)
            attempt += 1
