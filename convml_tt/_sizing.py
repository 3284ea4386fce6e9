"""Sizing a request before any work is done: how many tiles, how much memory, how much disk.

The steps that can be asked for more than a machine or a lifetime holds (a
map with a stride of a few metres, a dataset of huge tiles) estimate their
request first and call :func:`check_request`, which

* refuses, whatever ``force`` says, a request whose memory estimate is above
  this machine's physical memory (it would fail with an out-of-memory error
  after allocating);
* refuses, unless ``force``, a request above a sane bound: more than
  :data:`MAX_TILES` tiles, more memory than :func:`memory_bound` (half the
  physical memory), more disk than :data:`MAX_DISK_BYTES` or than is free
  where the output goes.

Either way it is one line naming the sizes in their units and what to do
(``--force``, or a smaller request). Imports nothing of convml_tt.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["RequestTooLarge", "check_request", "physical_memory", "memory_bound", "free_disk", "human_bytes",
           "human_count", "MAX_TILES", "MAX_DISK_BYTES"]

#: tiles one run may cut without --force (about a day of CPU time at a few ms a tile)
MAX_TILES = 10_000_000
#: bytes one run may write without --force
MAX_DISK_BYTES = 100 * 2**30
#: memory assumed where the machine does not say, bytes
_UNKNOWN_MEMORY = 16 * 2**30


class RequestTooLarge(ValueError):
    """A request above a bound (see :func:`check_request`); a ``ValueError``."""


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None when it does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_bound() -> int:
    """Memory one run may use without ``force``: half the physical memory, bytes."""
    return (physical_memory() or _UNKNOWN_MEMORY) // 2


def free_disk(path: str | os.PathLike) -> int | None:
    """Bytes free on the file system of ``path`` (or of its nearest existing
    parent); None when it cannot be told."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return int(shutil.disk_usage(p).free)
    except OSError:
        return None


def human_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``512 B``, ``3.0 KiB`` ... ``2.19 TiB``, ``1.5 PiB``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover - the loop returns


def human_count(n: float) -> str:
    """A count in words: ``950``, ``12,500``, ``63 million``, ``41.6 billion``, ``2.5e+13``."""
    n = int(n)
    if n < 1_000_000:
        return f"{n:,}"
    if n < 10**9:
        return f"{n / 1e6:.3g} million"
    if n < 10**12:
        return f"{n / 1e9:.3g} billion"
    return f"{n:.3g}"


def check_request(what: str, *, tiles: int | None = None, tiles_detail: str = "", memory: int | None = None,
                  memory_detail: str = "", disk: int | None = None, disk_path: str | os.PathLike | None = None,
                  force: bool = False, smaller: str = "a smaller request") -> None:
    """Refuse ``what`` (e.g. "the map") when it is too large (see the module
    docstring): ``tiles`` to cut, ``memory`` bytes at once, ``disk`` bytes
    written at ``disk_path``; ``*_detail`` say how they come about, e.g.
    ``"7,937 x 7,937 cells x 1 scene"``; ``smaller`` says how to ask for less.
    Raises :class:`RequestTooLarge` (a ``ValueError``) with one line."""
    sizes = []
    if tiles is not None:
        sizes.append(f"{human_count(tiles)} tiles" + (f" ({tiles_detail})" if tiles_detail else ""))
    if memory is not None:
        sizes.append(f"about {human_bytes(memory)} of memory" + (f" ({memory_detail})" if memory_detail else ""))
    if disk is not None:
        sizes.append(f"about {human_bytes(disk)} on disk")
    size = ", ".join(sizes)
    phys = physical_memory()
    if memory is not None and phys is not None and memory > phys:
        raise RequestTooLarge(f"{what} needs {size}: more memory than this machine has ({human_bytes(phys)}); "
                              f"ask for {smaller}")
    if force:
        return
    over = []
    if tiles is not None and tiles > MAX_TILES:
        over.append(f"{human_count(MAX_TILES)} tiles")
    if memory is not None and memory > memory_bound():
        over.append(f"{human_bytes(memory_bound())} of memory (half of this machine's)")
    if disk is not None:
        free = free_disk(disk_path) if disk_path is not None else None
        if disk > MAX_DISK_BYTES:
            over.append(f"{human_bytes(MAX_DISK_BYTES)} on disk")
        if free is not None and disk > free:
            over.append(f"the {human_bytes(free)} free at {disk_path}")
    if over:
        raise RequestTooLarge(f"{what} is large: {size}, above {' and '.join(over)}; give --force (force=True) "
                              f"to go ahead, or ask for {smaller}")
