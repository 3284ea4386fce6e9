"""The options of `convml_tt evaluate` that judge regimes without truth
(stability, choice of N, persistence) and against human classifications;
tables printed and written as CSV (with the choice-of-N plot) to a folder."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import number_in, whole


def _n_range(text: str) -> list[int]:
    from ..interpretation.stability import parse_range

    try:
        return parse_range(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_judging_arguments(p: argparse.ArgumentParser) -> None:
    """The judging options of ``evaluate``."""
    g = p.add_argument_group("judging without truth, and against human labels")
    g.add_argument("--stability", action="store_true",
                   help="ARI between refits of k-means regimes under bootstrap and seed (N: --n-clusters, else "
                        "the number of labels, else 6)")
    g.add_argument("--choose-n", type=_n_range, default=None, metavar="LOW:HIGH",
                   help="choice-of-N table and plot for N in LOW..HIGH: refit ARI, silhouette, within-regime spread")
    g.add_argument("--refits", type=whole(2), default=10, help="refits per stability measure (default 10)")
    g.add_argument("--human-labels", type=Path, default=None, metavar="FILE",
                   help="human classifications: plain boxes CSV, Zooniverse classifications CSV, or a C3ONTEXT "
                        "level-3 zarr/netCDF (docs/judging.md); reports the agreement of the regimes")
    g.add_argument("--time-tolerance", type=number_in(unit="h"), default=3.0, metavar="HOURS",
                   help="largest gap between a label time and its scan (default 3 h)")
    g.add_argument("--regimes", type=Path, default=None,
                   help="regimes file giving the tiles' regimes for --human-labels on embeddings (default: k-means "
                        "with N = the human classes + 1)")
    g.add_argument("--tables", type=Path, default=None, metavar="DIR",
                   help="folder for the judging tables (CSV) and plot (default: INPUT_judging beside the input)")


def _wanted(args) -> bool:
    return bool(args.stability or args.choose_n or args.human_labels)


def _folder(args) -> Path:
    src = Path(args.embeddings)
    out = args.tables or src.with_name(f"{src.stem}_judging")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _save(df: Any, folder: Path, name: str, written: list[Path]) -> None:
    from .._io import write_text

    written.append(write_text(folder / name, df.to_csv()))


def judge_embeddings(args, da: Any) -> str:
    """The judging sections for embeddings (markdown), tables written."""
    if not _wanted(args):
        return ""
    from ..interpretation.evaluate import label_coordinate, to_markdown
    from ..interpretation.stability import choose_n, choose_n_plot, refit_stability

    folder, written, parts = _folder(args), [], []
    if args.stability:
        import numpy as np
        import pandas as pd

        n = args.n_clusters
        if n is None:
            name = label_coordinate(da, args.label)
            n = len({str(v) for v in np.asarray(da[name].values) if str(v)}) if name else 6
        rows = {m: refit_stability(da, n, mode=m, n_refits=args.refits) for m in ("bootstrap", "seed")}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "refit"
        parts += [f"Regime stability (k-means, N = {n}; ARI between refits on the same embeddings, 1: identical "
                  f"partitions, ~0: chance):", "", to_markdown(df), ""]
        _save(df, folder, "stability.csv", written)
    if args.choose_n:
        import matplotlib.pyplot as plt

        from ..interpretation.plots import save_figure

        df = choose_n(da, args.choose_n, n_refits=args.refits)
        parts += ["Choice of the number of regimes N (k-means): bootstrap and seed ARI, mean silhouette, "
                  "within-regime RMS distance (embedding units):", "", to_markdown(df), ""]
        _save(df, folder, "choose_n.csv", written)
        fig = choose_n_plot(df, title=f"choice of N: {Path(args.embeddings).name}")
        written.append(save_figure(fig, folder / "choose_n.png"))
        plt.close(fig)
    if args.human_labels:
        from ..interpretation.agreement import tile_agreement

        a = tile_agreement(da, args.human_labels, regimes=args.regimes, n_regimes=args.n_clusters,
                           tolerance_hours=args.time_tolerance)
        parts += [a.to_markdown()]
        _agreement_tables(a, folder, written)
    return "\n".join(parts) + f"\nJudging tables written to {folder}: {', '.join(p.name for p in written)}\n"


def _agreement_tables(a: Any, folder: Path, written: list[Path]) -> None:
    _save(a.precision, folder, "agreement_precision.csv", written)
    _save(a.match, folder, "agreement_match.csv", written)
    if len(a.fractions):
        _save(a.fractions, folder, "agreement_fractions.csv", written)


def judge_regime_map(args, rmap: Any) -> str:
    """What a regime map allows without truth (persistence; stability needs
    the embeddings) and the agreement with human labels; tables written."""
    from ..interpretation.evaluate import to_markdown
    from ..interpretation.stability import regime_persistence

    written: list[Path] = []
    folder = _folder(args) if (args.tables or _wanted(args)) else None  # persistence alone: printed only
    parts = []
    pers = regime_persistence(rmap)
    if len(pers):
        parts += ["Regime persistence between consecutive scans (share of cells keeping their regime; chance: "
                  "the same fractions placed at random; skill = (persistence - chance) / (1 - chance)):", "",
                  to_markdown(pers), ""]
        if folder is not None:
            _save(pers, folder, "persistence.csv", written)
    else:
        parts += ["Regime persistence: the map has a single scan; persistence needs two or more.", ""]
    if args.stability or args.choose_n:
        parts += ["Stability and the choice of N refit the regimes, which needs the embeddings they were fitted "
                  "to: run `convml_tt evaluate EMBEDDINGS.nc --stability --choose-n 2:10` on them.", ""]
    if args.human_labels:
        from ..interpretation.agreement import map_agreement

        a = map_agreement(rmap, args.human_labels, tolerance_hours=args.time_tolerance)
        parts += [a.to_markdown()]
        _agreement_tables(a, folder, written)
    if written:
        parts.append(f"Judging tables written to {folder}: {', '.join(p.name for p in written)}")
    return "\n".join(parts) + "\n"
