"""The demo's environment step: do the regimes it finds live in the environments the generator gave them?

The synthetic scenes' regimes each have an estimated inversion strength,
10 m wind, 700 hPa humidity and SST (:mod:`convml_tt.data.synthetic.environment`).
:func:`environment_step` writes those fields as CDS-layout ERA5 files at
the study scenes' times, co-locates them with the study-set anchor tiles
(:meth:`convml_tt.data.fields.Environment.scene_values`, the tiles' own
footprints), and compares, per regime the demo found (the trained
network's regimes, each tile's nearest centroid, named with the true
regime it was matched to), the tiles' median EIS and wind speed with the
generator's values of that true regime: the Spearman rank correlation
across the found regimes (1: the ordering along EIS / wind is recovered).
It reads the demo's outputs and writes new files only, so nothing the
earlier steps made (quality tables included) changes.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = ("EIS", "WS10", "RH700", "SST")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def environment_step(emb_all: Any, settings: Any, regimes_path: Path, out: Path, figure: Path) -> dict[str, Any]:
    """Co-locate the synthetic environment with the study anchors and compare (module docstring).

    Returns ``{"table": per-found-regime DataFrame (n, true regime, medians,
    generator's EIS/WS10), "rho": {"EIS": ..., "WS10": ...}, "figure": path,
    "unassigned": (anchors left out as unassigned, their share 0-1)}``;
    writes ``out/era5/*.nc``, ``out/environment.csv`` and the joint-histogram
    ``figure`` (regime frequency against EIS and WS10).
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    from .._io import write_text
    from ..data.fields import Environment
    from ..data.synthetic.environment import REGIME_ENVIRONMENT, write_synthetic_era5
    from ..data.synthetic.geometry import sector_geometry
    from ..data.tiles import Tile
    from ..interpretation.environment import environment_table
    from ..interpretation.plots import save_figure
    from ..interpretation.plots.environment import environment_figure
    from ..interpretation.regimes import Regimes

    da = emb_all.sel(tile_type="anchor") if "tile_type" in emb_all.dims else emb_all
    times = da["time"].values.astype("datetime64[s]")
    t0 = times.min().astype(dt.datetime).replace(minute=0, second=0, microsecond=0)
    hours = np.unique(np.rint((times - np.datetime64(t0, "s")) / np.timedelta64(1, "h")).astype(int))
    center = sector_geometry(settings.center, settings.size_km, 16).center
    region_km = settings.region_km or settings.size_km / 2.85
    lat, lon = da["lat"].values, da["lon"].values
    files = write_synthetic_era5(out / "era5", t0, hours, seed=settings.seed, center=center, region_km=region_km,
                                 lat_range=(np.floor(lat.min()) - 2.0, np.ceil(lat.max()) + 2.0),  # the tiles
                                 lon_range=(np.floor(lon.min()) - 2.0, np.ceil(lon.max()) + 2.0))  # and 2 degrees
    env = Environment(list(files.values()), FIELDS)
    values: list[dict] = [{} for _ in range(da.sizes["tile_id"])]
    for t in np.unique(times):
        idx = np.flatnonzero(times == t)
        got = env.scene_values([Tile(lat[i], lon[i], float(settings.tile_size_m)) for i in idx], t)
        for i, g in zip(idx, got):
            values[i] = g
    coords = {f"{f}_mean": ("tile_id", np.array([np.nan if v.get(f"{f}_mean") is None else v[f"{f}_mean"]
                                                 for v in values]), {"units": env.units[f]["units"]})
              for f in FIELDS}
    da = da.assign_coords(coords)
    regimes = Regimes.load(regimes_path)
    table = environment_table(da, list(FIELDS), regimes=regimes)
    truth_of = {n: (regimes.label_names[m] if regimes.match and m >= 0 else None)
                for n, m in zip(regimes.names, regimes.match or [-1] * regimes.n_regimes)}
    rows = []
    for name, part in table.groupby("regime", sort=False):
        true = truth_of.get(name)
        rows.append({"regime": name, "true regime": true, "tiles": len(part),
                     **{f"median {f}": float(np.nanmedian(part[f])) for f in FIELDS},
                     "generator EIS": REGIME_ENVIRONMENT[true][0] if true else np.nan,
                     "generator WS10": REGIME_ENVIRONMENT[true][1] if true else np.nan})
    summary = pd.DataFrame(rows).sort_values("regime").set_index("regime")
    known = summary.dropna(subset=["generator EIS"])
    rho = {f: _spearman(known[f"median {f}"].to_numpy(), known[f"generator {f}"].to_numpy()) for f in ("EIS", "WS10")}
    write_text(out / "environment.csv", summary.to_csv())
    fig, _ = environment_figure(da, "EIS", "WS10", regimes=regimes, x_bins=6, y_bins=6, min_count=3,
                                title="study-set anchors: trained regimes against EIS and 10 m wind")
    save_figure(fig, figure)
    plt.close(fig)
    return {"table": summary, "rho": rho, "figure": figure,
            "unassigned": (table.attrs["n_unassigned"], table.attrs["unassigned_share"])}


def environment_section(result: dict[str, Any]) -> list[str]:
    """Markdown lines of the report's environment section."""
    t = result["table"]
    lines = ["## Regimes against the environment", "",
             "EIS, 10 m wind, 700 hPa humidity and SST of the synthetic environment (ERA5 files in the CDS "
             "layout, `convml_tt.data.synthetic.environment`), co-located with the study-set anchors; per regime "
             "the trained network found (nearest centroid; the true regime it matched), the tiles' medians and "
             "the generator's values of the matched regime.", "",
             "| regime | true regime | tiles | EIS (K) | WS10 (m/s) | RH700 (%) | SST (K) | generator EIS | "
             "generator WS10 |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in t.iterrows():
        lines.append(f"| {name} | {r['true regime'] or '-'} | {int(r['tiles'])} | {r['median EIS']:.2f} | "
                     f"{r['median WS10']:.2f} | {r['median RH700']:.1f} | {r['median SST']:.2f} | "
                     f"{r['generator EIS']:.1f} | {r['generator WS10']:.1f} |")
    rho = result["rho"]
    n_out, share = result.get("unassigned", (0, 0.0))
    if n_out:  # beyond the regimes' unassigned distance: in no regime's row
        lines += ["", f"{n_out} anchors ({100 * share:.1f} %) are farther from their nearest centroid than the "
                      f"regimes' unassigned distance and are left out, as in the regime maps."]
    lines += ["", f"Ordering recovered (Spearman rank correlation of the found regimes' medians with the "
                  f"generator's values): EIS {rho['EIS']:.2f}, wind speed {rho['WS10']:.2f}.", "",
              f"![regimes against EIS and wind]({Path(result['figure']).name})", ""]
    return lines
