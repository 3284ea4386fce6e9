"""Regimes along trajectories, as one figure: the trajectories' tracks
coloured by regime (lat/lon), the regime sequences (one row per
trajectory, one column per time; pale where a point has no tile, grey
where it is unassigned, as in the regime maps) and the transition
probability matrix with its Wilson intervals (unassigned: its last row and
column). The numbers come from :mod:`convml_tt.interpretation.transitions`."""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..transitions import UNASSIGNED_STATE, has_unassigned, transition_statistics
from ..unassigned import GREY, UNASSIGNED

__all__ = ["sequences_figure"]


def sequences_figure(seq: xr.Dataset, step: int = 1, regime_map: xr.Dataset | None = None,
                     title: str | None = None):
    """Figure of regime sequences (:func:`~convml_tt.interpretation.transitions.regime_sequences`).

    ``regime_map``: a regime map (``convml_tt regimes assign``, same regimes)
    drawn under the tracks: its scene nearest the middle of the trajectory times.

    Returns ``(fig, stats)`` with ``stats`` the
    :func:`~convml_tt.interpretation.transitions.transition_statistics` of ``step``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    names = [str(s) for s in json.loads(seq.attrs["regime_names"])] if "regime_names" in seq.attrs else None
    reg = np.asarray(seq["regime"].transpose("trajectory", "time").values, np.int64)
    if names is None:
        names = [str(i) for i in range(int(reg.max(initial=-1)) + 1)]
    n = len(names)
    colours = [plt.get_cmap("tab10")(i % 10) for i in range(n)]
    stats = transition_statistics(seq, step=step)
    cut = has_unassigned(seq)
    shown = np.where(reg == UNASSIGNED, n, reg)  # unassigned: the grey state after the regimes
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained",
                             gridspec_kw={"width_ratios": [1.1, 1.4, 1.0]})
    ax = axes[0]
    if regime_map is not None:
        _map_under(ax, regime_map, seq, colours)
    lat, lon = seq["lat"].values, seq["lon"].values
    for i in range(reg.shape[0]):
        ax.plot(lon[i], lat[i], "-", color="0.6", lw=0.8, zorder=1)
        ok = shown[i] >= 0
        ax.scatter(lon[i][ok], lat[i][ok], c=[(colours + [GREY])[r] for r in shown[i][ok]], s=14, zorder=2)
        ax.scatter(lon[i][~ok], lat[i][~ok], facecolors="none", edgecolors="0.5", s=14, zorder=2)
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    under = f" over the regime map of {ax.get_label()}" if regime_map is not None else ""
    ax.set_title("tracks (open: no tile" + (", grey: unassigned)" if cut else ")") + under, fontsize=10)
    ax = axes[1]
    states = n + 1 if cut else n
    cmap = ListedColormap([(0.93, 0.93, 0.93, 1.0)] + colours + ([GREY] if cut else []))
    im = ax.imshow(np.where(shown < 0, -1, shown) + 1, cmap=cmap, vmin=-0.5, vmax=states + 0.5, aspect="auto",
                   interpolation="nearest")
    times = np.asarray(seq["time"].values).astype("datetime64[m]")
    ticks = np.unique(np.linspace(0, len(times) - 1, min(4, len(times))).round().astype(int))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(times[t]).replace("T", "\n") for t in ticks], fontsize=7)
    ax.set_ylabel("trajectory")
    ax.set_title("regime sequences", fontsize=10)
    cb = fig.colorbar(im, ax=ax, ticks=np.arange(states + 1), shrink=0.9)
    cb.ax.set_yticklabels(["no tile"] + names + ([UNASSIGNED_STATE] if cut else []))
    ax = axes[2]
    p = stats["probability"].values
    rows = [str(r) for r in stats["from_regime"].values]
    n = len(rows)
    ax.imshow(np.nan_to_num(p), cmap="Blues", vmin=0, vmax=1)
    lo, hi = stats["lower"].values, stats["upper"].values
    for a in range(n):
        for b in range(n):
            if np.isfinite(p[a, b]):
                ax.text(b, a, f"{p[a, b]:.2f}\n[{lo[a, b]:.2f}, {hi[a, b]:.2f}]", ha="center", va="center",
                        fontsize=7, color="white" if p[a, b] > 0.6 else "black")
    ax.set_xticks(range(n))
    ax.set_xticklabels(rows, rotation=30 if cut else 0)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"{nm} ({int(c)})" for nm, c in zip(rows, stats["n_from"].values)])
    ax.set_xlabel("to regime")
    ax.set_ylabel("from regime (pairs)")
    hours = stats.attrs["time_step_s"] / 3600
    ax.set_title(f"P(to | from) after {hours:g} h, {100 * stats.attrs['confidence']:.0f} % Wilson", fontsize=10)
    if title is not False:
        un = f", {int((reg == UNASSIGNED).sum())} unassigned" if cut else ""
        fig.suptitle(title or f"regimes along {reg.shape[0]} trajectories ({int((reg >= 0).sum())} of "
                              f"{reg.size} points with a regime{un})", fontsize=11)
    return fig, stats


def _map_under(ax, rmap: xr.Dataset, seq: xr.Dataset, colours: list) -> None:
    """The regime map's scene nearest the middle of the trajectory times, under the tracks (pale)."""
    from matplotlib.colors import ListedColormap

    if "regime" not in rmap or "lat" not in rmap or "lon" not in rmap:
        raise ValueError("regime_map must be a regime map with regime(time, y, x) and 2-D lat/lon "
                         "(`convml_tt regimes assign`)")
    t = np.asarray(seq["time"].values).astype("datetime64[s]")
    middle = t[0] + (t[-1] - t[0]) / 2
    times = np.asarray(rmap["time"].values).astype("datetime64[s]")
    k = int(np.argmin(np.abs(times - middle)))
    reg = np.asarray(rmap["regime"].isel(time=k).values, np.float64)
    reg[reg == UNASSIGNED] = len(colours)  # grey, as in the map plots
    reg[reg < 0] = np.nan
    ax.pcolormesh(rmap["lon"].values, rmap["lat"].values, reg, cmap=ListedColormap(colours + [GREY]), vmin=-0.5,
                  vmax=len(colours) + 0.5, alpha=0.35, shading="nearest", zorder=0)
    ax.set_label(str(times[k])[:16].replace("T", " "))
