"""The ``convml_tt`` command line: one subcommand per step of the data flow.

    convml_tt synthetic | fetch | composite | triplets | train | embed | plot | evaluate | demo

Each subcommand is registered by an ``_add_<name>`` function below that
builds its parser and points ``func`` at a runner; runners import the heavy
modules (torch, fastai) only when they run, so ``convml_tt --help`` and the
data steps stay fast on nodes without a GPU stack.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from . import __version__


def parse_time(text: str) -> dt.datetime:
    """Parse an ISO 8601 time (``2020-01-02T14:00``, UTC, naive)."""
    try:
        t = dt.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"time {text!r} is not ISO 8601, e.g. 2020-01-02T14:00"
        ) from None
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def parse_interval(text: str) -> dt.timedelta:
    """Parse an interval such as ``1D``, ``6h``, ``30min``, ``90s``."""
    import pandas as pd

    try:
        return pd.Timedelta(text).to_pytimedelta()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"interval {text!r} is not understood; use e.g. 1D, 6h, 30min"
        ) from None


def _common(p: argparse.ArgumentParser, data_root: bool = True) -> None:
    if data_root:
        p.add_argument(
            "--data-root",
            type=Path,
            default=Path("data"),
            help="root of the source cache and composites (default: ./data)",
        )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


# --- subcommands (each helper function registers one) -----------------------
# [subcommand definitions]


SUBCOMMANDS: list = [
    # [subcommand registry]
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convml_tt",
        description="Unsupervised learning of cloud organisation from GOES ABI imagery.",
    )
    parser.add_argument("--version", action="version", version=f"convml_tt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, RuntimeError) as err:
        # library errors already name the input and what would be right
        print(f"convml_tt {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
