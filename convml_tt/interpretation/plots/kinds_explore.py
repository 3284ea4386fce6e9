"""The exploring kinds of ``convml_tt plot``: ``interactive`` (a standalone
HTML scatter, :mod:`convml_tt.interpretation.interactive`) and ``projector``
(a folder for TensorBoard's projector, :mod:`convml_tt.interpretation.projector`).

Their ``draw`` returns an object with ``save(out)`` instead of a figure; the
CLI calls it with ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..projections import PROJECTIONS
from .kinds import PlotKind, register_plot


class Export:
    """What ``draw`` returns for a kind that writes files: ``save(out)`` runs ``write(out)``."""

    def __init__(self, write: Callable[[Path], object]) -> None:
        self.write = write

    def save(self, out: str | Path) -> Path:
        self.write(Path(out))
        return Path(out)


def _interactive_args(q: argparse.ArgumentParser) -> None:
    g = q.add_mutually_exclusive_group()
    g.add_argument("--dims", type=int, nargs=2, metavar=("DX", "DY"), default=None,
                   help="two embedding dimensions instead of a projection")
    g.add_argument("--method", "--projection", dest="method", choices=list(PROJECTIONS), default="pca",
                   help="2-D projection (default pca; umap needs the explore extra)")
    q.add_argument("--color-by", default=None,
                   help="coordinate the points are coloured by when the page opens (default: regime if known)")
    q.add_argument("--thumb-px", type=int, default=64, help="pixels a side of the hover thumbnails (default 64)")
    q.add_argument("--no-images", action="store_true", help="no thumbnails (no dataset needed)")


def _interactive(da, args):
    from ..interactive import interactive_scatter

    page = interactive_scatter(da, method=None if args.dims else args.method, dims=args.dims,
                               color_by=args.color_by, dataset_path=args.dataset_path, thumb_px=args.thumb_px,
                               images=not args.no_images, title=args.title)
    return page


def _projector_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--sprite-px", type=int, default=None,
                   help="pixels a side of each tile in the sprite (default: the tile size, at most 8192/columns)")
    q.add_argument("--no-images", action="store_true", help="no sprite (no dataset needed)")


def _projector(da, args):
    from ..projector import export_projector

    return Export(lambda out: export_projector(da, out, dataset_path=args.dataset_path, sprite_px=args.sprite_px,
                                               images=not args.no_images))


register_plot("interactive", PlotKind("standalone HTML scatter (--out x.html): hover shows the tile, its time, place "
                                      "and indices; click selects; colour by any coordinate", "embeddings",
                                      _interactive, _interactive_args))
register_plot("projector", PlotKind("folder (--out DIR) for TensorBoard's projector: tensors.tsv, metadata.tsv, "
                                    "sprite.png, projector_config.pbtxt (tensorboard --logdir DIR)", "embeddings",
                                    _projector, _projector_args))
