"""What a demo run made, its targets and its markdown report."""
from __future__ import annotations

import datetime as dt
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .settings import STEPS, TARGETS, DemoSettings

__all__ = ["DemoResult", "check_targets", "format_report", "regime_index_checks", "regime_medians",
           "physical_section"]


@dataclass
class DemoResult:
    """What :func:`run_demo` made: paths, the quality table, targets and timings."""

    out: Path
    settings: DemoSettings
    device: str
    quality: Any  # pandas.DataFrame, rows trained/untrained/tile statistics
    targets: list[dict[str, Any]]
    timings: dict[str, float]
    reused: dict[str, bool]
    paths: dict[str, Path] = field(default_factory=dict)
    report: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per step (incl. worker processes)
    load_average: tuple[float, float, float] | None = None  # of the machine at the end (1, 5, 15 min)
    epochs: int | None = None  # epochs trained (settings.epochs, or fewer to fit settings.time_budget_s)
    epoch_s: float | None = None  # wall time (s) of the last epoch when the time budget stopped training
    map_quality: Any = None  # pandas.DataFrame: map_accuracy, fraction_mae, n_cells, unassigned_share per embedding
    physical: Any = None  # pandas.DataFrame: per-regime medians of the organisation indices (study anchors)
    judging: Any = None  # dict of demo.judging.run_judging: stability, choose_n, persistence, agreement
    environment: Any = None  # dict of demo.environment.environment_step: regimes against the synthetic environment

    @property
    def total_s(self) -> float:
        """Wall time of the whole run, seconds."""
        return float(sum(self.timings.values()))

    @property
    def all_targets_met(self) -> bool:
        """True when every quality target is met."""
        return all(t["met"] for t in self.targets)


def check_targets(quality: Any, total_s: float | None = None, n_reused: int = 0,
                  map_quality: Any = None) -> list[dict[str, Any]]:
    """Compare a quality table (and the map-quality table) with :data:`TARGETS`.

    Returns one dict per target: ``target`` (text), ``value`` (measured,
    text), ``met`` (bool; False when not measurable). With ``total_s``
    (seconds) the wall-time target is included; ``n_reused`` steps reused
    from an earlier run are mentioned next to it (a fresh run takes longer).
    """
    rows = []

    def get(row: str, col: str) -> float:
        try:
            v = float(quality.loc[row, col])
        except (KeyError, TypeError, ValueError):
            return float("nan")
        return v

    for col, name in (("triplet_accuracy", "study-set triplet accuracy"), ("knn_accuracy", "kNN regime accuracy")):
        v = get("trained", col)
        goal = TARGETS[col]
        rows.append({"target": f"{name} >= {goal:.2f}", "value": f"{v:.3f}", "met": bool(v >= goal)})
        margin = TARGETS["margin_over_baselines"]
        for base in ("untrained", "tile statistics"):
            b = get(base, col)
            diff = v - b
            rows.append({
                "target": f"{name}: >= {100 * margin:.0f} points above {base}",
                "value": f"{100 * diff:+.1f} points ({v:.3f} vs {b:.3f})" if math.isfinite(diff) else "not measured",
                "met": bool(diff >= margin - 1e-12),
            })
    if map_quality is not None:
        def mget(row: str, col: str) -> float:
            try:
                return float(map_quality.loc[row, col])
            except (KeyError, TypeError, ValueError):
                return float("nan")

        acc, un = mget("trained", "map_accuracy"), mget("untrained", "map_accuracy")
        goal = TARGETS["map_accuracy"]
        rows.append({"target": f"regime-map accuracy >= {goal:.2f}", "value": f"{acc:.3f}",
                     "met": bool(acc >= goal)})
        margin = TARGETS["map_margin_over_untrained"]
        rows.append({"target": f"regime-map accuracy: >= {100 * margin:.0f} points above untrained",
                     "value": f"{100 * (acc - un):+.1f} points ({acc:.3f} vs {un:.3f})",
                     "met": bool(acc - un >= margin - 1e-12)})
        err, goal = mget("trained", "fraction_mae"), TARGETS["fraction_error"]
        rows.append({"target": f"regime-fraction error <= {goal:.2f}", "value": f"{err:.3f}",
                     "met": bool(err <= goal)})
    if total_s is not None:
        goal = TARGETS["wall_time_s"]
        note = f" ({n_reused} step(s) reused from an earlier run)" if n_reused else ""
        rows.append({"target": f"whole demo within {goal / 60:.0f} min", "value": f"{total_s:.0f} s{note}",
                     "met": bool(total_s <= goal)})
    return rows


#: what the synthetic generator (convml_tt.data.synthetic: regimes.py, textures.py) makes each
#: regime, as statements on the per-regime medians of the organisation indices: (statement,
#: indices needed, regimes needed, test on {regime: {index: median}} and its cloudy regimes);
#: the comparisons are among the regimes present
_REGIME_EXPECTATIONS = (
    ("clear has the lowest and stratocumulus the highest cloud fraction (the generator's nominal "
     "cloud fractions: clear 0.02 ... stratocumulus 0.88)", ("cloud_fraction",), ("clear", "stratocumulus"),
     lambda m, cloudy: min(m, key=lambda r: m[r]["cloud_fraction"]) == "clear"
     and max(m, key=lambda r: m[r]["cloud_fraction"]) == "stratocumulus"),
    ("sugar has the smallest cloud objects of the cloudy regimes (small cumuli)", ("mean_object_size_m",),
     ("sugar",), lambda m, cloudy: min(cloudy, key=lambda r: m[r]["mean_object_size_m"]) == "sugar"),
    ("sugar has the most cloud objects (many small, evenly spread cumuli)", ("n_objects",), ("sugar",),
     lambda m, cloudy: max(m, key=lambda r: m[r]["n_objects"]) == "sugar"),
    ("sugar is the most regular of the cloudy regimes (lowest I_org)", ("iorg",), ("sugar",),
     lambda m, cloudy: min(cloudy, key=lambda r: m[r]["iorg"]) == "sugar"),
    ("flowers have larger objects than sugar and gravel (large rounded patches)", ("mean_object_size_m",),
     ("flowers",), lambda m, cloudy: all(m["flowers"]["mean_object_size_m"] > m[r]["mean_object_size_m"]
                                         for r in ("sugar", "gravel") if r in m)),
    ("fish are more elongated than flowers (bands of cloud against rounded patches)",
     ("mean_object_elongation",), ("fish", "flowers"),
     lambda m, cloudy: m["fish"]["mean_object_elongation"] > m["flowers"]["mean_object_elongation"]),
    ("stratocumulus has the largest objects and the least open sky (a closed deck)",
     ("mean_object_size_m", "open_sky"), ("stratocumulus",),
     lambda m, cloudy: max(m, key=lambda r: m[r]["mean_object_size_m"]) == "stratocumulus"
     and min(m, key=lambda r: m[r]["open_sky"]) == "stratocumulus"),
)


def regime_index_checks(medians: Any) -> list[tuple[str, bool | None]]:
    """Whether the per-regime medians of the organisation indices are ordered
    as the synthetic generator made the regimes: ``[(statement, holds)]``
    (comparisons among the regimes present), ``holds`` None where a regime
    or index a statement needs is missing, or fewer than three cloudy regimes
    are there to compare. ``medians``: a DataFrame, one row per regime name,
    one column per index."""
    m = {str(r): {str(k): float(v) for k, v in row.items() if isinstance(v, (int, float, np.number))}
         for r, row in medians.iterrows()}
    cloudy = {r: v for r, v in m.items() if r != "clear"}
    out: list[tuple[str, bool | None]] = []
    for text, needs, regimes, test in _REGIME_EXPECTATIONS:
        ok = (len(cloudy) >= 3 and all(r in m for r in regimes)
              and all(k in v and np.isfinite(v[k]) for v in m.values() for k in needs))
        out.append((text, bool(test(m, cloudy)) if ok else None))
    return out


def regime_medians(embeddings: Any) -> Any:
    """Per-regime medians of the organisation indices of embeddings whose tiles
    carry true regimes (``regime_name``) and indices: a DataFrame, one row
    per regime in regime order, ``n_tiles`` then one column per index (sizes
    in km); None when either is missing."""
    import pandas as pd

    from ..interpretation.physical import cluster_medians, physical_variables

    da = embeddings.sel(tile_type="anchor") if "tile_type" in embeddings.dims else embeddings
    variables = physical_variables(da)
    if "regime_name" not in da.coords or not variables:
        return None
    med = cluster_medians(da, clusters="regime_name", variables=variables)
    df = pd.DataFrame(med.values, index=pd.Index([str(c) for c in med.cluster.values], name="regime"),
                      columns=[str(v) for v in med["variable"].values])
    df.insert(0, "n_tiles", med.n_tiles.values.astype(int))
    return df


def physical_section(medians: Any, figures: dict[str, Path] | None = None) -> list[str]:
    """The report's markdown section on the regimes in physical terms: the
    per-regime medians table, the expected-order checks and the figures."""
    from ..interpretation.evaluate import to_markdown

    if medians is None or len(medians) == 0:
        return []
    checks = regime_index_checks(medians)
    known = [c for c in checks if c[1] is not None]
    lines = [
        "## Regimes in physical terms",
        "",
        "Medians of the organisation indices of the study-set anchor tiles, by true regime (cloud mask of "
        "the composites' recipe, computed from the tiles' reflectances while the dataset was written; "
        "object sizes in km).",
        "",
        to_markdown(medians.rename(columns=lambda c: f"{c[:-2]} (km)" if str(c).endswith("_size_m") else c)),
        "",
        f"Expected order of the regimes, as the synthetic generator made them: {sum(h for _, h in known)} of "
        f"{len(known)} hold" + (f" ({len(checks) - len(known)} not checkable: regimes or indices missing)"
                                if len(known) < len(checks) else "") + ".",
        "",
    ]
    lines += [f"- {'yes' if h else ('NO' if h is not None else 'n/a')}: {text}" for text, h in checks]
    lines.append("")
    for name, path in (figures or {}).items():
        if path is not None and Path(path).exists():
            lines.append(f"![{name}]({Path(path).name})")
    return lines + [""]


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}, {os.cpu_count()} CPU core(s), {gpu}, torch {torch.__version__}"


def format_report(result: DemoResult) -> str:
    """The markdown report of a demo run: quality table, targets, timings, settings."""
    from ..interpretation.evaluate import to_markdown
    from ..interpretation.unassigned import DEFAULT_PERCENTILE

    s = result.settings
    lines = [
        "# convml_tt demo report",
        "",
        f"Synthetic GOES-16 ABI scenes -> composites -> triplets -> {s.arch} triplet encoder -> "
        f"embeddings of {int(result.quality.loc['trained', 'n_tiles']) if 'n_tiles' in result.quality else '?'} "
        f"study tiles. Run {dt.datetime.now():%Y-%m-%d %H:%M}, device `{result.device}`; {_machine()}.",
        "",
        "## Quality (study set)",
        "",
        "Fractions 0..1 (ARI -1..1); `untrained`: the same network with random weights; "
        "`tile statistics`: channel means/std, cloud fraction, spectral slope.",
        "",
        to_markdown(result.quality),
        "",
    ]
    if result.map_quality is not None:
        lines += [
            "## Regime maps (study scenes)",
            "",
            f"Tiles every {s.stride / 1e3:g} km over the domain in every study scene; k-means regimes "
            "fitted to the study anchors of each embedding, matched once to the true regimes (Hungarian "
            "method on the study tiles). `map_accuracy`: fraction of valid cells whose matched regime is "
            "the true regime covering most of the cell's tile; `fraction_mae`: mean absolute error of "
            "the per-scene regime fractions; both over the assigned cells (`n_cells`). "
            "`unassigned_share`: the valid cells farther from every centroid than the regimes' "
            f"unassigned distance (the {DEFAULT_PERCENTILE:g}th percentile of the study anchors' distances to their "
            "centroid), which no regime claims (docs/regimes.md).",
            "",
            to_markdown(result.map_quality),
            "",
        ]
    lines += physical_section(result.physical, {k: result.paths.get(k) for k in ("physical", "pc_correlations")})
    from .judging import judging_section

    lines += judging_section(result.judging, result.paths.get("choose_n"))
    if result.environment is not None:
        from .environment import environment_section

        lines += environment_section(result.environment)
    lines += [
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in result.targets:
        lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    n_met = sum(t["met"] for t in result.targets)
    lines += ["", f"{n_met} of {len(result.targets)} targets met.", "", "## Timings", "",
              "CPU time counts this process and its triplet-sampling workers; on a shared machine "
              "wall time exceeds it by what other jobs take"
              + (" (load average at the end: " + ", ".join(f"{v:.1f}" for v in result.load_average)
                 + " over 1, 5, 15 min)" if result.load_average else "") + ".",
              "", "| step | wall time (s) | CPU time (s) | |", "|---|---|---|---|"]
    for step in STEPS:
        if step in result.timings:
            note = "reused" if result.reused.get(step) else ""
            if step == "training" and result.epochs is not None and result.epochs < s.epochs:
                note = (f"{result.epochs} of {s.epochs} epochs: " if not note else note + ", ") + (
                    f"more would not have fit the {s.time_budget_s:g} s budget (judged after each epoch, the "
                    f"learning-rate schedule re-planned to end with them; the last took {result.epoch_s:.0f} s)"
                    if result.epoch_s is not None
                    else "as the interrupted run chose")
            c = result.cpu.get(step)
            lines.append(f"| {step} | {result.timings[step]:.1f} | {'' if c is None else f'{c:.1f}'} | {note} |")
    total_cpu = sum(result.cpu.values()) if result.cpu else None
    lines += [f"| **total** | **{result.total_s:.1f}** | {'' if total_cpu is None else f'{total_cpu:.1f}'} | |",
              "", "## Figures", ""]
    for name in ("domain", "dendrogram", "scatter", "grid", "regime_map", "fractions"):
        if name in result.paths and result.paths[name].exists():
            lines.append(f"![{name}]({result.paths[name].name})")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    for k, v in s.to_dict().items():
        lines.append(f"| {k} | {v} |")
        if k == "epochs" and result.epochs is not None and result.epochs != v:
            lines.append(f"| epochs trained | {result.epochs} (time budget) |")
    lines += ["", "Files: " + ", ".join(f"`{p.name}`" for k, p in result.paths.items()
                                         if k not in ("data_root",) and p.exists()) + "."]
    return "\n".join(lines) + "\n"
