#!/usr/bin/env python
"""Training and study triplets from GOES-16 true-colour imagery (Denby 2020).

The original 2019 convml_tt example, rewritten on the current API:

1. find GOES-16 ABI L1b full-disk scans of bands 1-3 near local solar noon
   over the domain (default 10-30N, 60-30W, the trade-wind cumulus region
   east of Barbados) for every day of a date range, and download the ones
   that are not in the local cache (``--offline``: use the cache alone);
2. make a true-colour composite of every scan over the domain (cached);
3. split the scans into train and study sets by date and sample
   anchor/neighbour/distant triplets of 200 km, 256 px tiles into a dataset
   folder, plus a figure with the outlines of a few triplets.

With ``--synthetic`` the same steps run on synthetic scenes (written into
the cache layout by :mod:`convml_tt.data.synthetic`), so the example can be
tried anywhere, offline, in a minute::

    python training_gen_examples/goes16_training_and_study.py --synthetic --out demo_triplets

Real data (downloads ~3 x 40-120 MB per day)::

    python training_gen_examples/goes16_training_and_study.py \\
        --start 2020-01-02 --end 2020-01-31 --n-train 10000 --n-study 1000 --workers 8
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from convml_tt.data import composites as composite_mod
from convml_tt.data.sources import goes_abi as goes
from convml_tt.data.dataset import make_triplets, plot_triplets

DEFAULT_DOMAIN = (-60.0, 10.0, -30.0, 30.0)  # lon_min, lat_min, lon_max, lat_max


def _date(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", type=Path, default=Path("data"), help="source cache and composites")
    p.add_argument("--out", type=Path, default=Path("goes16_triplets"), help="dataset folder")
    p.add_argument("--domain", nargs=4, type=float, default=None,
                   metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help=f"degrees (default {DEFAULT_DOMAIN}; with --synthetic: the synthetic sector)")
    p.add_argument("--start", type=_date, default=dt.datetime(2020, 1, 2), help="first date")
    p.add_argument("--end", type=_date, default=dt.datetime(2020, 1, 11), help="last date")
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-study", type=int, default=100)
    p.add_argument("--tile-size-m", type=float, default=200e3, help="tile side, metres")
    p.add_argument("--tile-pixels", type=int, default=256)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--offline", action="store_true", help="use the local cache only")
    p.add_argument("--endpoint-url", default=None, help="S3-compatible server instead of AWS")
    p.add_argument("--synthetic", action="store_true", help="run on synthetic scenes (offline)")
    p.add_argument("--synthetic-days", type=int, default=3, help="with --synthetic: days (2 scans each)")
    p.add_argument("--synthetic-size-km", type=float, default=1000.0, help="with --synthetic: sector size")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def synthetic_scenes(args) -> tuple[list[dict], tuple[float, float, float, float]]:
    """Write two scans a day (around local noon at 50W) of a synthetic sector
    centred at 15N 50W; returns their band files and a domain inside the sector."""
    from convml_tt.data.synthetic import write_synthetic_scenes

    centre = (15.0, -50.0)
    scenes = []
    for day in range(args.synthetic_days):
        noon = goes.local_solar_noon(args.start.date() + dt.timedelta(days=day), centre[1])
        noon = noon.replace(second=0, microsecond=0)
        scenes += write_synthetic_scenes(
            args.data_root, noon - dt.timedelta(minutes=30), count=2,
            interval=dt.timedelta(hours=1), seed=args.seed, center=centre,
            size_km=args.synthetic_size_km, progress=not args.quiet,
        )
    half = 0.42 * args.synthetic_size_km / 111.0  # degrees, inside the sector
    domain = (centre[1] - half, centre[0] - half, centre[1] + half, centre[0] + half)
    return [s.files for s in scenes], tuple(args.domain or domain)


def goes16_scenes(args) -> tuple[list[dict], tuple[float, float, float, float]]:
    """Scans of bands 1-3 near local noon at the domain's central longitude,
    fetched into the cache where missing (or found in it, offline)."""
    domain = tuple(args.domain or DEFAULT_DOMAIN)
    lon_c = (domain[0] + domain[2]) / 2
    scenes, _ = goes.fetch(
        args.start, args.end + dt.timedelta(days=1) - dt.timedelta(seconds=1),
        bands=(1, 2, 3), satellite=16, product="Rad", sector="F", data_root=args.data_root,
        near_local_noon=lon_c, offline=args.offline, endpoint_url=args.endpoint_url,
        progress=not args.quiet,
    )
    root = Path(args.data_root) / "sources" / "goes16"
    return [{b: root / k.key for b, k in s.keys.items()} for s in scenes], domain


def main(argv=None) -> int:
    args = parse_args(argv)
    files, domain = synthetic_scenes(args) if args.synthetic else goes16_scenes(args)
    if not files:
        print("no scenes found; check the dates (or drop --offline)", file=sys.stderr)
        return 1
    composites = []
    for f in files:
        out = composite_mod.composite_path(args.data_root, f, domain)
        composite_mod.make_composite(f, domain, out_path=out).close()
        composites.append(out)
    labeler = None
    if args.synthetic:
        from convml_tt.data.synthetic import RegimeLabeler

        labeler = RegimeLabeler()  # the true regime of each tile
    dataset = make_triplets(
        args.data_root, domain, args.out, n_train=args.n_train, n_study=args.n_study,
        tile_size_m=args.tile_size_m, tile_pixels=args.tile_pixels, seed=args.seed,
        workers=args.workers, composites=composites, progress=not args.quiet, labeler=labeler,
    )
    if args.n_train:
        plot_triplets(dataset, "train", n=4, out=dataset / "triplets_overview.png")
    print(dataset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
