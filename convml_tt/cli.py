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


def _domain_and_times(p: argparse.ArgumentParser) -> None:
    """``--domain`` (required) and the optional ``--start``/``--end`` scan times."""
    p.add_argument("--domain", nargs=4, type=float, required=True,
                   metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"), help="degrees")
    p.add_argument("--start", type=parse_time, default=None, help="first scan start (ISO 8601, UTC)")
    p.add_argument("--end", type=parse_time, default=None, help="last scan start (ISO 8601, UTC)")


# --- subcommands (each helper function registers one) -----------------------
# [subcommand definitions]


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole flow on synthetic scenes, offline: figures and a quality report",
        description=(
            "Synthetic ABI scenes -> composites -> train/study triplets -> training (CUDA when "
            "available) -> study-set embeddings -> dendrogram, scatter, grid and domain plots and "
            "a report (quality table vs the untrained and tile-statistics baselines, targets, "
            "timings) in --out. A second run reuses what the first made when the settings match. "
            "Settings: convml_tt.demo.DemoSettings."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="source cache and composites (default: OUT/data)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    p.add_argument("--fast", action="store_true",
                   help="tiny settings (6 small scenes, 32 px tiles, 60 triplets, 1 epoch): under a minute, "
                        "quality targets not expected to be met")
    p.add_argument("--epochs", type=int, default=None,
                   help="train exactly this many epochs (default: 12, or fewer where a timed step says "
                        "they would not fit --time-budget)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-time budget of the whole run; training gets the epochs that fit in it "
                        "(default 580; 0: no budget, train all epochs)")
    p.add_argument("--workers", type=int, default=None, help="override the triplet-sampling processes")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no per-epoch table")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .demo import DemoSettings, run_demo

    overrides = {k: v for k, v in (("epochs", args.epochs), ("workers", args.workers)) if v is not None}
    if args.time_budget is not None:
        overrides["time_budget_s"] = args.time_budget or None
    elif args.epochs is not None:
        overrides["time_budget_s"] = None  # asked for a number of epochs: train exactly that
    settings = DemoSettings.fast(**overrides) if args.fast else DemoSettings(**overrides)
    result = run_demo(args.out, settings, data_root=args.data_root, device=args.device, quiet=args.quiet)
    print(result.report)
    print(f"wrote {result.paths['report']} and figures in {result.out}")
    return 0


def _add_embed(sub) -> None:
    p = sub.add_parser(
        "embed",
        help="embed the tiles of a triplet dataset with a trained model (netCDF output)",
        description=(
            "Run the encoder in MODEL over the tiles of one stage of DATASET and write the "
            "embeddings (tile_id x emb_dim, with lat/lon/time/regime coordinates from the tile "
            "metadata) to a netCDF file. CUDA when available."
        ),
    )
    p.add_argument("model", type=Path, help="model file written by `convml_tt train`")
    p.add_argument("dataset", type=Path, help="triplet dataset folder (holding train/ and study/)")
    p.add_argument("--out", type=Path, required=True, help="embeddings netCDF file to write")
    p.add_argument("--stage", default="study", choices=["study", "train"], help="stage (default study)")
    p.add_argument("--tile-type", default="anchor", choices=["anchor", "neighbor", "distant", "all"],
                   help="tiles to embed; 'all' embeds the three of each triplet (default anchor)")
    p.add_argument("--batch-size", type=int, default=64, help="tiles per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    _common(p, data_root=False)
    p.set_defaults(func=_run_embed)


def _run_embed(args) -> int:
    from .interpretation.embeddings import get_embeddings, save_embeddings

    da = get_embeddings(args.model, args.dataset, stage=args.stage, tile_type=args.tile_type,
                        batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                        num_workers=args.num_workers)
    save_embeddings(da, args.out)
    shape = " x ".join(f"{d}={n}" for d, n in da.sizes.items())
    print(f"wrote embeddings ({shape}) to {args.out}")
    return 0


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="dendrogram, annotated scatter or grid overview of embeddings")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    def common(q) -> None:
        q.add_argument("embeddings", type=Path, help="netCDF file written by `convml_tt embed`")
        q.add_argument("--out", type=Path, required=True, help="figure file to write (PNG)")
        q.add_argument("--dataset-path", type=Path, default=None,
                       help="where the tile images are, if the dataset moved since embedding")
        q.add_argument("--tile-type", default="anchor",
                       help="tile type to plot when the embeddings hold all three (default anchor)")
        q.add_argument("--dpi", type=int, default=100, help="resolution of the PNG (default 100)")
        q.add_argument("--title", default=None, help="figure title")

    def projection(q) -> None:
        g = q.add_mutually_exclusive_group()
        g.add_argument("--dims", type=int, nargs=2, metavar=("DX", "DY"), default=None,
                       help="two embedding dimensions (default 0 1)")
        g.add_argument("--method", choices=["pca", "isomap"], default=None, help="2-D projection instead")

    q = kinds.add_parser("dendrogram", help="Ward dendrogram with example tiles under each leaf")
    common(q)
    q.add_argument("--n-leaves", type=int, default=10, help="leaves of the truncated tree (default 10)")
    q.add_argument("--n-examples", type=int, default=4, help="example tiles per leaf (default 4)")
    q.add_argument("--no-letters", action="store_true", help="number the clusters instead of A, B, C, ...")
    q.add_argument("--labels-out", type=Path, default=None, help="also write each tile's cluster to this CSV")
    q = kinds.add_parser("scatter", help="2-D scatter with tile images around the points")
    common(q)
    projection(q)
    q.add_argument("--n-insets", type=int, default=12, help="tiles shown as images (default 12)")
    q.add_argument("--color-by", default=None, help="coordinate to colour points by (default: regime if known)")
    q = kinds.add_parser("grid", help="grid of tiles ordered along two embedding dimensions")
    common(q)
    projection(q)
    q.add_argument("--rows", type=int, default=6, help="grid rows (default 6)")
    q.add_argument("--cols", type=int, default=8, help="grid columns (default 8)")
    p.set_defaults(func=_run_plot)


def _run_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .interpretation.embeddings import load_embeddings
    from .interpretation.plots import dendrogram, grid, save_figure, scatter

    da = load_embeddings(args.embeddings)
    if "tile_type" in da.dims:
        if args.tile_type not in da.tile_type.values:
            raise ValueError(f"--tile-type {args.tile_type!r} is not in {args.embeddings} "
                             f"(holds {list(da.tile_type.values)})")
        da = da.sel(tile_type=args.tile_type).assign_attrs(tile_type=args.tile_type)
    if args.kind == "dendrogram":
        fig, labels = dendrogram(da, n_leaves=args.n_leaves, n_examples=args.n_examples,
                                 letters=not args.no_letters, dataset_path=args.dataset_path, title=args.title)
        if args.labels_out is not None:
            from ._io import write_text

            write_text(args.labels_out, labels.to_dataframe().to_csv())
            print(f"wrote cluster labels to {args.labels_out}")
    elif args.kind == "scatter":
        fig, _, _ = scatter(da, dims=args.dims, method=args.method, n_insets=args.n_insets,
                            color_by=args.color_by, dataset_path=args.dataset_path, title=args.title)
    else:
        fig, _ = grid(da, dims=args.dims, method=args.method, n_rows=args.rows, n_cols=args.cols,
                      dataset_path=args.dataset_path, title=args.title)
    save_figure(fig, args.out, dpi=args.dpi)
    print(f"wrote {args.kind} to {args.out}")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="quality of embeddings: triplet accuracy, label kNN accuracy, clusters, baselines",
        description=(
            "Print the quality table of EMBEDDINGS: study-set triplet accuracy, and when tiles carry "
            "labels (synthetic regimes, or --label COORD) leave-one-out kNN label accuracy and the "
            "purity / adjusted Rand index of Ward clusters; the same for an untrained copy of the "
            "network and for hand-crafted tile statistics."
        ),
    )
    p.add_argument("embeddings", type=Path, help="netCDF file written by `convml_tt embed`")
    p.add_argument("--model", type=Path, default=None,
                   help="model file (default: the one named in the embeddings, if it still exists)")
    p.add_argument("--dataset-path", type=Path, default=None, help="dataset folder, if it moved")
    p.add_argument("--label", default=None, help="coordinate holding tile labels (default: regime)")
    p.add_argument("-k", type=int, default=5, help="neighbours in the kNN vote (default 5)")
    p.add_argument("--n-clusters", type=int, default=None,
                   help="Ward clusters for purity/ARI (default: number of labels)")
    p.add_argument("--no-baselines", action="store_true", help="skip the untrained and tile-statistics rows")
    p.add_argument("--markdown", type=Path, default=None, help="also write the table to this markdown file")
    p.add_argument("--batch-size", type=int, default=64, help="tiles per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    _common(p, data_root=False)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from ._io import write_text
    from .interpretation.embeddings import load_embeddings
    from .interpretation.evaluate import quality_table, to_markdown

    da = load_embeddings(args.embeddings)
    df = quality_table(da, model=args.model, label=args.label, k=args.k, n_clusters=args.n_clusters,
                       baselines=not args.no_baselines, dataset_path=args.dataset_path, device=args.device,
                       batch_size=args.batch_size, progress=not args.quiet)
    text = to_markdown(df)
    print(text)
    if args.markdown is not None:
        write_text(args.markdown, text + "\n")
    return 0


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
    _common(p)
    p.add_argument("--start", type=parse_time, default=parse_time("2020-01-02T14:00"),
                   help="scan start of the first scene, UTC (ISO 8601; default 2020-01-02T14:00)")
    p.add_argument("--count", type=int, default=6, help="number of scenes (default 6)")
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
    p.add_argument("--satellite", type=int, default=16, help="GOES satellite 16-19 (default 16)")
    p.add_argument("--sector", default="M1", help="sector in the file names: M1 (default), M2, C or F")
    p.add_argument("--bands", type=int, nargs="+", default=[1, 2, 3], help="bands (default 1 2 3)")
    p.set_defaults(func=_run_synthetic)


def _run_synthetic(args) -> int:
    from .config import SceneSettings, settings_from
    from .data.synthetic import write_synthetic_scenes

    settings = settings_from(SceneSettings, args)
    scenes = write_synthetic_scenes(args.data_root, settings=settings, progress=not args.quiet)
    for scene in scenes:
        for band in sorted(scene.files):
            print(scene.files[band])
        print(scene.labels)
    print(f"wrote {len(scenes)} synthetic scene(s) under {args.data_root}")
    return 0


def _add_composite(sub) -> None:
    from .data.composites.recipes import get_recipe, list_recipes

    recipes = list_recipes()
    table = [("name", "bands", "units", "description")] + [
        (r.name, ",".join(map(str, r.bands)), r.units, r.description) for r in recipes
    ]
    lines = [f"{n:<10} {b:<8} {u:<6} {d}".rstrip() for n, b, u, d in table]

    class ListRecipes(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print("\n".join(lines))
            parser.exit(0)

    def recipe_name(text: str) -> str:
        # aliases ("rgb", "c13", "13") to the registered name; others fail `choices`
        try:
            return get_recipe(text).name
        except ValueError:
            return text

    p = sub.add_parser(
        "composite",
        help="true-colour (or single-band) composites of cached scenes over a lat/lon domain",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="recipes (--recipe NAME):\n" + "\n".join("  " + line for line in lines),
    )
    _common(p)
    _domain_and_times(p)
    p.add_argument("--resolution-km", type=float, default=1.0, help="common pixel size, km (0.5, 1, 2)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--recipe", type=recipe_name, choices=[r.name for r in recipes], default=None,
                       metavar="NAME", help="what to composite (default: truecolor); see the list below")
    which.add_argument("--band", type=int, default=None,
                       help="single-band composite of this ABI band, the same as --recipe C{BAND:02d} "
                            "(default: true colour from bands 1-3)")
    p.add_argument("--satellite", type=int, default=None, help="only scenes of this GOES satellite")
    p.add_argument("--list-recipes", action=ListRecipes, nargs=0,
                   help="print the recipes (name, bands, units, description) and exit")
    p.set_defaults(func=_run_composite)


def _run_composite(args) -> int:
    from .config import CompositeSettings, settings_from
    from .data.composites import make_composites

    # --band B is the recipe C{B:02d}; --recipe NAME is picked up by name
    band = {"recipe": args.band} if args.band is not None else {}
    settings = settings_from(CompositeSettings, args, **band)
    paths = make_composites(args.data_root, settings=settings, progress=not args.quiet)
    for p in paths:
        print(p)
    return 0


def _add_triplets(sub) -> None:
    p = sub.add_parser(
        "triplets",
        help="sample anchor/neighbor/distant tiles from the composites into a dataset folder",
    )
    _common(p)
    _domain_and_times(p)
    p.add_argument("--tile-size", type=float, default=200e3, help="tile side, metres (default 200e3)")
    p.add_argument("--tile-pixels", type=int, default=256, help="tile side, pixels (default 256)")
    p.add_argument("--n-train", type=int, required=True, help="number of train triplets")
    p.add_argument("--n-study", type=int, default=0, help="number of study triplets")
    p.add_argument("--out", type=Path, required=True, help="dataset folder")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resolution-km", type=float, default=1.0, help="composite resolution, km")
    p.add_argument("--neighbor-distance", type=float, default=1.0,
                   help="anchor-neighbour distance in tile sizes (default 1)")
    p.add_argument("--distant", choices=("other_scene", "same_scene"), default="other_scene",
                   help="where distant tiles come from (default: another scene)")
    p.add_argument("--method", choices=("bilinear", "nearest"), default="bilinear")
    p.add_argument("--plot", type=Path, default=None,
                   help="also write a PNG of the domain with a few triplets' tile outlines")
    p.add_argument("--labels", choices=("synthetic", "none"), default="synthetic",
                   help="what to store about each tile besides place and time: 'synthetic' (default): "
                        "the true regime of synthetic scenes (nothing for real scenes); 'none'")
    p.set_defaults(func=_run_triplets)


def _run_triplets(args) -> int:
    from .config import TripletSettings, settings_from
    from .data.dataset import make_triplets, plot_triplets

    labeler = None
    if args.labels == "synthetic":
        from .data.synthetic import RegimeLabeler

        labeler = RegimeLabeler()
    out = make_triplets(
        args.data_root, out=args.out, settings=settings_from(TripletSettings, args), workers=args.workers,
        start=args.start, end=args.end, progress=not args.quiet, labeler=labeler,
    )
    if args.plot is not None and args.n_train > 0:
        plot_triplets(out, "train", out=args.plot)
    print(out)
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the triplet encoder on a triplet dataset folder and write a model file",
        description=(
            "Train an encoder (a registered backbone, by default a ResNet) with a triplet loss "
            "(fastai, one-cycle schedule) on the train/ stage of DATASET, print the per-epoch table, "
            "checkpoint every epoch and write the model file (weights + config) to --out. "
            "Settings: convml_tt.config.TrainingSettings."
        ),
    )
    p.add_argument("dataset", type=Path, metavar="DATASET", help="triplet dataset folder (with train/)")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL", help="model file to write, e.g. model.pt")
    p.add_argument("--arch", default="resnet18", metavar="NAME",
                   help="backbone of the registry: resnet18 (default), resnet34, resnet50, or one that a "
                        "--plugin module registers")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (a module name or a .py file) first, e.g. one that registers a "
                        "backbone with convml_tt.architectures.register_backbone(name, factory); repeatable")
    p.add_argument("--epochs", type=int, default=10, help="epochs of one-cycle training (default 10)")
    p.add_argument("--batch-size", type=int, default=50, help="triplets per batch (default 50)")
    p.add_argument("--lr", type=float, default=1e-3, help="maximum learning rate (default 1e-3)")
    p.add_argument("--emb-dim", type=int, default=100, help="embedding size (default 100)")
    p.add_argument("--head", default="fastai", choices=["fastai", "linear"],
                   help="embedding head: the 2019 fastai head (default) or a linear one")
    p.add_argument("--pretrained", default=None, metavar="PATH",
                   help="backbone weights: a state_dict of the backbone (e.g. a torchvision ResNet .pth), "
                        "a convml_tt model, or 'imagenet' (the weights the backbone is registered with)")
    p.add_argument("--freeze-body", action="store_true", help="train the head only")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--precision", default=None, choices=["auto", "bf16", "fp16", "no"],
                   help="autocast precision (default auto: bf16 on CUDA where supported, else fp16; "
                        "bf16 on CPUs with native bf16 instructions, else none)")
    p.add_argument("--preload", action="store_true", help="decode all tiles into memory once (uint8)")
    p.add_argument("--tile-size", type=int, default=None, metavar="PIXELS",
                   help="resize tiles to PIXELS x PIXELS for training (default: as stored)")
    p.add_argument("--valid-pct", type=float, default=0.1, help="fraction held out for validation")
    p.add_argument("--loss", default="euclidean", choices=["euclidean", "squared"],
                   help="triplet loss distance (euclidean: margin 1 + l2 0.01 penalty)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout of the head (default 0.5)")
    p.add_argument("--negatives", default=None, choices=["batch", "own"],
                   help="compare each anchor with every distant tile of the batch (batch, the default) "
                        "or only with its own (own, the classic Tile2Vec loss)")
    p.add_argument("--jitter", type=float, default=0.0, help="brightness/contrast jitter, e.g. 0.05")
    p.add_argument("--no-augment", action="store_true", help="no flips/rotations")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=None, help="data loading processes")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="folder for per-epoch checkpoints (default: MODEL.checkpoints/)")
    p.add_argument("--no-checkpoints", action="store_true", help="do not write epoch checkpoints")
    p.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                   help="continue training from an epoch checkpoint")
    p.add_argument("--skip-incomplete", action="store_true", help="skip triplets missing a tile")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch table")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from .architectures import get_backbone, load_plugin, resolve_device, train
    from .config import TrainingSettings, settings_from

    for module in args.plugin:
        load_plugin(module)  # registers its backbones before --arch is looked up
    device = resolve_device(args.device)  # clear error for --device cuda without a GPU
    # flags named as the settings fields are taken as they are; these three are named otherwise
    s = settings_from(TrainingSettings, args, device=device, mixed_precision=args.precision,
                      num_workers=args.workers, augment=not args.no_augment)
    get_backbone(s.arch)  # an unknown --arch fails here, listing the registered backbones
    ckpt = None
    if not args.no_checkpoints:
        ckpt = args.checkpoint_dir or args.out.with_name(args.out.name + ".checkpoints")
    learn = train(args.dataset, args.out, s, checkpoint_dir=ckpt, resume=args.resume, quiet=args.quiet)
    names = list(learn.recorder.metric_names[1:-1])
    last = learn.recorder.values[-1] if learn.recorder.values else []
    summary = ", ".join(f"{n} {v:.4f}" for n, v in zip(names, last) if v is not None)
    print(f"wrote {args.out} ({s.arch}, emb_dim {s.emb_dim}, {s.epochs} epochs on {device}"
          + (f"; {summary}" if summary else "") + ")")
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
    _common(p)
    p.add_argument("--satellite", type=int, default=16, help="GOES satellite 16, 17, 18 or 19 (default 16)")
    p.add_argument("--product", default="Rad", help="ABI product: Rad (L1b) or an L2 product such as CMIP")
    p.add_argument("--sector", default="F", help="ABI sector: F, C, M1 or M2 (default F)")
    p.add_argument("--bands", type=int, nargs="+", default=[1, 2, 3], help="ABI bands (default 1 2 3)")
    p.add_argument("--start", type=parse_time, required=True, help="first scan start, UTC (ISO 8601)")
    p.add_argument("--end", type=parse_time, required=True, help="last scan start, UTC (ISO 8601)")
    p.add_argument("--near-local-noon", type=float, metavar="LON", default=None,
                   help="keep, each day, the scene nearest local solar noon at LON degrees east")
    p.add_argument("--tolerance", type=float, default=30.0, metavar="MINUTES",
                   help="with --near-local-noon, largest distance from noon in minutes (default 30)")
    p.add_argument("--offline", action="store_true", help="use the local cache only (no network)")
    p.add_argument("--endpoint-url", default=None, help="S3-compatible server instead of AWS")
    p.add_argument("--workers", type=int, default=8, help="concurrent downloads (default 8)")
    p.add_argument("--retries", type=int, default=5, help="retries per request on transient errors")
    p.add_argument("--strict", action="store_true", help="fail if a scan lacks a requested band")
    p.add_argument("--list-only", action="store_true", help="list the scenes, download nothing")
    p.set_defaults(func=_run_fetch)


def _run_fetch(args) -> int:
    from .data.goes import GOESCatalogue

    cat = GOESCatalogue(
        satellite=args.satellite, product=args.product, sector=args.sector,
        data_root=args.data_root, offline=args.offline, endpoint_url=args.endpoint_url,
        retries=args.retries, max_workers=args.workers,
    )
    if not args.offline and not args.list_only:
        cat.check_writable()
    res = cat.query(
        args.start, args.end, bands=args.bands, near_local_noon=args.near_local_noon,
        tolerance=dt.timedelta(minutes=args.tolerance), strict=args.strict,
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


SUBCOMMANDS: list = [
    # [subcommand registry] (in the order of the data flow, as --help lists them)
    _add_synthetic,
    _add_fetch,
    _add_composite,
    _add_triplets,
    _add_train,
    _add_embed,
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
