"""Regimes against their environment, as one figure: the frequency of each
regime in 2-D bins of two environment variables (one panel per regime;
bins with fewer than ``min_count`` samples blank), the sample count per
bin, and each regime's distribution of the two variables (box plots). The
numbers come from :mod:`convml_tt.interpretation.environment`."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..environment import conditional_frequency, environment_table, unassigned_text

__all__ = ["environment_figure"]


def environment_figure(data: Any, x: str, y: str, regimes: Any = None, clusters: str | None = None,
                       x_bins: int | Sequence[float] = 10, y_bins: int | Sequence[float] = 10, min_count: int = 10,
                       title: str | None = None, unassigned_distance: Any = None):
    """Joint-histogram figure of regime frequency against ``x`` and ``y``
    (environment field names, e.g. ``"EIS"``, ``"WS10"``).

    ``data``: embeddings with environment coordinates or a regime map (or
    a path), ``regimes``/``clusters``/``unassigned_distance`` as in
    :func:`~convml_tt.interpretation.environment.environment_table`
    (unassigned samples are left out; the title says how many).

    Returns ``(fig, freq)`` with ``freq`` the
    :func:`~convml_tt.interpretation.environment.conditional_frequency` Dataset.
    """
    import matplotlib.pyplot as plt

    table = environment_table(data, variables=[x, y], regimes=regimes, clusters=clusters,
                              unassigned_distance=unassigned_distance)
    freq = conditional_frequency(table, x, y, x_bins, y_bins, min_count)
    order = [str(r) for r in freq.regime.values]
    units = table.attrs["units"]
    label = {v: f"{v} ({units[v]})" if units.get(v) else v for v in (x, y)}
    n = len(order)
    ncols = min(4, n + 1)
    nrows = int(np.ceil((n + 1) / ncols)) + 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False, layout="constrained")
    xe, ye = freq["x_edges"].values, freq["y_edges"].values
    mesh = None
    for i, r in enumerate(order):
        ax = axes[i // ncols][i % ncols]
        mesh = ax.pcolormesh(xe, ye, freq["frequency"].sel(regime=r).values.T, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"regime {r}", fontsize=10)
        ax.set_xlabel(label[x], fontsize=8)
        ax.set_ylabel(label[y], fontsize=8)
    if mesh is not None:
        fig.colorbar(mesh, ax=[axes[i // ncols][i % ncols] for i in range(n)], shrink=0.8, label="fraction of bin")
    ax = axes[n // ncols][n % ncols]
    count = freq["count"].values.T.astype(float)
    cm = ax.pcolormesh(xe, ye, np.where(count > 0, count, np.nan), cmap="Greys")
    fig.colorbar(cm, ax=ax, shrink=0.8, label="samples")
    ax.set_title(f"samples per bin (min {freq.attrs['min_count']})", fontsize=10)
    ax.set_xlabel(label[x], fontsize=8)
    ax.set_ylabel(label[y], fontsize=8)
    for j in range(n + 1, (nrows - 1) * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    labels = table["regime"].to_numpy()
    for k, v in enumerate((x, y)):
        if k >= ncols:
            break
        ax = axes[nrows - 1][k]
        vals = table[v].to_numpy(np.float64)
        ax.boxplot([vals[(labels == r) & np.isfinite(vals)] for r in order], widths=0.6, showfliers=False)
        ax.set_xticks(np.arange(1, n + 1))
        ax.set_xticklabels(order, fontsize=8)
        ax.set_ylabel(label[v], fontsize=8)
        ax.set_title(f"{v} per regime", fontsize=10)
    for k in range(2, ncols):
        axes[nrows - 1][k].set_visible(False)
    if title is not False:
        fig.suptitle(title or f"regime frequency against {x} and {y} ({len(table)} samples"
                              f"{unassigned_text(table)})", fontsize=11)
    return fig, freq
