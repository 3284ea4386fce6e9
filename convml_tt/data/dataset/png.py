"""A lean PNG encoder for 8-bit tiles (no row filter, fast zlib level).

Any PNG reader (Pillow, torchvision) reads what it writes; on cloud tiles
the files are within a few per cent of Pillow's adaptive filtering at the
same zlib level, and encoding is about twice as fast.
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..._io import write_bytes

__all__ = ["png_bytes", "write_png"]


#: PNG colour types of 2, 3 and 4 channels: grey + alpha, RGB, RGB + alpha
_COLOR_TYPES = {2: 4, 3: 2, 4: 6}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def png_bytes(img: np.ndarray, level: int = 1) -> bytes:
    """An 8-bit image ``(H, W)`` or ``(H, W, 1)`` (grey, PNG colour type L),
    ``(H, W, 2)`` (LA), ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA) as PNG
    bytes (filter type None on every row, zlib ``level``)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"PNG tiles must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        color = 0
    elif a.ndim == 3 and a.shape[2] in _COLOR_TYPES:
        color = _COLOR_TYPES[a.shape[2]]
    else:
        raise ValueError(f"PNG tiles must be (H, W) or (H, W, C) with C = 1, 2, 3 or 4 channels (L, LA, RGB, "
                         f"RGBA), got shape {a.shape}")
    h, w = a.shape[:2]
    raw = np.empty((h, 1 + a[0].size), np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    if a.flags.c_contiguous or a.ndim == 2:
        raw[:, 1:] = a.reshape(h, -1)
    else:  # e.g. channel-first memory: interleave channel by channel (faster than a reshape copy)
        body = raw[:, 1:].reshape(h, w, a.shape[2])
        for k in range(a.shape[2]):
            body[:, :, k] = a[:, :, k]
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(raw.data, level)),
        _chunk(b"IEND", b""),
    ))


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an 8-bit tile as PNG (atomically)."""
    write_bytes(path, png_bytes(img), mkdir=False)
