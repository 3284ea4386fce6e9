"""Helpers every room uses: atomic writes and the choice of torch device.

Atomic writes
-------------
Every file convml_tt writes goes through :func:`atomic_path` (or its two
shorthands): the content is written to a hidden temporary file beside the
target, ``.{name}.{random}.tmp``, which is renamed onto the target only once
it is complete and removed when writing fails. A reader therefore sees the
old file or the new one, never half of one. The final file gets the
permissions of the user's umask (``mkstemp`` alone would leave ``0600``).
Temporary files that a killed process left behind match
:func:`temp_pattern` and are removed by :func:`remove_stale_temps`.

Plugins
-------
:func:`load_plugin` imports a user's module (by name or ``.py`` path) that
registers backbones or composite recipes, once per process.

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
import hashlib
import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = [
    "atomic_path",
    "atomic_open",
    "write_bytes",
    "write_text",
    "temp_pattern",
    "remove_stale_temps",
    "user_file_mode",
    "check_writable_folder",
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
    return f".{Path(path).name}.*{_TMP_SUFFIX}"


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
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, user_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb", mkdir=mkdir) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, mkdir: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"), mkdir=mkdir)


def remove_stale_temps(folder: str | os.PathLike, pattern: str = f".*{_TMP_SUFFIX}") -> int:
    """Remove temporary files matching ``pattern`` in ``folder`` (left by a
    killed writer); returns how many were removed. Call it only where no
    other process is writing the same outputs."""
    n = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for p in folder.glob(pattern):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


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


def load_plugin(module: str) -> Any:
    """Import a user's ``module`` (a module name on ``sys.path``, or a ``.py``
    file) so that what it registers (backbones, composite recipes) can be
    used; returns the module. Importing the same module again does not run
    it again (CLI: ``--plugin MODULE``)."""
    path = Path(module)
    if module.endswith(".py") or path.is_file():
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"plugin file {module!r} does not exist")
        key = f"convml_tt_plugin_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        if key in sys.modules:
            return sys.modules[key]
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[key]
            raise
        return mod
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"plugin {module!r} could not be imported ({err}); give a module name on "
                         f"sys.path or the path of a .py file") from None
