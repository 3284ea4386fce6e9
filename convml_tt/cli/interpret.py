"""Subcommands of interpretation and the whole flow: plot, evaluate, demo."""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, whole


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="dendrogram, annotated scatter or grid overview of embeddings, physical "
                                    "variables per cluster, regime maps")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    def common(q) -> None:
        q.add_argument("embeddings", type=Path, help="netCDF file written by `convml_tt embed`")
        q.add_argument("--out", type=Path, required=True, help="figure file to write (PNG)")
        q.add_argument("--dataset-path", type=Path, default=None,
                       help="where the tile images are, if the dataset moved since embedding")
        q.add_argument("--tile-type", default="anchor", choices=["anchor", "neighbor", "distant"],
                       help="tile type to plot when the embeddings hold all three (default anchor)")
        q.add_argument("--dpi", type=whole(10), default=100, help="resolution of the PNG (default 100)")
        q.add_argument("--title", default=None, help="figure title")

    def projection(q) -> None:
        g = q.add_mutually_exclusive_group()
        g.add_argument("--dims", type=int, nargs=2, metavar=("DX", "DY"), default=None,
                       help="two embedding dimensions (default 0 1)")
        g.add_argument("--method", choices=["pca", "isomap"], default=None, help="2-D projection instead")

    q = kinds.add_parser("dendrogram", help="Ward dendrogram with example tiles under each leaf")
    common(q)
    q.add_argument("--n-leaves", type=whole(1), default=10, help="leaves of the truncated tree (default 10)")
    q.add_argument("--n-examples", type=whole(0), default=4, help="example tiles per leaf (default 4)")
    q.add_argument("--no-letters", action="store_true", help="number the clusters instead of A, B, C, ...")
    q.add_argument("--labels-out", type=Path, default=None, help="also write each tile's cluster to this CSV")
    q = kinds.add_parser("scatter", help="2-D scatter with tile images around the points")
    common(q)
    projection(q)
    q.add_argument("--n-insets", type=whole(0), default=12, help="tiles shown as images (default 12)")
    q.add_argument("--color-by", default=None, help="coordinate to colour points by (default: regime if known)")
    q = kinds.add_parser("grid", help="grid of tiles ordered along two embedding dimensions")
    common(q)
    projection(q)
    q.add_argument("--rows", type=whole(1), default=6, help="grid rows (default 6)")
    q.add_argument("--cols", type=whole(1), default=8, help="grid columns (default 8)")

    q = kinds.add_parser("boxplots", help="box plots of the organisation indices and co-located fields per "
                                          "cluster (Ward clusters, or a label such as regime_name)")
    common(q)
    q.add_argument("--clusters", default="ward",
                   help="'ward' (default: Ward clusters of the embeddings, A, B, ... as the dendrogram's "
                        "leaves) or a per-tile coordinate, e.g. regime_name")
    q.add_argument("--n-clusters", type=whole(2), default=None,
                   help="Ward clusters (default: the number of true regimes, or 6)")
    q.add_argument("--variables", nargs="+", default=None, metavar="NAME",
                   help="coordinates to plot (default: every organisation index and field statistic)")
    q = kinds.add_parser("pc-correlations", help="heatmap of the correlation of the embeddings' principal "
                                                 "components with the organisation indices and fields")
    common(q)
    q.add_argument("--n-components", type=whole(1), default=None,
                   help="principal components, at most min(emb_dim, tiles - 1) (default: up to 5)")
    q.add_argument("--variables", nargs="+", default=None, metavar="NAME",
                   help="coordinates to correlate with (default: every organisation index and field statistic)")

    def regime_map_args(q) -> None:
        q.add_argument("regime_map", type=Path, metavar="REGIME_MAP.nc",
                       help="regime map written by `convml_tt regimes assign`")
        q.add_argument("--out", type=Path, required=True, help="figure file to write (PNG)")
        q.add_argument("--dpi", type=whole(10), default=100, help="resolution of the PNG (default 100)")
        q.add_argument("--title", default=None, help="figure title")
        q.add_argument("--no-truth", action="store_true", help="leave out the true regimes, where known")

    q = kinds.add_parser("map", help="regimes of one scene over its composite (with the true regimes, "
                                     "where known)")
    regime_map_args(q)
    q.add_argument("--time", default="0", metavar="INDEX|TIME",
                   help="scene: an index into the map's times or a scan time (default 0, the first)")
    q.add_argument("--regimes", type=Path, default=None, metavar="REGIMES.json",
                   help="regimes file, for an example tile of each regime in the legend")
    q.add_argument("--composite", type=Path, default=None,
                   help="composite to draw under the regimes (default: the one the map names)")
    q = kinds.add_parser("fractions", help="fraction of the domain in each regime through time")
    regime_map_args(q)
    q.add_argument("--bbox", type=float, nargs=4, default=None,
                   metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help="only cells centred in this box (degrees; default the whole map)")
    p.set_defaults(func=_run_plot)


def _run_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from ..interpretation.embeddings import load_embeddings
    from ..interpretation.plots import dendrogram, grid, save_figure, scatter

    if args.kind in ("map", "fractions"):
        return _plot_regime_map(args)
    da = load_embeddings(args.embeddings)
    if "tile_type" in da.dims:
        if args.tile_type not in da.tile_type.values:
            raise ValueError(f"--tile-type {args.tile_type!r} is not in {args.embeddings} "
                             f"(holds {list(da.tile_type.values)})")
        da = da.sel(tile_type=args.tile_type).assign_attrs(tile_type=args.tile_type)
    if args.kind in ("boxplots", "pc-correlations"):
        from ..interpretation.plots.physical import cluster_boxplots, pc_correlation_heatmap

        if args.kind == "boxplots":
            fig, medians = cluster_boxplots(da, clusters=args.clusters, variables=args.variables,
                                            n_clusters=args.n_clusters, title=args.title)
        else:
            fig, _ = pc_correlation_heatmap(da, n_components=args.n_components, variables=args.variables,
                                            title=args.title)
        save_figure(fig, args.out, dpi=args.dpi)
        print(f"wrote {args.kind} to {args.out}")
        return 0
    if args.kind == "dendrogram":
        fig, labels = dendrogram(da, n_leaves=args.n_leaves, n_examples=args.n_examples,
                                 letters=not args.no_letters, dataset_path=args.dataset_path, title=args.title)
        if args.labels_out is not None:
            from .._io import write_text

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


def _plot_regime_map(args) -> int:
    from ..interpretation.plots import regime_fractions_plot, regime_map, save_figure
    from ..interpretation.regimes import load_regime_map

    ds = load_regime_map(args.regime_map)
    if args.kind == "map":
        time = int(args.time) if args.time.lstrip("-").isdigit() else args.time
        fig = regime_map(ds, time=time, composite=args.composite, regimes=args.regimes,
                         truth=not args.no_truth, title=args.title)
    else:
        fig = regime_fractions_plot(ds, bbox=args.bbox, truth=not args.no_truth, title=args.title)
    save_figure(fig, args.out, dpi=args.dpi)
    print(f"wrote {args.kind} of {args.regime_map} to {args.out}")
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
    add_common(p, data_root=False)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from .._io import write_text
    from ..interpretation.embeddings import load_embeddings
    from ..interpretation.evaluate import map_physical_medians, physical_medians, quality_table, to_markdown
    from ..interpretation.regimes import is_regime_map, load_regime_map, map_quality

    if is_regime_map(args.embeddings):
        import pandas as pd

        rmap = load_regime_map(args.embeddings)
        q = map_quality(rmap)
        text = to_markdown(pd.DataFrame([q], index=[str(args.embeddings.name)]))
        medians = map_physical_medians(rmap)
        if medians is not None:
            text += "\n\nPer-regime medians of the organisation indices of the map cells:\n\n" + to_markdown(medians)
        print(text)
        if args.markdown is not None:
            write_text(args.markdown, text + "\n")
        return 0
    da = load_embeddings(args.embeddings)
    df = quality_table(da, model=args.model, label=args.label, k=args.k, n_clusters=args.n_clusters,
                       baselines=not args.no_baselines, dataset_path=args.dataset_path, device=args.device,
                       batch_size=args.batch_size, progress=not args.quiet)
    text = to_markdown(df)
    medians = physical_medians(da, n_clusters=args.n_clusters)
    if medians is not None:
        text += ("\n\nPer-cluster medians of the organisation indices and fields (Ward clusters of the "
                 "embeddings, A, B, ... as the dendrogram's leaves):\n\n" + to_markdown(medians))
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
                   help="train exactly this many epochs (default: 12, or fewer where a timed step says "
                        "they would not fit --time-budget)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-time budget of the whole run; training gets the epochs that fit in it "
                        "(default 580; 0: no budget, train all epochs)")
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
