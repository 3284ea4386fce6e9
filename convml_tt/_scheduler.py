"""Reaching a dask scheduler, every call bounded (used by :mod:`convml_tt.compute`).

:func:`connect` gives a ``distributed.Client`` or a one-line
``ConnectionError`` within about ``timeout`` seconds: a closed port, a
host that drops packets, and a port that accepts connections but never
answers (the client's whole start, handshake included, is bounded, and a
client that failed to start is closed so that nothing is left to its
``__del__``). A scheduler file is read here (JSON with an ``address``):
one that is not is a one-line ``ValueError`` naming it, before any work.
Asking the cluster for its workers (:func:`_nthreads`) is bounded too.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["connect", "CONNECT_TIMEOUT"]

log = logging.getLogger("convml_tt.compute")

#: seconds to wait for a dask scheduler to answer before giving up
CONNECT_TIMEOUT = 5.0
_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\s]+):(?P<port>\d{1,5})/?$")


def _check_address(address: Any) -> str:
    if isinstance(address, os.PathLike):
        address = os.fspath(address)
    if not isinstance(address, str) or not address.strip():
        raise TypeError(f"scheduler={address!r} must be an address such as tcp://host:8786 or the path of "
                        f"a scheduler file (JSON)")
    address = address.strip()
    if address.endswith(".json") or (os.sep in address and "://" not in address):
        if not Path(address).is_file():
            raise ValueError(f"scheduler file {address!r} does not exist; give the scheduler's address "
                             f"(tcp://host:8786) or the file that `dask scheduler --scheduler-file` wrote")
        _address_in_file(address)  # a file that is not a scheduler file is refused before any work
        return address
    m = _ADDRESS.match(address)
    if m is None or (m["scheme"] or "tcp") not in _SCHEMES or not 0 < int(m["port"]) < 65536:
        raise ValueError(f"scheduler address {address!r} is not understood; use tcp://HOST:PORT, e.g. "
                         f"tcp://10.0.0.5:8786 (schemes: {', '.join(_SCHEMES)}), or a scheduler file (JSON)")
    return address if m["scheme"] else f"tcp://{address}"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("running on a dask cluster needs the 'distributed' package: "
                          "pip install 'convml_tt[cluster]' (or pip install distributed)") from None
    return distributed


def connect(scheduler: str | os.PathLike, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (address or
    scheduler file), or a one-line ``ConnectionError`` naming it within about
    ``timeout`` seconds when it does not answer: a closed port, a host that
    drops packets, or a port that accepts connections but never answers (the
    whole start of the client, handshake included, is bounded). A scheduler
    file that is not one (not JSON, no ``address``) is a ``ValueError``."""
    address = _check_address(scheduler)
    if not address.startswith(tuple(f"{s}://" for s in _SCHEMES)):
        address = _address_in_file(address)
    distributed = _distributed()
    try:
        return _bounded_client_class(distributed)(address=address, timeout=float(timeout), set_as_default=False)
    except (OSError, TimeoutError, asyncio.TimeoutError, asyncio.CancelledError) as err:
        why = " ".join(str(err).split()) or type(err).__name__
        if why.startswith("timed out after"):  # the whole start gave up: say why
            why = ("it accepts connections but does not answer as a dask scheduler" if _accepts(address)
                   else "nothing accepts connections there")
        raise ConnectionError(f"cannot reach the dask scheduler at {address} within {timeout:g} s ({why}); "
                              f"check the address (the scheduler prints it: 'Scheduler at: tcp://...') and "
                              f"that it is running, or drop --scheduler to run here") from None


def _accepts(address: str) -> bool:
    """Whether a TCP connection to ``tcp://host:port`` opens within a second."""
    import socket

    m = _ADDRESS.match(address)
    if m is None or (m["scheme"] or "tcp") != "tcp":
        return False
    try:
        socket.create_connection((m["host"].strip("[]"), int(m["port"])), timeout=1.0).close()
        return True
    except OSError:
        return False


def _address_in_file(path: str) -> str:
    """The scheduler address that a scheduler file (JSON, as ``dask scheduler
    --scheduler-file`` writes) holds, or a one-line ``ValueError`` naming the file."""
    import json

    hint = ("a scheduler file is the JSON that `dask scheduler --scheduler-file FILE` writes, with the "
            "scheduler's \"address\" (tcp://host:8786)")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"scheduler file {path} is not JSON ({' '.join(str(err).split())}); {hint}") from None
    address = cfg.get("address") if isinstance(cfg, dict) else None
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler file {path} has no scheduler \"address\"; {hint}")
    m = _ADDRESS.match(address.strip())
    if m is None or (m["scheme"] or "tcp") not in _SCHEMES or not 0 < int(m["port"]) < 65536:
        raise ValueError(f"scheduler file {path} holds the address {address!r}, which is not one; {hint}")
    return address.strip() if m["scheme"] else f"tcp://{address.strip()}"


_BOUNDED_CLIENT = None


def _bounded_client_class(distributed: Any) -> type:
    """``distributed.Client`` whose start (connection, handshake, first
    exchange) gives up after its ``timeout`` seconds, closing itself so that
    nothing is left to its ``__del__`` (which would block and print)."""
    global _BOUNDED_CLIENT
    if _BOUNDED_CLIENT is not None:
        return _BOUNDED_CLIENT

    class BoundedClient(distributed.Client):
        def start(self, **kwargs: Any) -> None:
            limit = float(self._timeout)
            if not self.asynchronous:
                kwargs.setdefault("callback_timeout", limit)
            try:
                super().start(**kwargs)
            except BaseException:
                with contextlib.suppress(BaseException):
                    self.close(timeout=min(limit, 2.0))
                self.status = "closed"  # __del__ has nothing left to do
                with contextlib.suppress(BaseException):
                    self._loop_runner.stop()
                raise

    _BOUNDED_CLIENT = BoundedClient
    return BoundedClient


def _warn_if_no_workers(c: Any) -> None:
    """Say so when the cluster has no worker yet: its tasks wait for workers
    to join (e.g. SLURM jobs still queued), they do not fail."""
    try:
        n = len(_nthreads(c))
    except Exception:  # noqa: BLE001 - a client that cannot say: nothing to warn about
        return
    if n == 0:
        log.warning("the dask scheduler at %s has no workers yet: the tasks wait until workers join "
                    "(dask-jobqueue: cluster.scale(jobs=N); or start dask-worker processes)",
                    getattr(c, "scheduler", None) and c.scheduler.address)


def _nthreads(c: Any, timeout: float = 30.0) -> dict:
    """The cluster's worker threads (``{worker: n}``), or a ``ConnectionError``
    when its scheduler does not answer within ``timeout`` seconds."""
    try:
        return c.nthreads(callback_timeout=timeout)
    except (OSError, TimeoutError, asyncio.TimeoutError) as err:
        address = getattr(getattr(c, "scheduler", None), "address", "?")
        raise ConnectionError(f"the dask scheduler at {address} did not answer within {timeout:g} s "
                              f"({' '.join(str(err).split()) or type(err).__name__}); check that it is "
                              f"running, or drop --scheduler to run here") from None
