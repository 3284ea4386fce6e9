"""Argument types and options shared by the subcommands."""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

__all__ = ["parse_time", "parse_interval", "add_common", "add_domain_and_times", "add_compute", "whole", "positive",
           "number_in", "satellite_number", "platform_name", "tolerance_minutes", "fraction_below_one", "add_sources",
           "sources_of", "add_plugin", "registered", "RegistryChoices", "LazyHelpFormatter", "LazySubParsers",
           "add_labels"]


def whole(least: int):
    """An argparse type: a whole number >= ``least``, else an error naming the range."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (use one >= {least})") from None
        if v < least:
            raise argparse.ArgumentTypeError(f"{v} is out of range: use a whole number >= {least}")
        return v

    parse.__name__ = f"whole number >= {least}"
    return parse


def number_in(high: float = float("inf"), unit: str = ""):
    """An argparse type: a finite number ``v`` with ``0 < v <= high`` (in
    ``unit``), else an error naming the range."""
    import math

    rng = f"0 < {unit or 'v'} <= {high:g}" if math.isfinite(high) else "a number > 0"
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{' of ' + unit if unit else ''} "
                                             f"(use {rng})") from None
        if not (math.isfinite(v) and 0 < v <= high):
            raise argparse.ArgumentTypeError(f"{text}{suffix} is out of range: use {rng}")
        return v

    parse.__name__ = rng
    return parse


def fraction_below_one(text: str) -> float:
    """An argparse type: a fraction ``0 <= f < 1``, else an error naming the range."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use a fraction 0 <= F < 1)") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: use a fraction 0 <= F < 1")
    return v


#: a positive finite number (tile sizes, strides, resolutions)
positive = number_in()
#: minutes from local noon: 0 < minutes <= 720 (at most half a day either side of noon)
tolerance_minutes = number_in(720.0, "minutes")


def satellite_number(text: str) -> int:
    """An argparse type: a GOES-R satellite number 16-19, else an error naming them."""
    try:
        v = int(text)
    except ValueError:
        v = None
    if v not in (16, 17, 18, 19):
        raise argparse.ArgumentTypeError(f"{text!r} is not a GOES-R satellite: use 16, 17, 18 or 19")
    return v


def platform_name(text: str) -> int | str:
    """An argparse type: a platform, as a GOES-R satellite number 16-19
    (``16``, ``G16``, ``goes16``) or another platform id (``himawari9``),
    else an error naming the choices."""
    from ..config import _satellite

    try:
        return _satellite(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a GOES-R satellite: use 16, 17, 18 or 19 (or a "
                                         f"platform id such as himawari9)") from None


def add_sources(p: argparse.ArgumentParser) -> None:
    """The options that say where a step's scenes come from: ``--input``
    (your own files in any layout), ``--source``, ``--product``,
    ``--sector``, ``--quality``."""
    from ..config import QUALITY_POLICIES

    g = p.add_argument_group("scenes", "where the scenes come from (default: the source cache "
                                       "{data_root}/sources, in any layout below it)")
    g.add_argument("--input", dest="inputs", action="append", default=None, metavar="DIR|GLOB|FILE",
                   help="your own files instead of the source cache: a folder (searched in any layout), a "
                        "quoted glob pattern ('data/**/*.nc') or a file; may be repeated")
    g.add_argument("--source", default=None, metavar="NAME", type=_source_name,
                   help="read the files with this source (default: the one that recognises them); "
                        "registered: " + ", ".join(_sources()))
    g.add_argument("--product", default=None, metavar="NAME",
                   help="only scenes of this product, e.g. Rad (ABI L1b) or CMIP (ABI L2)")
    g.add_argument("--sector", default=None, metavar="NAME",
                   help="only scenes of this sector, e.g. F, C, M1, M2 (mesoscale sectors move from day to day: "
                        "scenes whose sector does not cover the domain are skipped and reported)")
    g.add_argument("--quality", choices=QUALITY_POLICIES, default="keep-saturated",
                   help="pixels the producer flagged: keep-saturated (default, as satpy: saturated pixels keep "
                        "their value), strict (NaN), all (every pixel with a value)")


def _sources() -> list[str]:
    from ..data.sources import list_sources

    return list_sources()


def _source_name(text: str) -> str:
    if text.strip().lower() not in _sources():
        raise argparse.ArgumentTypeError(f"unknown source {text!r}; registered: {', '.join(_sources())}")
    return text.strip().lower()


def source_recipe(args) -> None:
    """``--recipe VARIABLE`` (and ``--fields VARIABLE,...``) with ``--source
    gridded`` (whose bands are the variables of the files) is the field
    recipe ``gridded.VARIABLE``
    (:func:`~convml_tt.data.composites.recipes.field_recipe`) unless a
    recipe of gridded bands is registered under that name; ``args`` is
    changed in place."""
    source = getattr(args, "source", None)
    if not source:
        return
    from ..data.composites.recipes import FIELD_PREFIX, get_recipe
    from ..data.sources import get_source

    if get_source(source).sensor != "gridded":
        return

    def field(name: str) -> str:
        if name.startswith(FIELD_PREFIX):
            return name
        try:
            return name if get_recipe(name).sensor == "gridded" else FIELD_PREFIX + name
        except ValueError:
            return FIELD_PREFIX + name

    if getattr(args, "recipe", None):
        args.recipe = field(str(args.recipe))
    if getattr(args, "fields", None):  # --fields lwp,iwp: co-located variables of the same files
        args.fields = ",".join(field(f.strip()) for f in str(args.fields).split(",") if f.strip())


def sources_of(args) -> dict:
    """The ``sources=`` keywords of :func:`~convml_tt.data.dataset.make_triplets`
    (and of ``make_composites``) from the options of :func:`add_sources`."""
    return {k: getattr(args, k, None) for k in ("inputs", "source", "product", "sector", "quality")}


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


def add_common(p: argparse.ArgumentParser, data_root: bool = True) -> None:
    if data_root:
        p.add_argument(
            "--data-root",
            type=Path,
            default=Path("data"),
            help="root of the source cache and composites (default: ./data)",
        )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_compute(p: argparse.ArgumentParser, what: str) -> None:
    """``--workers K`` (local processes) and ``--scheduler ADDRESS`` (a dask
    cluster) for the tasks of a step (``what``: e.g. "scenes"); checked
    together by :func:`convml_tt.compute.compute_settings` (not both)."""
    p.add_argument("--workers", type=whole(1), default=None, metavar="K",
                   help=f"local worker processes for the {what} (default 1: in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"run the {what} on a dask cluster: its scheduler's address (tcp://host:8786) or "
                        f"scheduler file (JSON); data root and outputs must be on storage the workers share "
                        f"(docs/cluster.md)")


def add_domain_and_times(p: argparse.ArgumentParser) -> None:
    """``--domain`` (required) and the optional ``--start``/``--end`` scan times."""
    p.add_argument("--domain", nargs=4, type=float, required=True,
                   metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"), help="degrees")
    p.add_argument("--start", type=parse_time, default=None, help="first scan start (ISO 8601, UTC)")
    p.add_argument("--end", type=parse_time, default=None, help="last scan start (ISO 8601, UTC)")


# -----------------------------------------------------------------------------
# registries: choices, listings and plugins, read when needed (not when the parser is built)
# -----------------------------------------------------------------------------
def add_plugin(p: argparse.ArgumentParser, what: str = "registers recipes, backbones, ...") -> None:
    """``--plugin FILE|MODULE`` (repeatable). The CLI imports every plugin of
    the command line before it parses it (:func:`convml_tt.cli.main`), so
    choices, listings and help include what they register."""
    p.add_argument("--plugin", action="append", default=[], metavar="FILE|MODULE",
                   help=f"import a .py file or a module first, one that {what} (repeatable); packages "
                        f"declaring convml_tt entry points need no flag")


class RegistryChoices:
    """``choices=`` of an option naming an entry of the ``kind`` registry
    (plus ``extra`` names): argparse reads it when it checks a value or
    prints help, so the registry's module (torch for backbones) and plugins
    are imported then, not when the parser is built. Give such an option a
    ``metavar`` (argparse would otherwise list the choices while building)."""

    def __init__(self, kind: str, extra: tuple[str, ...] = ()) -> None:
        self.kind, self.extra = kind, tuple(extra)

    def _registry(self):
        from ..registry import registry

        return registry(self.kind)

    def __contains__(self, value) -> bool:
        return value in self.extra or value in self._registry()

    def __iter__(self):
        return iter([*self._registry().names(), *self.extra])


def registered(kind: str, extra: tuple[str, ...] = ()):
    """An argparse type: the registered name of an entry of ``kind`` (any
    case, or an alias) or one of ``extra``; else the registry's error,
    which lists what exists."""

    def parse(text: str) -> str:
        if text in extra:
            return text
        from ..registry import registry

        try:
            return registry(kind).canonical(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = f"name of the {kind} registry"
    return parse


class LazyHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Takes a description or epilog that is a function of no arguments (a
    listing of a registry), called only when help is printed."""

    def add_text(self, text) -> None:
        super().add_text(text() if callable(text) else text)


class _LazyParsers(dict):
    """The subparsers of a :class:`LazySubParsers`, made on first use."""

    def __init__(self, fill) -> None:
        super().__init__()
        self._fill = fill

    def ready(self) -> "_LazyParsers":
        fill, self._fill = self._fill, None
        if fill is not None:
            fill()
        return self

    def __contains__(self, key) -> bool:
        return dict.__contains__(self.ready(), key)

    def __getitem__(self, key):
        return dict.__getitem__(self.ready(), key)

    def __iter__(self):
        return dict.__iter__(self.ready())

    def __len__(self) -> int:
        return dict.__len__(self.ready())

    def keys(self):
        return dict.keys(self.ready())


class LazySubParsers(argparse._SubParsersAction):
    """Subcommands made by ``fill(action)`` (e.g. one per entry of a registry)
    when argparse first needs them (a command line naming one, help), not
    when the parser is built: ``p.add_subparsers(action=LazySubParsers, fill=...)``."""

    def __init__(self, *args, fill, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _LazyParsers(lambda: fill(self))

    def _get_subactions(self):
        self._name_parser_map.ready()
        return super()._get_subactions()


class _LabelerChoices(RegistryChoices):
    """The labelers' names, and any ``NAME:ARG`` of a registered ``NAME``."""

    def __contains__(self, value) -> bool:
        return super().__contains__(str(value).partition(":")[0])


def _labeler_spec(text: str) -> str:
    """An argparse type: ``none``, a labeler ``NAME`` or ``NAME:ARG`` (:func:`convml_tt.data.labels.labeler_spec`)."""
    if text == "none":
        return text
    from ..data.labels import labeler_spec

    try:
        name, arg = labeler_spec(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name if arg is None else f"{name}:{arg}"


def add_labels(p: argparse.ArgumentParser, what: str) -> None:
    """``--labels NAME[:ARG]|none``: a labeler of the registry (default ``none``: no labeler unless one is named)."""
    p.add_argument("--labels", type=_labeler_spec, choices=_LabelerChoices("labelers", ("none",)),
                   default="none", metavar="NAME[:ARG]",
                   help=f"what to store about {what}: a labeler of the registry (%(choices)s) or 'none' "
                        f"(default: no labels); 'synthetic': the true regime of scenes written by `convml_tt "
                        f"synthetic` (refused for other scenes); 'human:FILE': the human classification "
                        f"(plain boxes, Zooniverse or C3ONTEXT file) at the tile's centre, from the label "
                        f"times whose nearest scan within 3 h is the tile's (a file matching no scene is refused)")


def add_env(p) -> None:
    """``--env NAME[,NAME...]``, ``--env-files PATTERN...``, ``--env-time``,
    ``--env-tolerance-h``: environment fields (:mod:`convml_tt.data.fields`)
    stored per tile (their settings' names, see ``TripletSettings``)."""
    p.add_argument("--env", default=None, metavar="NAME[,NAME...]",
                   help="environment fields stored per tile (mean and spread over the tile at the scan time): "
                        "names of the field registry, e.g. EIS,WS10 (built in: LTS, EIS, RH700, WS10, OMEGA500, "
                        "SST)")
    p.add_argument("--env-files", nargs="+", default=None, metavar="PATTERN",
                   help="ERA5 netCDF files from the CDS (single and pressure levels) the --env fields are read "
                        "from, paths or quoted glob patterns, e.g. 'era5/*.nc'")
    p.add_argument("--env-time", choices=("nearest", "linear"), default=None,
                   help="field time used for a scan: the nearest within --env-tolerance-h (default), or "
                        "linear interpolation in time")
    p.add_argument("--env-tolerance-h", type=float, default=None, metavar="H",
                   help="largest scan - field time distance with --env-time nearest, hours (default 1)")
