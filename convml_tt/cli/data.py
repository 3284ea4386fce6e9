"""Subcommands of the data steps: synthetic, fetch, composite, triplets."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from ..config import DEFAULT_TILE_PIXELS, DEFAULT_TILE_SIZE_M
from pathlib import Path

from .pack import add_layout, verify_lines
from ._common import (LazyHelpFormatter, add_common, add_compute, add_domain_and_times, add_env, add_labels, add_plugin,
                      add_sources, fraction_below_one, number_in, parse_interval, parse_time, platform_name,
                      satellite_number, source_recipe, sources_of, tolerance_minutes, whole)
from ._indices import add_index_options


def _add_synthetic(sub) -> None:
    p = sub.add_parser(
        "synthetic",
        help="write synthetic GOES ABI L1b scenes (bands 1-3) with known cloud regimes",
        description=(
            "Write synthetic ABI L1b band 1-3 files of a mesoscale-sized sector into the "
            "source cache ({data_root}/sources/goesNN/{key}, exactly where fetched files go), "
            "plus a regime label map beside each scene. See docs/synthetic.md."
        ),
    )
    add_common(p)
    p.add_argument("--start", type=parse_time, default=parse_time("2020-01-02T14:00"),
                   help="scan start of the first scene, UTC (ISO 8601; default 2020-01-02T14:00)")
    p.add_argument("--count", type=whole(1), default=6, help="number of scenes (default 6)")
    p.add_argument("--interval", type=parse_interval, default=parse_interval("1D"),
                   help="time between scenes, e.g. 1D, 6h, 30min (default 1D)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--center", type=float, nargs=2, metavar=("LAT", "LON"), default=(15.0, -50.0),
                   help="sector centre in degrees (default 15 -50)")
    p.add_argument("--size-km", type=float, default=1000.0,
                   help="side of the square sector in km (default 1000, a mesoscale sector)")
    p.add_argument("--region-km", type=float, default=None,
                   help="size of the regime regions in km (default size-km / 2.85)")
    p.add_argument("--variability", type=float, default=1.0,
                   help="day-to-day variability of cloud size, fraction and brightness: "
                        "0 (none) to 2 (default 1)")
    p.add_argument("--satellite", type=satellite_number, default=16, help="GOES satellite 16-19 (default 16)")
    p.add_argument("--sector", default="M1", help="sector in the file names: M1 (default), M2, C or F")
    p.add_argument("--bands", type=int, nargs="+", default=[1, 2, 3], help="bands (default 1 2 3)")
    p.add_argument("--held-out", nargs="+", default=[], metavar="REGIME",
                   help="regimes that do not occur in these scenes (their regions take the next regime), e.g. "
                        "fish: scenes to fit regimes on, beside scenes with every regime to map")
    p.add_argument("--workers", type=whole(1), default=None, metavar="K",
                   help="processes writing scenes side by side (default: this process; the same files either way)")
    p.set_defaults(func=_run_synthetic)


def _run_synthetic(args) -> int:
    from ..config import SceneSettings, settings_from
    from ..data.synthetic import write_synthetic_scenes

    settings = settings_from(SceneSettings, args)
    scenes = write_synthetic_scenes(args.data_root, settings=settings, progress=not args.quiet,
                                    held_out=args.held_out, workers=args.workers)
    for scene in scenes:
        for band in sorted(scene.files):
            print(scene.files[band])
        print(scene.labels)
    print(f"wrote {len(scenes)} synthetic scene(s) under {args.data_root}; their true regimes reach tiles and maps "
          f"with `convml_tt triplets/map --labels synthetic`")
    return 0


def _add_fetch(sub) -> None:
    p = sub.add_parser(
        "fetch",
        help="find GOES ABI scenes in a NOAA bucket and download them into the cache",
        description=(
            "List the GOES ABI files of the requested bands between --start and --end "
            "(or the scene nearest local solar noon each day) and download them into "
            "{data_root}/sources/goesNN/{key}. Files already cached are not fetched again; "
            "--offline answers from the cache alone."
        ),
    )
    add_common(p)
    p.add_argument("--satellite", type=satellite_number, default=16,
                   help="GOES satellite 16, 17, 18 or 19 (default 16)")
    p.add_argument("--product", default="Rad", help="ABI product: Rad (L1b) or an L2 product such as CMIP")
    p.add_argument("--sector", default="F", help="ABI sector: F, C, M1 or M2 (default F)")
    p.add_argument("--bands", type=int, nargs="+", default=[1, 2, 3], help="ABI bands (default 1 2 3)")
    p.add_argument("--start", type=parse_time, required=True, help="first scan start, UTC (ISO 8601)")
    p.add_argument("--end", type=parse_time, required=True, help="last scan start, UTC (ISO 8601)")
    p.add_argument("--near-local-noon", type=float, metavar="LON", default=None,
                   help="keep, each day, the scene nearest local solar noon at LON degrees east")
    p.add_argument("--tolerance", type=tolerance_minutes, default=None, metavar="MINUTES",
                   help="with --near-local-noon, largest distance from noon in minutes, "
                        "0 < MINUTES <= 720 (default 30)")
    p.add_argument("--offline", action="store_true", help="use the local cache only (no network)")
    p.add_argument("--endpoint-url", default=None, help="S3-compatible server instead of AWS")
    p.add_argument("--workers", type=whole(1), default=8, help="concurrent downloads (default 8)")
    p.add_argument("--retries", type=whole(0), default=5, help="retries per request on transient errors")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="read timeout: seconds to wait for the server to answer a request (default 30)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="seconds to wait for a connection to the endpoint (default 10)")
    p.add_argument("--retry-budget", type=float, default=120.0, metavar="SECONDS",
                   help="seconds one request may take, retries included (default 120)")
    p.add_argument("--strict", action="store_true", help="fail if a scan lacks a requested band")
    p.add_argument("--list-only", action="store_true", help="list the scenes, download nothing")
    p.set_defaults(func=_run_fetch)


def _run_fetch(args) -> int:
    from ..data.sources.goes_abi import GOESCatalogue

    cat = GOESCatalogue(
        satellite=args.satellite, product=args.product, sector=args.sector,
        data_root=args.data_root, offline=args.offline, endpoint_url=args.endpoint_url,
        retries=args.retries, max_workers=args.workers, read_timeout=args.timeout,
        connect_timeout=args.connect_timeout, retry_budget=args.retry_budget,
    )
    if args.tolerance is not None and args.near_local_noon is None:
        raise ValueError(f"--tolerance {args.tolerance:g} (minutes from local noon) applies only with "
                         f"--near-local-noon LON; give both, or leave --tolerance out")
    if not args.offline and not args.list_only:
        cat.check_writable()
    res = cat.query(
        args.start, args.end, bands=args.bands, near_local_noon=args.near_local_noon,
        tolerance=dt.timedelta(minutes=30.0 if args.tolerance is None else args.tolerance), strict=args.strict,
    )
    where = f"cache {cat.cache_dir}" if args.offline else f"s3://{cat.bucket}"
    print(
        f"GOES-{cat.satellite} {cat.product}{cat.sector} bands {list(args.bands)}: {len(res)} scene(s) "
        f"from {len(res.folders)} folder(s) of {where}"
    )
    for s in res:
        print(f"  {s.time:%Y-%m-%dT%H:%M:%S}  {len(s.keys)} file(s)  {s.nbytes / 1e6:.1f} MB")
    if res.incomplete:
        print(f"{len(res.incomplete)} scan(s) with missing bands (not downloaded):")
        for line in res.missing_report().splitlines():
            print(f"  {line}")
    if res.days_without_scene:
        print("no scene near local noon on: " + ", ".join(str(d) for d in res.days_without_scene))
    if args.list_only:
        return 0
    got = cat.download(res, max_workers=args.workers, progress=not args.quiet)
    print(f"downloaded {len(got.downloaded)}, cached {len(got.cached)} file(s) in {cat.cache_dir}")
    return 0


def _recipe_lines() -> list[str]:
    """The table of the registered recipes (name, bands, units, description),
    plugins' and entry points' included."""
    from ..data.composites.recipes import list_recipes

    table = [("name", "bands", "units", "description")] + [
        (r.name, ",".join(map(str, r.bands)), r.units, r.description) for r in list_recipes()
    ]
    return [f"{n:<10} {b:<8} {u:<6} {d}".rstrip() for n, b, u, d in table]


class _ListRecipes(argparse.Action):
    """``--list-recipes``: print the table and exit (plugins of the command line are loaded by then)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print("\n".join(_recipe_lines()))
        parser.exit(0)


def _recipe_epilog() -> str:
    return "recipes (--recipe NAME):\n" + "\n".join("  " + line for line in _recipe_lines())


def _add_composite(sub) -> None:
    p = sub.add_parser(
        "composite",
        help="true-colour (or single-band) composites of cached scenes over a lat/lon domain",
        formatter_class=LazyHelpFormatter,
        epilog=_recipe_epilog,
    )
    add_common(p)
    add_domain_and_times(p)
    p.add_argument("--resolution-km", type=float, default=1.0, help="common pixel size, km (0.5, 1, 2)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--recipe", default=None, metavar="NAME",
                       help="what to composite (default: truecolor): a recipe below, an alias (rgb, 13), "
                            "or one a --plugin module registers")
    which.add_argument("--band", type=int, default=None,
                       help="single-band composite of this ABI band, the same as --recipe C{BAND:02d} "
                            "(default: true colour from bands 1-3)")
    p.add_argument("--satellite", "--platform", dest="satellite", type=platform_name, default=None,
                   help="only scenes of this platform: a GOES satellite 16-19 or an id such as himawari9; "
                        "composites are made per platform")
    add_sources(p)
    p.add_argument("--strict", action="store_true",
                   help="fail, before compositing, if a cached scan lacks a band of the recipe "
                        "(default: skip it with a warning)")
    p.add_argument("--sunz", choices=("on", "off"), default=None,
                   help="divide reflective bands (1-6) by the cosine of the solar zenith angle (up to 88 "
                        "degrees, tapered to 0 at 95); default: the recipe's (on for truecolor, off for "
                        "C01-C06)")
    p.add_argument("--list-recipes", action=_ListRecipes,
                   help="print the registered recipes (name, bands, units, description) and exit")
    add_plugin(p, "calls convml_tt.data.composites.register_recipe")
    add_compute(p, "scenes' composites")
    p.set_defaults(func=_run_composite)


def _run_composite(args) -> int:
    from ..config import CompositeSettings, settings_from
    from ..data.composites import get_recipe, make_composites

    source_recipe(args)  # --source gridded --recipe lwp: the variable lwp
    # --band B is the recipe C{B:02d}; --recipe NAME (or an alias) is looked up in the registry
    recipe = get_recipe(args.band if args.band is not None else (args.recipe or "truecolor"))
    sunz = None if args.sunz is None else args.sunz == "on"
    settings = settings_from(CompositeSettings, args, recipe=recipe.name, sunz=sunz)
    paths = make_composites(args.data_root, settings=settings, progress=not args.quiet, strict=args.strict,
                            workers=args.workers, scheduler=args.scheduler)
    for p in paths:
        print(p)
    if paths.skipped:  # the paths on stdout, the coverage report on stderr
        print(f"{len(paths)} scene(s) composited, {len(paths.skipped)} skipped:\n{paths.coverage()}", file=sys.stderr)
    return 0


def _add_triplets(sub) -> None:
    p = sub.add_parser(
        "triplets",
        help="sample anchor/neighbor/distant tiles from the composites into a dataset folder",
    )
    add_common(p)
    add_domain_and_times(p)
    p.add_argument("--tile-size-m", "--tile-size", dest="tile_size_m", type=float, default=DEFAULT_TILE_SIZE_M,
                   metavar="METRES", help=f"tile side, metres (default {DEFAULT_TILE_SIZE_M:g}; --tile-size is "
                                          f"its old name)")
    p.add_argument("--tile-pixels", type=whole(2), default=DEFAULT_TILE_PIXELS,
                   help=f"tile side, pixels (default {DEFAULT_TILE_PIXELS})")
    p.add_argument("--n-train", type=whole(0), required=True, help="number of train triplets")
    p.add_argument("--n-study", type=whole(0), default=0, help="number of study triplets")
    p.add_argument("--out", type=Path, required=True, help="dataset folder")
    add_compute(p, "composites and blocks of triplets")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resolution-km", type=float, default=1.0, help="composite resolution, km")
    p.add_argument("--neighbor-distance", type=float, default=1.0,
                   help="anchor-neighbour distance in tile sizes (default 1)")
    p.add_argument("--distant", choices=("other_scene", "same_scene"), default="other_scene",
                   help="where distant tiles come from (default: another scene)")
    p.add_argument("--method", choices=("bilinear", "nearest"), default="bilinear")
    p.add_argument("--satellite", "--platform", dest="satellite", type=platform_name,
                   help="platform to use if the scenes have several: a GOES satellite 16-19 or an id such as "
                        "himawari9")
    add_sources(p)
    p.add_argument("--max-sza", type=number_in(180.0, "degrees"), default=None, metavar="DEG",
                   help="sample only tiles whose centre's solar zenith angle at the scan start is at most DEG "
                        "(0-180; default: the recipe's, 80 for truecolor and C01-C06, none for infrared)")
    p.add_argument("--max-sza-fraction", type=fraction_below_one, default=None, metavar="F",
                   help="with a --max-sza limit: refuse a tile when more than this fraction (0 <= F < 1) of "
                        "its pixels exceed it, instead of judging by its centre")
    add_index_options(p, "tiles are drawn", wavelet=True)
    p.add_argument("--stretch", nargs="+", default=None, metavar="VALUE",
                   help="display range of brightness-temperature (K) channels: auto (default: the dataset's "
                        "1st-99th percentiles, recorded in meta.yaml), fixed (200-320 K), LO HI in K (LO white, "
                        "HI black, e.g. --stretch 230 300) or per channel NAME=LO,HI; reflectance keeps its "
                        "gamma stretch")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--recipe", default=None, metavar="NAME",
                       help="composite recipe the tiles are cut from (default truecolor): a registered recipe "
                            "(--list-recipes), e.g. C13 (10.3 um brightness temperature), or a band list "
                            "C13+C14+C15 (one channel per band); 1-4 channels: PNG L, LA, RGB, RGBA")
    which.add_argument("--bands", nargs="+", default=None, metavar="BAND",
                       help="one tile channel per ABI band, e.g. --bands 13 14 15 (the recipe C13+C14+C15)")
    p.add_argument("--list-recipes", action=_ListRecipes,
                   help="print the registered recipes (name, bands, units, description) and exit")
    add_plugin(p, "registers a recipe, labeler or sampler")
    p.add_argument("--fields", default=None, metavar="NAME[,NAME...]",
                   help="co-located fields of the same scans stored per tile (min, mean, max over the tile "
                        "in its _meta.yaml): single-plane recipes, e.g. C13 (10.3 um brightness "
                        "temperature) or C13,C07")
    add_env(p)
    p.add_argument("--plot", type=Path, default=None,
                   help="also write a PNG of the domain with a few triplets' tile outlines")
    add_labels(p, "each tile besides place and time")
    p.add_argument("--force", action="store_true",
                   help="make a dataset above the sane bounds (more than 10 million tiles, half this "
                        "machine's memory, 100 GiB or the free disk), which is refused otherwise, before any work")
    p.add_argument("--verify", action="store_true",
                   help="first decode every tile of an existing --out dataset and remove damaged "
                        "triplets (truncated or unreadable PNGs, wrong size, broken metadata), so that "
                        "they are written again")
    add_layout(p)
    p.set_defaults(func=_run_triplets)


def _run_triplets(args) -> int:
    from ..config import TripletSettings, settings_from
    from ..data.dataset import make_triplets, plot_triplets
    from ..data.labels import make_labeler

    if args.bands:  # --bands 13 14 15 (or 13,14,15): the band list recipe C13+C14+C15
        args.recipe = "+".join(b.strip() for a in args.bands for b in a.split(",") if b.strip())
    source_recipe(args)  # --source gridded --recipe lwp: the variable lwp

    labeler = make_labeler(args.labels)
    if args.verify and args.out.is_dir():
        for line in verify_lines(args.out, progress=not args.quiet):
            print(line)
    out = make_triplets(
        args.data_root, out=args.out, settings=settings_from(TripletSettings, args), workers=args.workers,
        scheduler=args.scheduler, start=args.start, end=args.end, progress=not args.quiet, labeler=labeler,
        sources=sources_of(args), force=args.force, layout=args.format, shard_size=args.shard_size,
    )
    if args.plot is not None and args.n_train > 0:
        plot_triplets(out, "train", out=args.plot)
    print(out)
    return 0
