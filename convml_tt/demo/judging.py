"""The demo's judging of its regimes without truth and against human-style
labels: refit stability of the trained and the untrained network's
regimes, the choice-of-N table, the persistence of the trained regime map
between study days, and the agreement of that map with the synthetic truth
written as boxes in the Zooniverse classifications layout."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["run_judging", "judging_section", "truth_as_zooniverse", "ZOONIVERSE_LABELS"]

#: synthetic regime -> the Zooniverse tool label; the other regimes (clear, stratocumulus) are no pattern
ZOONIVERSE_LABELS = {"sugar": "Sugar", "flowers": "Flower", "fish": "Fish", "gravel": "Gravel"}
#: k-means refits per stability measure
REFITS = 10
#: the choice-of-N table: N = 2 .. N_MAX (at most a quarter of the study tiles), refits per N
N_MAX, CHOOSE_N_REFITS = 8, 4


def truth_as_zooniverse(regime_map: Any, path: Path, satellite: str = "Terra") -> Path:
    """Write the true regimes of a regime map as a Zooniverse classifications
    CSV (header ``fn, x, y, width, height, tool_label``): per scan day one
    image over the map (whole-degree bounds, 100 px per degree, row 0 at its
    northern edge), per cell of a pattern regime a box of half the cell
    spacing around its centre; an image without a pattern cell is one empty
    row. The image's overpass (Terra 10:30 local solar time) must lie within
    the tolerance of the scan for the boxes to be used."""
    import pandas as pd

    from .._io import atomic_path

    names = json.loads(regime_map.attrs["true_regime_names"])
    true = np.asarray(regime_map["true_regime"].transpose("time", "y", "x").values).astype(np.int64)
    lat, lon = np.asarray(regime_map["lat"].values), np.asarray(regime_map["lon"].values)
    lon0, lon1 = math.floor(np.nanmin(lon)) - 1, math.ceil(np.nanmax(lon)) + 1
    lat0, lat1 = math.floor(np.nanmin(lat)) - 1, math.ceil(np.nanmax(lat)) + 1
    half = 0.25 * float(regime_map.attrs.get("stride", 50e3)) / 111e3  # degrees
    label_of = np.array([ZOONIVERSE_LABELS.get(n, "") for n in names] + [""], dtype=object)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["fn", "x", "y", "width", "height", "tool_label"])
        for t, when in enumerate(pd.to_datetime(regime_map["time"].values)):
            fn = f"{satellite}_CorrectedReflectance{when:%Y%m%d}_{lon0}-{lon1}_{lat0}-{lat1}.jpeg"
            lab = label_of[np.where(true[t] >= 0, true[t], -1)]
            cells = np.argwhere(lab != "")
            if not len(cells):
                out.writerow([fn, "", "", "", "", ""])
            size = round(2 * half * 100)
            for i, j in cells:
                out.writerow([fn, round((lon[i, j] - half - lon0) * 100), round((lat1 - lat[i, j] - half) * 100),
                              size, size, lab[i, j]])
    return path


def run_judging(s: Any, paths: dict[str, Path], emb_all: Any, dev: Any, say: Callable[[str], None]) -> dict:
    """Stability, choice of N, persistence and agreement of the demo's regimes;
    writes ``judging/*.csv`` and ``choose_n.png`` in the demo folder; returns
    the tables."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from .._io import write_text
    from ..interpretation.agreement import map_agreement
    from ..interpretation.embeddings import get_embeddings
    from ..interpretation.evaluate import untrained_like
    from ..interpretation.plots import save_figure
    from ..interpretation.stability import choose_n, choose_n_plot, refit_stability, regime_persistence

    folder = paths["judging"]
    folder.mkdir(parents=True, exist_ok=True)
    anchors = emb_all.sel(tile_type="anchor").assign_attrs(emb_all.attrs, tile_type="anchor")
    n = s.n_regimes or max(2, len({int(r) for r in anchors["regime"].values if int(r) >= 0}))
    untrained = get_embeddings(untrained_like(json.loads(anchors.attrs["model_config"]), seed=s.train_seed),
                               paths["dataset"], stage="study", tile_type="anchor", batch_size=64, device=str(dev),
                               progress=False)
    say(f"      stability of {n} k-means regimes under bootstrap and seed: trained and untrained network")
    rows = {}
    for name, emb in (("trained", anchors), ("untrained", untrained)):
        b = refit_stability(emb, n, mode="bootstrap", n_refits=REFITS, seed=s.seed)
        rows[name] = {"bootstrap_ari": b["ari_mean"], "bootstrap_ari_min": b["ari_min"],
                      "seed_ari": refit_stability(emb, n, mode="seed", n_refits=REFITS, seed=s.seed)["ari_mean"],
                      "n_tiles": b["n_tiles"]}
    stability = pd.DataFrame.from_dict(rows, orient="index")
    stability.index.name = "embedding"
    write_text(folder / "stability.csv", stability.to_csv())
    high = int(min(N_MAX, max(3, anchors.sizes["tile_id"] // 4)))
    say(f"      choice of N: 2..{high} regimes of the trained encoder")
    table = choose_n(anchors, range(2, high + 1), n_refits=CHOOSE_N_REFITS, seed=s.seed)
    write_text(folder / "choose_n.csv", table.to_csv())
    fig = choose_n_plot(table, title="choice of N: trained encoder, study-set anchors")
    save_figure(fig, paths["choose_n"])
    plt.close(fig)
    out = {"n_regimes": n, "stability": stability, "choose_n": table, "persistence": None, "agreement": None}
    rmap_path = paths["maps"] / "regime_map_trained.nc"
    if rmap_path.exists():
        from ..interpretation.regimes import load_regime_map

        rmap = load_regime_map(rmap_path)
        out["persistence"] = regime_persistence(rmap)
        write_text(folder / "persistence.csv", out["persistence"].to_csv())
        if "true_regime" in rmap.variables and "true_regime_names" in rmap.attrs:
            labels = truth_as_zooniverse(rmap, folder / "truth_zooniverse.csv")
            out["agreement"] = a = map_agreement(rmap, labels, tolerance_hours=3.0)
            for key in ("precision", "match", "fractions"):
                write_text(folder / f"agreement_{key}.csv", getattr(a, key).to_csv())
    return out


def judging_section(j: dict | None, figure: Path | None = None) -> list[str]:
    """The report's markdown section on judging the regimes without truth and against human-style labels."""
    from ..interpretation.evaluate import to_markdown

    if not j:
        return []
    st = j["stability"]
    tr, un = (st.loc[r, "bootstrap_ari"] for r in ("trained", "untrained"))
    lines = ["## Judging the regimes without truth", "",
             f"Stability of {j['n_regimes']} k-means regimes of the study-set anchors: adjusted Rand index between "
             f"refits on the same embeddings (bootstrap: {REFITS} fits to resampled tiles against the fit to all; "
             f"seed: {REFITS} single-initialisation fits, pairwise). 1: the same partition every time.", "",
             to_markdown(st), "",
             f"The trained encoder's regimes are {'more' if tr > un else 'NOT more'} stable than the untrained "
             f"network's (bootstrap ARI {tr:.3f} vs {un:.3f}).", "",
             "Choice of the number of regimes (trained encoder): refit ARI, mean silhouette, within-regime RMS "
             "distance (embedding units).", "", to_markdown(j["choose_n"]), ""]
    if figure is not None and Path(figure).exists():
        lines += [f"![choice of N]({Path(figure).name})", ""]
    if j.get("persistence") is not None and len(j["persistence"]):
        lines += ["Persistence of the trained regime map between consecutive study days (share of cells keeping "
                  "their regime, and what chance gives with the same fractions):", "",
                  to_markdown(j["persistence"].loc[["all"]]), ""]
    a = j.get("agreement")
    if a is not None:
        lines += ["## Agreement with human-style labels", "",
                  "The synthetic truth of the trained regime map written as Zooniverse classification boxes "
                  "(sugar, flower, fish, gravel; clear and stratocumulus left unclassified), read back as a "
                  "human-label file and compared with the regimes (`convml_tt evaluate REGIME_MAP --human-labels`).",
                  "", a.to_markdown(), ""]
    return lines
