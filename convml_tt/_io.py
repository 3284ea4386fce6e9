"""Helpers every room uses: atomic writes and the choice of torch device.

Atomic writes
-------------
Every file convml_tt writes goes through :func:`atomic_path` (or its two
shorthands): the content is written to a hidden temporary file beside the
target, ``.{name}.{random}.tmp``, which is renamed onto the target only once
it is complete and removed when writing fails. A reader therefore sees the
old file or the new one, never half of one. A write that fails for lack of
space (a full disk, the file size limit; HDF5 says only ``NetCDF: HDF
error``) is a one-line :class:`NoSpaceError` naming the file. The final file gets the
permissions of the user's umask (``mkstemp`` alone would leave ``0600``).
Temporary files that a killed process left behind match
:func:`temp_pattern` and are removed by :func:`remove_stale_temps` (all of a
folder) or :func:`remove_temps_of` (those of one output, called before
writing it again), assuming one writer per output.

Plugins
-------
:func:`load_plugin` (from :mod:`convml_tt.registry`) imports a user's module
(by name or ``.py`` path) that registers recipes, backbones, ..., once per process.

Process pools
-------------
Worker processes must not outlive the process that started them, and a
pool must stop when its parent is asked to stop:

* :func:`die_with_parent`, called first thing in a worker (e.g. as, or from,
  a ``ProcessPoolExecutor`` initializer, with ``os.getpid()`` of the parent
  passed in), makes the worker exit when its parent dies, even by SIGKILL:
  on Linux the kernel sends it SIGTERM (``prctl(PR_SET_PDEATHSIG)``), and
  everywhere a daemon thread polls ``os.getppid()`` and ends the worker
  with ``os._exit`` once the parent is gone;
* :func:`sigterm_raises` turns SIGTERM into a :class:`Terminated`
  exception (a ``SystemExit`` with code 143) for the duration of a block,
  so that the code running the pool can clean up;
* :func:`stop_pool` cancels a ``ProcessPoolExecutor``'s pending work and
  terminates its workers at once (for SIGTERM, Ctrl-C or any error).

The usual shape::

    with sigterm_raises():
        pool = ProcessPoolExecutor(..., initializer=init, initargs=(os.getpid(), ...))
        try:
            ...
        except BaseException:
            stop_pool(pool)
            raise
        finally:
            pool.shutdown()

with ``init`` calling ``die_with_parent(parent_pid)``.

Devices
-------
:func:`resolve_device` is the one place that turns a user's ``device``
(``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) into a
``torch.device``: CUDA when available by default, and a clear error when
CUDA is asked for but absent. torch is imported only when it is called, so
this module stays importable without torch.
"""
from __future__ import annotations

import contextlib
import glob
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator

from .registry import load_plugin

__all__ = [
    "atomic_path",
    "atomic_open",
    "NoSpaceError",
    "no_space_error",
    "write_bytes",
    "write_text",
    "temp_pattern",
    "remove_stale_temps",
    "remove_temps_of",
    "user_file_mode",
    "check_writable_folder",
    "die_with_parent",
    "sigterm_raises",
    "Terminated",
    "stop_pool",
    "resolve_device",
    "load_plugin",
]

_TMP_SUFFIX = ".tmp"


def user_file_mode() -> int:
    """Permission bits a new regular file gets under the current umask (e.g. ``0o644``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_pattern(path: str | os.PathLike) -> str:
    """Glob pattern (relative to the target's folder) of the temporary files
    :func:`atomic_path` makes for ``path``."""
    return f".{glob.escape(Path(path).name)}.*{_TMP_SUFFIX}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mkdir: bool = True) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it onto ``path``
    when the block ends without an exception, remove it otherwise.

    For writers that take a file name (``xarray.Dataset.to_netcdf``,
    ``torch.save``, ``Figure.savefig``)::

        with atomic_path(out) as tmp:
            ds.to_netcdf(tmp)

    ``mkdir``: create the target's folder first. The temporary file exists
    (empty) when the block starts.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:  # made inside the try: a Ctrl-C right after it is made still removes it
        fd, tmp = _new_temp(path)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, user_file_mode())
        os.replace(tmp, path)
    except BaseException as err:
        _discard_temp(err, path, tmp)
        raise


def _new_temp(path: Path) -> tuple[int, str]:
    """``(descriptor, name)`` of a new empty file ``.{name}.{random}.tmp`` beside ``path``, opened for
    writing, mode 0o666 less the umask (:func:`user_file_mode`); a full disk raised as :class:`NoSpaceError`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(path.parent, f".{path.name}.{_RANDOM.getrandbits(48):012x}{_TMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as err:
            full = no_space_error(err, path)
            if full is not None:
                raise full from None
            raise


def _discard_temp(err: BaseException, path: Path, tmp: str | os.PathLike | None) -> None:
    """After ``err`` while writing ``path`` through ``tmp``: remove ``tmp`` (if made) and raise a full
    disk as :class:`NoSpaceError`; the caller re-raises anything else."""
    if tmp is None:
        return
    full = no_space_error(err, path, tmp) if isinstance(err, Exception) else None
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    if full is not None:
        raise full from None


#: the temporary names (not for secrets: ``O_EXCL`` makes them unique); reseeded in a forked child,
#: which would otherwise draw its parent's names and retry on every collision
_RANDOM = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RANDOM.seed)


class NoSpaceError(OSError):
    """Writing a file failed for lack of space: the disk (or quota) is full,
    or the file would exceed the process's file size limit (``ulimit -f``).
    ``errno`` is ``ENOSPC`` or ``EFBIG``, ``filename`` the file; its text is
    one line naming both."""

    def __init__(self, errno: int, message: str, filename: str) -> None:
        super().__init__(errno, message, filename)
        self.message = message

    def __str__(self) -> str:
        return self.message


#: free bytes below which a failed write is put down to a full disk
_NEARLY_FULL = 4 * 2**20


def no_space_error(err: BaseException, path: str | os.PathLike, tmp: str | os.PathLike | None = None
                   ) -> NoSpaceError | None:
    """A :class:`NoSpaceError` naming ``path`` when writing it failed with
    ``err`` for lack of space, else None. HDF5 (netCDF) reports a full disk
    as ``NetCDF: HDF error`` without the system's error number, so a failed
    write also counts as one when the disk holding ``path`` has less than
    4 MiB free, or when the partly written ``tmp`` reached the process's file
    size limit (``RLIMIT_FSIZE``)."""
    import errno as errnos
    import shutil

    folder = Path(path).absolute().parent
    code = getattr(err, "errno", None)
    limit = None
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        limit = None if soft == resource.RLIM_INFINITY else int(soft)
    except (ImportError, OSError, ValueError):
        pass
    size = os.path.getsize(tmp) if tmp is not None and os.path.exists(tmp) else 0
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if code == errnos.EFBIG or (code != errnos.ENOSPC and limit is not None and size >= limit - 65536):
        return NoSpaceError(errnos.EFBIG, f"cannot write {path}: the file would exceed this process's file size "
                                          f"limit of {limit} bytes (ulimit -f); raise the limit or ask for a "
                                          f"smaller output (nothing was left half-written)", str(path))
    if code in (errnos.ENOSPC, getattr(errnos, "EDQUOT", errnos.ENOSPC)) or (free is not None and free < _NEARLY_FULL):
        left = f"{free / 2**20:.1f} MiB free" if free is not None else "no space left"
        return NoSpaceError(errnos.ENOSPC, f"cannot write {path}: the disk holding {folder} is full ({left}); "
                                           f"free some space or choose another output folder (nothing was "
                                           f"left half-written)", str(path))
    return None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                mkdir: bool = True) -> Iterator[IO[Any]]:
    """``open()`` for writing, atomically: yields a file object on a temporary
    file that replaces ``path`` when the block ends without an exception."""
    if "w" not in mode:
        raise ValueError(f"atomic_open is for writing (mode 'w' or 'wb'), got mode={mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, mkdir=mkdir) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh


def write_bytes(path: str | os.PathLike, data: bytes, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    :func:`atomic_path`'s temporary file and clean-up in four system calls
    (the triplet writer stores four small files a triplet): the file is made
    with the umask's mode already (no ``chmod``), written through its
    descriptor and renamed onto ``path``; on any failure it is removed (a
    full disk raised as :class:`NoSpaceError`)."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path)
    try:
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        _discard_temp(err, path, tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str, mkdir: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"), mkdir=mkdir)


def remove_stale_temps(folder: str | os.PathLike, pattern: str = f".*{_TMP_SUFFIX}") -> int:
    """Remove temporary files matching ``pattern`` in ``folder`` (left by a
    killed writer); returns how many were removed.

    The default pattern matches every temporary file of :func:`atomic_path`
    in the folder; ``temp_pattern(target)`` only those of one output, e.g.
    before rewriting a checkpoint or a composite::

        remove_stale_temps(target.parent, temp_pattern(target))

    It assumes one writer per output: call it only where no other process
    can be writing the same output(s) at the same time, since their
    in-progress temporary files would be removed too (their rename then
    fails)."""
    n = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(pattern):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


def remove_temps_of(path: str | os.PathLike) -> int:
    """Remove the temporary files that a killed ``atomic_path(path)`` left
    beside ``path`` (``.{name}.{random}.tmp``, the random part without dots,
    so temporary files of ``{name}.other`` are kept); returns how many.

    Call it just before writing ``path`` again. It assumes one writer per
    output: no other process may be writing ``path`` at the same time (its
    temporary file would be removed and its rename fail)."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return 0
    head = f".{path.name}."
    n = 0
    for p in folder.glob(temp_pattern(path)):
        middle = p.name[len(head): -len(_TMP_SUFFIX)]
        if middle and "." not in middle and p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


# -----------------------------------------------------------------------------
# process pools
# -----------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_watchdog: threading.Thread | None = None


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)`` on Linux; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parent_gone(parent_pid: int, direct: bool) -> bool:
    if direct:
        return os.getppid() != parent_pid
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def die_with_parent(parent_pid: int | None = None, poll: float = 0.25,
                    ignore_sigint: bool = False) -> None:
    """Make this (worker) process exit when its parent process dies.

    Call it in the worker, first thing (a pool's initializer). On Linux the
    kernel sends this process SIGTERM when its parent dies, however it dies
    (``prctl(PR_SET_PDEATHSIG)``; the signal comes when the *thread* that
    started the worker ends, so start pools from a thread that lives as
    long as the pool, normally the main thread). Everywhere, a daemon thread
    checks every ``poll`` seconds whether the parent is still there and ends
    this process with ``os._exit(1)`` when not; it is started once per
    process.

    ``parent_pid``: ``os.getpid()`` of the process that owns the pool,
    passed in by it; default: the current parent. When the parent given is
    not the direct parent (e.g. under a fork server), it is checked with
    ``os.kill(pid, 0)`` instead of ``os.getppid()``.
    ``ignore_sigint``: ignore SIGINT here, so that Ctrl-C, which the terminal
    sends to every process of the group, is handled by the parent alone
    (which then stops the pool, see :func:`stop_pool`).

    A worker killed this way may leave a temporary file of
    :func:`atomic_path` behind, never a half-written output.
    """
    global _watchdog
    if parent_pid is None:
        parent_pid = os.getppid()
    parent_pid = int(parent_pid)
    direct = os.getppid() == parent_pid
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if direct:
        _set_parent_death_signal(signal.SIGTERM)
    # the parent may have died before the death signal was armed
    if _parent_gone(parent_pid, direct):
        os._exit(1)
    if _watchdog is not None and _watchdog.is_alive():
        return

    def watch() -> None:
        while not _parent_gone(parent_pid, direct):
            time.sleep(poll)
        os._exit(1)

    _watchdog = threading.Thread(target=watch, name="convml_tt-parent-watchdog", daemon=True)
    _watchdog.start()


class Terminated(SystemExit):
    """SIGTERM (or another signal) received inside :func:`sigterm_raises`.

    A ``SystemExit`` (not caught by ``except Exception``) whose ``code`` is
    ``128 + signum`` (143 for SIGTERM), the exit status a shell reports for
    a process ended by that signal; ``signum`` is the signal number.
    """

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(128 + int(signum))
        self.signum = int(signum)

    def __str__(self) -> str:
        try:
            name = signal.Signals(self.signum).name
        except ValueError:
            name = f"signal {self.signum}"
        return f"terminated by {name}"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main
    thread (so ``finally`` blocks and pool clean-up run) instead of ending
    the process at once; the previous handler is restored afterwards.

    Does nothing outside the main thread (Python allows signal handlers
    only there) and where the process already has its own SIGTERM handler
    or ignores SIGTERM (an application's choice that is kept).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_pool(pool: Any, timeout: float = 5.0) -> None:
    """Stop a ``concurrent.futures.ProcessPoolExecutor`` now: cancel the
    futures not yet started, terminate (SIGTERM) the workers, wait up to
    ``timeout`` seconds for them and kill (SIGKILL) those still running.
    Work in progress is lost (an :func:`atomic_path` write leaves only a
    temporary file). Safe to call more than once."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)


def check_writable_folder(folder: str | os.PathLike, what: str, remedy: str) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it.

    Raises ``PermissionError("cannot write {what} to {folder} (...); {remedy}")``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"cannot write {what} to {folder} ({err.strerror or err}); {remedy}") from err
    return folder


def resolve_device(device: Any = None):
    """The ``torch.device`` to train or embed on: CUDA when available for
    ``None``/``"auto"``, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
    ``torch.device`` as given.

    Raises ``ValueError`` for a name torch does not understand and a clear
    ``RuntimeError`` when CUDA (or a CUDA device index) is asked for but is
    not there.
    """
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not understood; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but CUDA is not available here "
                f"(torch.cuda.is_available() is False: no CUDA GPU visible, or a CPU-only torch build); "
                f"use device 'cpu' (CLI: --device cpu) or leave the device unset"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {str(device)!r} was requested but only "
                               f"{torch.cuda.device_count()} CUDA device(s) are visible")
    return dev
