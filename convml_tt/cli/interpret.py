"""Subcommands of interpretation and the whole flow: plot, evaluate, demo."""
from __future__ import annotations

from pathlib import Path

from ._common import LazySubParsers, add_common, add_plugin, whole
from .judging import add_judging_arguments, judge_embeddings, judge_regime_map


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="figures of the plot registry: dendrogram, annotated scatter or grid overview "
                                    "of embeddings, physical variables per cluster, regime maps, ...")
    add_plugin(p, "registers a plot (convml_tt.interpretation.plots.kinds.register_plot)")
    # one subcommand per entry of the plot registry, made when a command line names one (or asks for help)
    p.add_subparsers(dest="kind", metavar="KIND", required=True, action=LazySubParsers, fill=_add_plot_kinds)
    p.set_defaults(func=_run_plot)


def _add_plot_kinds(kinds) -> None:
    from ..interpretation.plots.kinds import PLOTS

    for name, kind in PLOTS.items():
        q = kinds.add_parser(name, help=kind.help)
        if kind.reads == "embeddings":
            q.add_argument("embeddings", type=Path, help="netCDF file written by `convml_tt embed`")
        elif kind.reads == "embeddings_or_regime_map":
            q.add_argument("input", type=Path, metavar="FILE",
                           help="embeddings (`convml_tt embed`) or a regime map (`convml_tt regimes assign`)")
        elif kind.reads == "composite":
            q.add_argument("composite", type=Path, metavar="COMPOSITE.nc",
                           help="composite written by `convml_tt composite` (or under DATA_ROOT/composites)")
        else:
            q.add_argument("regime_map", type=Path, metavar="REGIME_MAP.nc",
                           help="regime map written by `convml_tt regimes assign`")
        q.add_argument("--out", type=Path, required=True,
                       help="figure file to write (PNG), or what the kind's help names (HTML, a folder)")
        q.add_argument("--dpi", type=whole(10), default=100, help="resolution of the PNG (default 100)")
        q.add_argument("--title", default=None, help="figure title")
        if kind.reads in ("embeddings", "embeddings_or_regime_map"):
            q.add_argument("--dataset-path", type=Path, default=None,
                           help="where the tile images are, if the dataset moved since embedding")
            q.add_argument("--tile-type", default="anchor", choices=["anchor", "neighbor", "distant"],
                           help="tile type to plot when the embeddings hold all three (default anchor)")
        if kind.reads in ("regime_map", "embeddings_or_regime_map"):
            q.add_argument("--no-truth", action="store_true", help="leave out the true regimes, where known")
        if kind.add_arguments is not None:
            kind.add_arguments(q)
        add_plugin(q, "registers a plot (convml_tt.interpretation.plots.kinds.register_plot) or a recipe")
        q.set_defaults(plot_kind=kind)


def _run_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from ..interpretation.plots import save_figure

    kind = args.plot_kind
    if kind.reads == "embeddings_or_regime_map":
        from ..interpretation.regimes import is_regime_map

        if is_regime_map(args.input):
            args.regime_map = args.input
        else:
            args.embeddings = args.input
    if kind.reads == "composite":
        data, what = args.composite, f"quick look of {args.composite}"
    elif getattr(args, "regime_map", None) is not None:
        from ..interpretation.regimes import load_regime_map

        data, what = load_regime_map(args.regime_map), f"{args.kind} of {args.regime_map}"
    else:
        from ..interpretation.embeddings import load_embeddings

        data, what = load_embeddings(args.embeddings), args.kind
        if "tile_type" in data.dims:
            if args.tile_type not in data.tile_type.values:
                raise ValueError(f"--tile-type {args.tile_type!r} is not in {args.embeddings} "
                                 f"(holds {list(data.tile_type.values)})")
            data = data.sel(tile_type=args.tile_type).assign_attrs(tile_type=args.tile_type)
    fig = kind.draw(data, args)
    if hasattr(fig, "save"):  # kinds that write pages or folders (interactive, projector) save themselves
        fig.save(args.out)
    else:
        save_figure(fig, args.out, dpi=args.dpi)
    print(f"wrote {what} to {args.out}")
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
    p.add_argument("embeddings", type=Path,
                   help="netCDF file written by `convml_tt embed`, or a regime map from `convml_tt regimes "
                        "assign` (then: map accuracy and regime-fraction error against the true regimes)")
    p.add_argument("--model", type=Path, default=None,
                   help="model file (default: the one named in the embeddings, if it still exists)")
    p.add_argument("--dataset-path", type=Path, default=None, help="dataset folder, if it moved")
    p.add_argument("--label", default=None, help="coordinate holding tile labels (default: regime)")
    p.add_argument("-k", type=whole(1), default=5, help="neighbours in the kNN vote (default 5)")
    p.add_argument("--n-clusters", type=whole(2), default=None,
                   help="Ward clusters for purity/ARI (default: number of labels)")
    p.add_argument("--no-baselines", action="store_true", help="skip the untrained and tile-statistics rows")
    p.add_argument("--markdown", type=Path, default=None, help="also write the table to this markdown file")
    p.add_argument("--batch-size", type=whole(1), default=64, help="tiles per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    add_judging_arguments(p)
    add_plugin(p, "registers the model's backbone or head")
    add_common(p, data_root=False)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from .._io import write_text
    from ..interpretation.embeddings import load_embeddings
    from ..interpretation.evaluate import map_physical_medians, physical_medians, quality_table, to_markdown
    from ..interpretation.regimes import is_regime_map, load_regime_map, map_quality

    if is_regime_map(args.embeddings):
        import json

        import pandas as pd

        from ..interpretation.unassigned import cut_text, map_cut, unassigned_by_truth, unassigned_summary

        rmap = load_regime_map(args.embeddings)
        if "true_regime" in rmap.variables:
            text = to_markdown(pd.DataFrame([map_quality(rmap)], index=[str(args.embeddings.name)]))
            if "unassigned_distance" in rmap.attrs:
                names = json.loads(rmap.attrs.get("regime_names", "[]"))
                text += (f"\n\nShare of each true regime's cells that are unassigned ({cut_text(map_cut(rmap), names)})"
                         ":\n\n"
                         + to_markdown(unassigned_by_truth(rmap)))
        else:
            text = ("The regime map carries no true regimes, so no map accuracy; what can be judged without "
                    "truth follows.")
            if "unassigned_distance" in rmap.attrs:  # the share of its cells no regime fits
                text += "\n\n" + to_markdown(pd.DataFrame([unassigned_summary(rmap)],
                                                           index=[str(args.embeddings.name)]))
        medians = map_physical_medians(rmap)
        if medians is not None:
            text += "\n\nPer-regime medians of the organisation indices of the map cells:\n\n" + to_markdown(medians)
        text += "\n\n" + judge_regime_map(args, rmap)
        print(text)
        if args.markdown is not None:
            write_text(args.markdown, text + "\n")
        return 0
    da = load_embeddings(args.embeddings)
    df = quality_table(da, model=args.model, label=args.label, k=args.k, n_clusters=args.n_clusters,
                       baselines=not args.no_baselines, dataset_path=args.dataset_path, device=args.device,
                       batch_size=args.batch_size, progress=not args.quiet)
    from ..interpretation.stability import stage_note

    text = stage_note(da) + "\n\n" + to_markdown(df)
    medians = physical_medians(da, n_clusters=args.n_clusters)
    if medians is not None:
        text += ("\n\nPer-cluster medians of the organisation indices and fields (Ward clusters of the "
                 "embeddings, A, B, ... as the dendrogram's leaves):\n\n" + to_markdown(medians))
    judged = judge_embeddings(args, da)
    text += "\n\n" + judged if judged else ""
    print(text)
    if args.markdown is not None:
        write_text(args.markdown, text + "\n")
    return 0


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
    p.add_argument("--epochs", type=whole(1), default=None,
                   help="train exactly this many epochs (default: 12, or fewer where, judged after each "
                        "epoch, the next would not fit --time-budget)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-time budget of the whole run: the epochs that fit it, judged after each, with the "
                        "learning-rate schedule re-planned to end with them (default 580; 0: no budget, train all "
                        "epochs)")
    p.add_argument("--workers", type=whole(1), default=None, help="override the triplet-sampling processes")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no per-epoch table")
    p.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from ..demo import DemoSettings, run_demo

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
