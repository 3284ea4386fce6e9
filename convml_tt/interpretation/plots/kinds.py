"""The plot registry: the figures ``convml_tt plot KIND`` draws.

A :class:`PlotKind` says what a figure reads (tile embeddings, or a regime
map), the options it adds to its ``convml_tt plot KIND`` subcommand and how
it draws. Registered in :data:`PLOTS` (entry-point group
``convml_tt.plots``; :func:`register_plot`), it becomes a subcommand::

    from convml_tt.interpretation.plots.kinds import PlotKind, register_plot

    def norms(da, args):
        fig, ax = plt.subplots()
        ax.hist(np.linalg.norm(da.values, axis=1), bins=args.bins)
        return fig

    register_plot("norms", PlotKind("histogram of embedding norms", "embeddings", norms,
                                    lambda p: p.add_argument("--bins", type=int, default=20)))

The CLI gives every kind its input file, ``--out``, ``--dpi``, ``--title``
(and, for embeddings, ``--dataset-path`` and ``--tile-type``), loads the
input (embeddings of one tile type, or a regime map) and saves the figure.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...registry import Registry
from ..projections import PROJECTIONS

__all__ = ["PlotKind", "PLOTS", "register_plot"]

#: what a plot reads: tile embeddings (``convml_tt embed``), a regime map (``convml_tt regimes assign``)
#: or either (``"embeddings_or_regime_map"``: the CLI loads whichever the file is)
INPUTS = ("embeddings", "regime_map", "embeddings_or_regime_map", "composite")


@dataclass(frozen=True)
class PlotKind:
    """A figure of ``convml_tt plot``.

    ``help``: one line for the listing; ``reads``: ``"embeddings"`` (a
    DataArray ``(tile_id, emb_dim)`` of one tile type), ``"regime_map"``
    (a Dataset, :func:`~convml_tt.interpretation.regimes.load_regime_map`)
    or ``"composite"`` (a composite file's path);
    ``draw(data, args) -> Figure`` with the parsed ``args`` (the options
    ``add_arguments(parser)`` added, ``title``, ...).
    """

    help: str
    reads: str
    draw: Callable[[Any, argparse.Namespace], Any]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None

    def __post_init__(self) -> None:
        if self.reads not in INPUTS:
            raise ValueError(f"a plot reads one of {INPUTS}, not {self.reads!r}")
        if not callable(self.draw):
            raise TypeError(f"draw must be callable as draw(data, args) -> Figure, got {self.draw!r}")


def _plot_entry(name: str, kind: Any) -> PlotKind:
    if not isinstance(kind, PlotKind):
        raise TypeError(f"plot {name!r} must be a convml_tt.interpretation.plots.kinds.PlotKind, got {kind!r}")
    return kind


#: the plot registry: name -> :class:`PlotKind` (``convml_tt plot NAME``)
PLOTS = Registry("plots", "plot", "convml_tt.interpretation.plots.kinds.register_plot(name, PlotKind(...))",
                 _plot_entry)


def register_plot(name: str, kind: PlotKind, overwrite: bool = False) -> PlotKind:
    """Register ``kind`` as ``convml_tt plot NAME``; returns it."""
    return PLOTS.register(name, kind, overwrite=overwrite)


# -----------------------------------------------------------------------------
# the built-in plots
# -----------------------------------------------------------------------------
def _projection(q: argparse.ArgumentParser) -> None:
    g = q.add_mutually_exclusive_group()
    g.add_argument("--dims", type=int, nargs=2, metavar=("DX", "DY"), default=None,
                   help="two embedding dimensions (default 0 1)")
    g.add_argument("--method", "--projection", dest="method", choices=list(PROJECTIONS), default=None,
                   help="2-D projection instead (umap needs the explore extra)")


def _variables(q: argparse.ArgumentParser, what: str) -> None:
    q.add_argument("--variables", nargs="+", default=None, metavar="NAME",
                   help=f"coordinates to {what} (default: every organisation index and field statistic)")


def _whole(least: int):
    from ...cli._common import whole

    return whole(least)


def _dendrogram_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--n-leaves", type=_whole(1), default=10, help="leaves of the truncated tree (default 10)")
    q.add_argument("--n-examples", type=_whole(0), default=4, help="example tiles per leaf (default 4)")
    q.add_argument("--no-letters", action="store_true", help="number the clusters instead of A, B, C, ...")
    q.add_argument("--labels-out", type=Path, default=None, help="also write each tile's cluster to this CSV")
    q.add_argument("--regimes", type=Path, default=None, metavar="REGIMES.json",
                   help="one leaf per regime of this file (from `convml_tt regimes fit`), each named after the "
                        "regime it shares most tiles with: the letters of the regime maps (--n-leaves ignored)")


def _dendrogram(da, args):
    from . import dendrogram

    fig, labels = dendrogram(da, n_leaves=args.n_leaves, n_examples=args.n_examples, letters=not args.no_letters,
                             dataset_path=args.dataset_path, title=args.title, regimes=args.regimes)
    if args.labels_out is not None:
        from ..._io import write_text

        write_text(args.labels_out, labels.to_dataframe().to_csv())
        print(f"wrote cluster labels to {args.labels_out}")
    return fig


def _scatter_args(q: argparse.ArgumentParser) -> None:
    _projection(q)
    q.add_argument("--n-insets", type=_whole(0), default=12, help="tiles shown as images (default 12)")
    q.add_argument("--color-by", default=None, help="coordinate to colour points by (default: regime if known)")


def _scatter(da, args):
    from . import scatter

    return scatter(da, dims=args.dims, method=args.method, n_insets=args.n_insets, color_by=args.color_by,
                   dataset_path=args.dataset_path, title=args.title)[0]


def _grid_args(q: argparse.ArgumentParser) -> None:
    _projection(q)
    q.add_argument("--rows", type=_whole(1), default=6, help="grid rows (default 6)")
    q.add_argument("--cols", type=_whole(1), default=8, help="grid columns (default 8)")


def _grid(da, args):
    from . import grid

    return grid(da, dims=args.dims, method=args.method, n_rows=args.rows, n_cols=args.cols,
                dataset_path=args.dataset_path, title=args.title)[0]


def _boxplots_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--clusters", default="ward",
                   help="'ward' (default: Ward clusters of the embeddings, A, B, ... as the dendrogram's "
                        "leaves), a per-tile coordinate, e.g. regime_name, or a regimes file REGIMES.json (the "
                        "regimes of the regime maps, each tile's nearest)")
    q.add_argument("--n-clusters", type=_whole(2), default=None,
                   help="Ward clusters (default: the number of true regimes, or 6)")
    _variables(q, "plot")


def _boxplots(da, args):
    from .physical import cluster_boxplots

    return cluster_boxplots(da, clusters=args.clusters, variables=args.variables, n_clusters=args.n_clusters,
                            title=args.title)[0]


def _pc_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--n-components", type=_whole(1), default=5, help="principal components (default 5)")
    _variables(q, "correlate with")


def _pc_correlations(da, args):
    from .physical import pc_correlation_heatmap

    return pc_correlation_heatmap(da, n_components=args.n_components, variables=args.variables,
                                  title=args.title)[0]


def _map_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--time", default="0", metavar="INDEX|TIME",
                   help="scene: an index into the map's times or a scan time (default 0, the first)")
    q.add_argument("--regimes", type=Path, default=None, metavar="REGIMES.json",
                   help="regimes file, for an example tile of each regime in the legend")
    q.add_argument("--composite", type=Path, default=None,
                   help="composite to draw under the regimes (default: the one the map names)")


def _map(ds, args):
    from . import regime_map

    time = int(args.time) if args.time.lstrip("-").isdigit() else args.time
    return regime_map(ds, time=time, composite=args.composite, regimes=args.regimes, truth=not args.no_truth,
                      title=args.title)


def _fractions_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--bbox", type=float, nargs=4, default=None, metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help="only cells centred in this box (degrees; default the whole map)")


def _fractions(ds, args):
    from . import regime_fractions_plot

    return regime_fractions_plot(ds, bbox=args.bbox, truth=not args.no_truth, title=args.title)


def _environment_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--x", required=True, help="environment field on the x axis (registry name, e.g. EIS)")
    q.add_argument("--y", required=True, help="environment field on the y axis (e.g. WS10)")
    q.add_argument("--regimes", type=Path, default=None, metavar="REGIMES.json",
                   help="for embeddings: regimes file (each tile's nearest regime; default: the regime_name "
                        "coordinate, else Ward clusters)")
    q.add_argument("--clusters", default=None, help="for embeddings without --regimes: a label coordinate or 'ward'")
    q.add_argument("--unassigned-distance", type=_unassigned_distance, default=None, metavar="D",
                   help="for embeddings with --regimes: tiles farther than D (embedding units) from every centroid "
                        "are unassigned and left out (default: the regimes file's unassigned_distance of each "
                        "regime; a regime map carries its own)")
    q.add_argument("--bins", type=_whole(1), nargs=2, default=(10, 10), metavar=("NX", "NY"),
                   help="bins along x and y (default 10 10)")
    q.add_argument("--min-count", type=_whole(1), default=10, help="fewest samples for a bin to be shown (default 10)")


def _environment(data, args):
    from .environment import environment_figure

    return environment_figure(data, args.x, args.y, regimes=args.regimes, clusters=args.clusters,
                              x_bins=args.bins[0], y_bins=args.bins[1], min_count=args.min_count, title=args.title,
                              unassigned_distance=args.unassigned_distance)[0]


def _unassigned_distance(text: str) -> float:
    """``--unassigned-distance`` (as ``regimes assign`` takes it)."""
    from ...cli.maps import _distance

    return _distance(text)


def _composite(path, args):
    from .composite import composite_quicklook

    return composite_quicklook(path, title=args.title)


register_plot("composite", PlotKind("quick look of a composite file (north up over its domain, titled with recipe, "
                                    "domain and scan time)", "composite", _composite))
register_plot("dendrogram", PlotKind("Ward dendrogram with example tiles under each leaf", "embeddings",
                                     _dendrogram, _dendrogram_args))
register_plot("scatter", PlotKind("2-D scatter with tile images around the points", "embeddings", _scatter,
                                  _scatter_args))
register_plot("grid", PlotKind("grid of tiles ordered along two embedding dimensions", "embeddings", _grid,
                               _grid_args))
register_plot("boxplots", PlotKind("box plots of the organisation indices and co-located fields per cluster (Ward "
                                   "clusters, or a label such as regime_name)", "embeddings", _boxplots,
                                   _boxplots_args))
register_plot("pc-correlations", PlotKind("heatmap of the correlation of the embeddings' principal components "
                                          "with the organisation indices and fields", "embeddings",
                                          _pc_correlations, _pc_args))
register_plot("map", PlotKind("regimes of one scene over its composite (with the true regimes, where known)",
                              "regime_map", _map, _map_args))
register_plot("fractions", PlotKind("fraction of the domain in each regime through time", "regime_map",
                                    _fractions, _fractions_args))
register_plot("environment", PlotKind("frequency of each regime in 2-D bins of two environment fields (--x EIS "
                                      "--y WS10), with each regime's distribution of them", "embeddings_or_regime_map",
                                      _environment, _environment_args))

# the exploring kinds (interactive HTML scatter, TensorBoard projector export) register themselves
from . import kinds_explore  # noqa: E402,F401
