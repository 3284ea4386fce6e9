"""The ``convml_tt`` command line: one subcommand per step of the data flow.

    convml_tt synthetic | fetch | composite | triplets | pack | train | embed | model | map | regimes | track | plot | evaluate | demo

Each subcommand is registered by an ``_add_<name>`` function (in
:mod:`.data`, :mod:`.model`, :mod:`.maps`, :mod:`.interpret`) that builds its parser and
points ``func`` at a runner; runners import the heavy modules (torch,
fastai) only when they run, so ``convml_tt --help`` and the data steps stay
fast on nodes without a GPU stack; registries (backbones, recipes, plots,
...) are read only when a choice is checked or help is printed. Plugins
given with ``--plugin`` are imported before the command line is parsed;
a plugin's fault is one line and exit status 2. A new subcommand is one
``_add_<name>`` function listed in :data:`SUBCOMMANDS`.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..registry import PluginError, load_plugins
from ._common import parse_interval, parse_time
from .data import _add_composite, _add_fetch, _add_synthetic, _add_triplets
from .interpret import _add_demo, _add_evaluate, _add_plot
from .maps import _add_map, _add_regimes
from .model import _add_embed, _add_train
from .model_import import _add_model
from .pack import _add_pack
from .track import _add_track

__all__ = ["main", "build_parser", "parse_time", "parse_interval", "SUBCOMMANDS"]


SUBCOMMANDS: list = [
    # [subcommand registry] (in the order of the data flow, as --help lists them)
    _add_synthetic,
    _add_fetch,
    _add_composite,
    _add_triplets,
    _add_pack,
    _add_train,
    _add_embed,
    _add_model,
    _add_map,
    _add_regimes,
    _add_track,
    _add_plot,
    _add_evaluate,
    _add_demo,
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
    """Run the command line; returns the exit status (0 done, 1 an error, 2 a
    malformed option or a plugin's fault, 130 interrupted by Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    # the library's warnings (e.g. a cached scene skipped for a missing band, a broken plugin
    # package), one line each, also those of parsing (registries read for choices and listings)
    library_log = logging.getLogger("convml_tt")
    lines = _WarningLines(command or "")
    library_log.addHandler(lines)
    try:
        parser = build_parser()
        try:
            # plugins register before anything is parsed: choices, listings and help include theirs
            load_plugins(_plugins_in(argv))
            args = parser.parse_args(argv)
        except PluginError as err:
            print(f"convml_tt{' ' + command if command else ''}: error: {_one_line(err)}", file=sys.stderr)
            return 2
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        command = args.command
        try:
            return int(args.func(args) or 0)
        except PluginError as err:
            # a plugin's fault (a recipe's combine, a backbone's factory, ...), naming the plugin
            print(f"convml_tt {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2
        except (ValueError, OSError, RuntimeError) as err:
            # library errors already name the input and what would be right; the
            # operating system's (a read-only or full disk, a folder where a file
            # should be) name the path
            print(f"convml_tt {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        # Ctrl-C: the step has stopped its workers, and every output is whole or absent (atomic
        # writes); one line, and the status a shell gives a process ended by SIGINT
        again = ("the epoch checkpoints written are kept: continue with --resume CHECKPOINT (e.g. "
                 "MODEL.checkpoints/last.pt)" if command == "train"
                 else "complete outputs are kept: run the same command again to resume")
        print(f"convml_tt{' ' + command if command else ''}: interrupted (Ctrl-C); {again}", file=sys.stderr)
        return 130
    finally:
        library_log.removeHandler(lines)


def _plugins_in(argv: list[str]) -> list[str]:
    """The ``--plugin`` values of a command line (``--plugin X``, ``--plugin=X``)."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    pre.add_argument("--plugin", action="append", default=[])
    try:
        return pre.parse_known_args(argv)[0].plugin
    except argparse.ArgumentError:  # e.g. --plugin without a value: the command's parser says so
        return []


class _WarningLines(logging.Handler):
    """Prints each warning the library logs as one line on (the current) stderr."""

    def __init__(self, command: str):
        super().__init__(logging.WARNING)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        print(f"convml_tt{' ' + self.command if self.command else ''}: warning: {text}", file=sys.stderr)


def _one_line(err: BaseException) -> str:
    """The error as one line (OS errors with their path)."""
    if isinstance(err, OSError) and err.filename and str(err.filename) not in str(err):
        return f"{err.strerror or err}: {err.filename}"
    text = " ".join(str(err).split()) or type(err).__name__
    return text


if __name__ == "__main__":
    raise SystemExit(main())
