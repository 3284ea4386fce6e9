"""The ``pack`` subcommand (a triplet dataset from PNG folder to packed shards, or back) and the
``--format``/``--shard-size`` and ``--verify`` reporting of ``triplets``."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import whole

#: the layouts of a triplet dataset (convml_tt.data.dataset.packed.LAYOUTS, without importing numpy here)
FORMATS = ("png", "packed")


def add_layout(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--format`` and ``--shard-size`` of a command that writes a triplet dataset."""
    p.add_argument("--format", choices=FORMATS, default=default,
                   help="png: a PNG per tile, the exchange format; packed: uint8 shards that training loaders "
                        "memory-map without decoding (for feeding a GPU)" + (
                            f" (default {default})" if default else
                            " (default: the layout of the dataset in --out, else png)"))
    p.add_argument("--shard-size", type=whole(1), default=None, metavar="N",
                   help="triplets per shard of a packed dataset (default 256: 151 MB of 256 px RGB tiles)")


def _add_pack(sub) -> None:
    p = sub.add_parser(
        "pack",
        help="convert a triplet dataset from its PNG folder to packed uint8 shards (or back with --format png)",
        description="Write the triplet dataset DATASET into --out in the other layout: packed shards that "
                    "training loaders memory-map (no PNG decoding), or, with --format png, PNG tiles again. "
                    "Tiles and metadata are copied unchanged; DATASET stays as it is.",
    )
    p.add_argument("dataset", type=Path, metavar="DATASET", help="the triplet dataset folder to convert")
    p.add_argument("--out", type=Path, required=True,
                   help="folder of the converted dataset (new or empty; a stopped conversion resumes)")
    add_layout(p, default="packed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_pack)


def _run_pack(args) -> int:
    from ..data.dataset.convert import convert_dataset

    if not args.dataset.is_dir():
        raise ValueError(f"dataset folder {str(args.dataset)!r} does not exist; give a folder written by "
                         f"`convml_tt triplets`")
    print(convert_dataset(args.dataset, args.out, args.format, args.shard_size, progress=not args.quiet))
    return 0


def verify_lines(dataset: Path, progress: bool = True) -> list[str]:
    """``triplets --verify``: check every triplet of ``dataset``, remove the damaged
    ones (in a packed dataset: their shards) and say so, one line per damaged PNG
    triplet or per damaged shard, and a summary line."""
    from ..data.dataset.format import STAGES, verify_dataset
    from ..data.dataset.packed import is_packed_stage

    packed = {s: is_packed_stage(dataset / s) for s in STAGES}
    report = verify_dataset(dataset, repair=True, progress=progress)
    lines = []
    for stage, bad in report.items():
        by_reason: dict[str, list[int]] = {}
        for i, reason in sorted(bad.items()):
            by_reason.setdefault(reason, []).append(i)
        done = "its shard removed, to be written again" if packed[stage] else "removed, to be written again"
        for reason, ids in by_reason.items():
            which = (f"triplet {ids[0]}" if len(ids) == 1 else
                     f"triplets {ids[0]}-{ids[-1]} ({len(ids)})" if ids[-1] - ids[0] == len(ids) - 1 else
                     f"triplets {', '.join(map(str, ids))}")
            lines.append(f"damaged {stage} {which}: {reason}; {done}")
    n_bad = sum(map(len, report.values()))
    lines.append(f"verified {dataset}: {n_bad} damaged triplet(s)" + (" rewritten" if n_bad else ""))
    return lines
