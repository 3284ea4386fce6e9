"""Judging regimes without truth: are they stable, how many are there, do
they persist, and on which tiles was an encoder scored.

- :func:`refit_stability`: the adjusted Rand index (ARI) between refits of
  the regimes on the same embeddings, under bootstrap resampling of the
  tiles (each refit labels every tile by its nearest centroid and is
  compared with the fit to all tiles) and under the seed (k-means with one
  initialisation from each seed, compared pairwise). 1: every refit makes
  the same partition; about 0: refits agree no better than chance.
- :func:`choose_n`: for each N in a range, the bootstrap and seed ARI, the
  mean silhouette and the within-regime spread (root-mean-square distance
  to the regime's centroid, embedding units); :func:`choose_n_plot`.
- :func:`regime_persistence`: for consecutive scans of a regime map, the
  share of cells keeping their regime, against the share that chance gives
  (the products of the two scans' regime fractions, summed).
- :func:`stage_note`: which tiles a triplet accuracy was measured on.

Embeddings are numpy arrays ``(n_tiles, emb_dim)`` or the DataArrays of
:func:`convml_tt.interpretation.embeddings.get_embeddings` (anchors used).
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .metrics import adjusted_rand_index, ward_clusters

__all__ = ["refit_stability", "choose_n", "choose_n_plot", "regime_persistence", "stage_note", "parse_range",
           "MODES"]

MODES = ("bootstrap", "seed")


def _array(embeddings: Any) -> np.ndarray:
    import xarray as xr

    if isinstance(embeddings, xr.DataArray):
        da = embeddings.sel(tile_type="anchor") if "tile_type" in embeddings.dims else embeddings
        x = np.asarray(da.transpose("tile_id", "emb_dim").values, np.float64)
    else:
        x = np.asarray(embeddings, np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n_tiles, emb_dim), got shape {x.shape}")
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 4:
        raise ValueError(f"stability needs at least 4 tiles with finite embeddings, got {len(x)}")
    return x


def _fit(x: np.ndarray, n: int, method: str, seed: int, n_init: int = 10) -> np.ndarray:
    """Centroids ``(n, emb_dim)`` of ``n`` regimes fitted to ``x`` as
    :func:`~convml_tt.interpretation.regimes.fit_regimes` fits them."""
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=n, n_init=n_init, random_state=seed).fit(x).cluster_centers_
    if method == "ward":
        lab = ward_clusters(x, n)
        return np.stack([x[lab == k].mean(axis=0) for k in range(n)])
    raise ValueError(f"method {method!r}: use 'kmeans' or 'ward'")


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d2 = ((x[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return np.argmin(d2, axis=1)


def refit_stability(embeddings: Any, n_regimes: int, method: str = "kmeans", mode: str = "bootstrap",
                    n_refits: int = 10, seed: int = 0) -> dict[str, float]:
    """How much the regimes change when they are fitted again.

    ``mode="bootstrap"``: ``n_refits`` fits to tiles drawn with replacement
    (seeded), each labelling every tile by its nearest centroid, ARI against
    the fit to all tiles. ``mode="seed"``: ``n_refits`` k-means fits to all
    tiles with one initialisation each (seeds ``seed .. seed + n_refits -
    1``), ARI between every pair (Ward is deterministic: ARI 1).

    Returns ``{"ari_mean", "ari_std", "ari_min", "n_refits", "n_tiles"}``.
    """
    x = _array(embeddings)
    if not 2 <= n_regimes < len(x):
        raise ValueError(f"n_regimes={n_regimes}: use 2 <= N < {len(x)} (the tiles)")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: use one of {MODES}")
    if n_refits < 2:
        raise ValueError(f"n_refits={n_refits}: use at least 2")
    rng = np.random.default_rng(seed)
    if mode == "bootstrap":
        ref = _nearest(x, _fit(x, n_regimes, method, seed))
        scores = []
        for _ in range(n_refits):
            pick = rng.integers(0, len(x), len(x))
            sample = x[pick]
            n = min(n_regimes, len(np.unique(sample, axis=0)))
            scores.append(adjusted_rand_index(ref, _nearest(x, _fit(sample, n, method, int(rng.integers(2**31))))))
    else:
        if method == "ward":
            scores = [1.0]
        else:
            labels = [_nearest(x, _fit(x, n_regimes, method, seed + i, n_init=1)) for i in range(n_refits)]
            scores = [adjusted_rand_index(a, b) for a, b in itertools.combinations(labels, 2)]
    s = np.asarray(scores)
    return {"ari_mean": float(s.mean()), "ari_std": float(s.std()), "ari_min": float(s.min()),
            "n_refits": int(n_refits), "n_tiles": int(len(x))}


def parse_range(text: str) -> list[int]:
    """``"2:10"`` -> [2, ..., 10] (inclusive); ``"4"`` -> [4]; a ValueError naming the form otherwise."""
    try:
        parts = [int(p) for p in str(text).split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] < 2 or parts[1] < parts[0]:
        raise ValueError(f"{text!r} is not a range of regime numbers; give LOW:HIGH with 2 <= LOW <= HIGH, e.g. 2:10")
    return list(range(parts[0], parts[1] + 1))


def choose_n(embeddings: Any, n_values: Sequence[int], method: str = "kmeans", n_refits: int = 10,
             seed: int = 0) -> pd.DataFrame:
    """The choice-of-N table: one row per N (index ``n_regimes``), columns
    ``bootstrap_ari``, ``bootstrap_ari_min``, ``seed_ari`` (means, see
    :func:`refit_stability`), ``silhouette`` (mean silhouette of the fit to
    all tiles, -1..1, Euclidean) and ``within_rms`` (root-mean-square
    distance of the tiles to their regime's centroid, embedding units).
    Stable N are those with a high ARI; the spread falls with N, a knee
    marks where more regimes stop explaining much."""
    from sklearn.metrics import silhouette_score

    x = _array(embeddings)
    rows = {}
    for n in n_values:
        n = int(n)
        if not 2 <= n < len(x):
            raise ValueError(f"N={n}: use 2 <= N < {len(x)} (the tiles)")
        c = _fit(x, n, method, seed)
        lab = _nearest(x, c)
        boot = refit_stability(x, n, method, "bootstrap", n_refits, seed)
        rows[n] = {
            "bootstrap_ari": boot["ari_mean"], "bootstrap_ari_min": boot["ari_min"],
            "seed_ari": refit_stability(x, n, method, "seed", n_refits, seed)["ari_mean"],
            "silhouette": float(silhouette_score(x, lab)) if len(np.unique(lab)) > 1 else float("nan"),
            "within_rms": float(np.sqrt(np.mean(np.sum((x - c[lab]) ** 2, axis=1)))),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "n_regimes"
    return df


def choose_n_plot(table: pd.DataFrame, title: str | None = None):
    """A figure of a :func:`choose_n` table: ARI and silhouette (left axis)
    and the within-regime spread (right axis) against N."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    n = table.index.values
    for col, style in (("bootstrap_ari", "o-"), ("seed_ari", "s--"), ("silhouette", "^-")):
        if col in table:
            ax.plot(n, table[col].values, style, label=col.replace("_", " "))
    ax.set_xlabel("number of regimes N")
    ax.set_ylabel("ARI between refits / silhouette")
    ax.set_ylim(min(-0.05, float(np.nanmin(table.get("silhouette", pd.Series([0])).values)) - 0.05), 1.05)
    ax2 = ax.twinx()
    ax2.plot(n, table["within_rms"].values, "k:", marker="x", label="within-regime RMS distance")
    ax2.set_ylabel("within-regime RMS distance (embedding units)")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", fontsize=8)
    ax.set_xticks(n)
    ax.set_title(title or "choice of the number of regimes")
    fig.tight_layout()
    return fig


def regime_persistence(regime_map: Any) -> pd.DataFrame:
    """Regime persistence between consecutive scans of a regime map.

    For each pair of consecutive times (sorted), the cells with a regime
    (code >= 0) in both: ``persistence``, the share keeping their regime;
    ``chance``, the share expected if the second scan's regimes were placed
    at random with its fractions (sum over regimes of the product of the two
    scans' fractions over those cells); ``skill`` = (persistence - chance) /
    (1 - chance) (1: every cell kept its regime, 0: no better than chance);
    ``gap_h``, the hours between the scans; ``n_cells``. A last row
    ``all`` pools the pairs (cell-weighted). Empty when the map has fewer
    than two times.
    """
    from .regime_maps import check_regime_map, map_name, open_map

    ds = open_map(regime_map, "regime map", load=True)
    check_regime_map(ds, map_name(regime_map))
    if "regime" not in ds.variables:
        raise ValueError("persistence needs a regime map (a 'regime' variable); make one with `convml_tt regimes "
                         "assign`")
    ds = ds.sortby("time")
    reg = np.asarray(ds["regime"].transpose("time", "y", "x").values).astype(np.int64)
    times = pd.to_datetime(ds["time"].values)
    rows, idx = [], []
    n_codes = int(max(reg.max() + 1, 1))
    for t in range(len(times) - 1):
        a, b = reg[t].ravel(), reg[t + 1].ravel()
        ok = (a >= 0) & (b >= 0)
        n = int(ok.sum())
        if n == 0:
            continue
        pa = np.bincount(a[ok], minlength=n_codes) / n
        pb = np.bincount(b[ok], minlength=n_codes) / n
        rows.append({"persistence": float(np.mean(a[ok] == b[ok])), "chance": float(pa @ pb),
                     "gap_h": float((times[t + 1] - times[t]).total_seconds() / 3600), "n_cells": n})
        idx.append(f"{times[t]:%Y-%m-%dT%H:%M} -> {times[t + 1]:%Y-%m-%dT%H:%M}")
    df = pd.DataFrame(rows, index=pd.Index(idx, name="scans"),
                      columns=["persistence", "chance", "skill", "gap_h", "n_cells"])
    if len(df):
        w = df["n_cells"].to_numpy(float)
        df.loc["all"] = [float(np.average(df.persistence, weights=w)), float(np.average(df.chance, weights=w)),
                         np.nan, float(np.average(df.gap_h, weights=w)), int(w.sum())]
        with np.errstate(invalid="ignore", divide="ignore"):
            df["skill"] = (df.persistence - df.chance) / (1 - df.chance)
        df["n_cells"] = df["n_cells"].astype(int)
    return df


def stage_note(embeddings: Any) -> str:
    """One sentence naming the tiles a triplet accuracy of ``embeddings`` is
    measured on: the held-out study scenes, or the training set (where it
    measures how well the network fitted its own training triplets, not how
    it does on scenes it has not seen)."""
    stage = str(getattr(embeddings, "attrs", {}).get("stage", "") or "")
    if stage == "train":
        return ("Triplet accuracy measured on the TRAINING set (stage train): the triplets the network was "
                "trained on, so it says how well training fitted them, not how the encoder does on scenes it "
                "has not seen; embed the study stage (`convml_tt embed --stage study`) for held-out scenes.")
    if stage == "study":
        return "Triplet accuracy measured on the study set: held-out scenes (dates the network was not trained on)."
    return f"Triplet accuracy measured on tiles of stage {stage or 'unknown'!r}."
