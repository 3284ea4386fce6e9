"""Embeddings for TensorBoard's Embedding Projector.

:func:`export_projector` writes, into a folder, what the projector plugin
reads (``tensorboard --logdir FOLDER``, then the PROJECTOR tab):

* ``tensors.tsv``: one line per tile, the ``emb_dim`` values tab-separated;
* ``metadata.tsv``: a header row (``tile_id``, then every per-tile coordinate:
  ``time`` in ISO UTC, ``lat``/``lon`` in degrees, regime, organisation
  indices, field statistics ...) and one row per tile, in the same order;
* ``sprite.png``: the tiles as one image, a grid of ``ceil(sqrt(n))`` columns,
  row by row in the same order, each tile ``sprite_px`` pixels square;
* ``projector_config.pbtxt``: the ``ProjectorConfig`` text naming the three
  (paths relative to the folder, so the folder can be moved).

No TensorFlow or TensorBoard is needed to write it. Each file is written
atomically and the config last, so an interrupted export is never taken for
a finished one.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_path, write_text
from .interactive import thumbnail_image, tile_fields
from .plots._common import TileImages, check_tiles_array

__all__ = ["export_projector", "SPRITE_MAX_PX", "PROJECTOR_FILES"]

#: TensorBoard refuses sprites larger than this many pixels a side
SPRITE_MAX_PX = 8192
#: the files an export writes
PROJECTOR_FILES = ("tensors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt")


def _cell(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "number" and isinstance(value, float):
        return f"{value:.6g}"
    # a tab or newline would shift the columns or rows
    return " ".join(str(value).split())


def _sprite(da: xr.DataArray, dataset_path, sprite_px: int | None):
    """The tiles of ``da`` as one sprite (PIL RGB image) and the tile size in it."""
    from PIL import Image

    read = TileImages(da, dataset_path)
    ids = [int(t) for t in da.tile_id.values]
    cols = math.ceil(math.sqrt(len(ids)))
    largest = SPRITE_MAX_PX // cols
    first = read(ids[0])
    px = int(sprite_px) if sprite_px is not None else min(max(first.shape[:2]), largest)
    if not 1 <= px <= largest:
        raise ValueError(f"sprite_px {px} does not fit: {len(ids)} tiles in {cols} columns of a sprite at most "
                         f"{SPRITE_MAX_PX} px wide leave at most {largest} px per tile")
    rows = math.ceil(len(ids) / cols)
    sheet = Image.new("RGB", (cols * px, rows * px), (0, 0, 0))
    for k, t in enumerate(ids):
        im = thumbnail_image(first if k == 0 else read(t), px).convert("RGB")
        if im.size != (px, px):
            im = im.resize((px, px), Image.Resampling.BOX)
        sheet.paste(im, ((k % cols) * px, (k // cols) * px))
    return sheet, px


def export_projector(
    da: xr.DataArray,
    out_dir: str | Path,
    dataset_path: str | Path | None = None,
    sprite_px: int | None = None,
    images: bool = True,
    tensor_name: str = "embedding",
) -> Path:
    """Write embeddings ``da`` (tile_id, emb_dim) for TensorBoard's projector
    into ``out_dir`` (made if missing; existing files of the same names are
    replaced). Returns ``out_dir``.

    ``sprite_px``: pixels a side of each tile in the sprite (default: the
    tile size, or less where the sprite would exceed 8192 px); ``images``:
    False writes no sprite (no dataset needed); ``dataset_path``: where the
    tile images are when the ``dataset_path`` attribute is out of date.
    """
    da = check_tiles_array(da, "export_projector")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{str(out)!r} is a file; the projector export is a folder (give a folder name)")
    x = np.asarray(da.values, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("the embeddings hold NaN or infinite values; TensorBoard's projector cannot show them")
    sheet = _sprite(da, dataset_path, sprite_px) if images else None  # before writing anything
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "tensors.tsv", "".join("\t".join(f"{v:.7g}" for v in row) + "\n" for row in x))
    fields = tile_fields(da)
    header = "\t".join(["tile_id"] + [f["name"] for f in fields]) + "\n"
    lines = ["\t".join([str(int(t))] + [_cell(f["values"][i], f["kind"]) for f in fields]) + "\n"
             for i, t in enumerate(da.tile_id.values)]
    write_text(out / "metadata.tsv", header + "".join(lines))
    config = [f'embeddings {{\n  tensor_name: "{tensor_name}"\n  tensor_path: "tensors.tsv"\n'
              f'  metadata_path: "metadata.tsv"\n']
    if sheet is not None:
        image, px = sheet
        with atomic_path(out / "sprite.png") as tmp:
            image.save(tmp, format="PNG")
        config.append(f'  sprite {{\n    image_path: "sprite.png"\n    single_image_dim: {px}\n'
                      f'    single_image_dim: {px}\n  }}\n')
    config.append("}\n")
    write_text(out / "projector_config.pbtxt", "".join(config))
    return out
