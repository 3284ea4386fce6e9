"""Regime transitions recovered along the synthetic truth's trajectories, trained against untrained network.

Writes synthetic scenes whose regions change regime along the drift by the
known Markov chain (:class:`convml_tt.data.synthetic.environment.Transitions`,
:data:`~convml_tt.data.synthetic.environment.TRANSITIONS`, one step per
hour here) hourly from 12 to 18 UTC on ``--days`` days, makes their
composites, and follows true trajectories (the drift; started on a grid
wherever a ``--tile-size-m`` tile lies wholly inside one region) through them
with :func:`convml_tt.interpretation.transitions.regime_sequences`, for the
trained ``--model`` and for the same network with its initial random
weights (``untrained_like``). Regimes: the mean embedding of each true
regime over the first day's points (a nearest-centroid classifier of the
model's embeddings); the later days' points are assigned to the nearest.

Measures, on the later days (transitions between consecutive hourly scenes):

* **max |dP|**: the largest absolute difference between an entry of the
  estimated transition matrix and the generator's (rows with pairs);
* **entries within 0.1**: the percentage of the 36 entries within 0.1 of
  the generator's (the issue asks 100 % for the trained network and more
  than 10 points above the untrained one);
* **accuracy**: the percentage of points assigned their true regime;

and the same for the true regimes along the same trajectories (the
sampling error alone).

    python bench/transitions.py --model demo/model.pt --out DIR [--days 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np


def pure_starts(t0: dt.datetime, tile_m: float, spacing_km: float, center, size_km: float, region_km: float,
                transitions) -> tuple[np.ndarray, np.ndarray]:
    """Grid points over the sector whose tile (plus 20 %) is wholly inside one region at ``t0``."""
    from convml_tt.data.synthetic.environment import regime_of
    from convml_tt.data.tiles import Tile

    half = 0.5 * size_km / 111.2
    lat = np.arange(center[0] - half, center[0] + half, spacing_km / 111.2)
    lon = np.arange(center[1] - half, center[1] + half, spacing_km / (111.2 * np.cos(np.deg2rad(center[0]))))
    keep = []
    u = (np.arange(7) + 0.5) / 7 * 1.2 * tile_m - 0.6 * tile_m
    for la in lat:
        for lo in lon:
            plat, plon = Tile(la, lo, tile_m).latlon(*np.meshgrid(u, u))
            r = regime_of(plat, plon, t0, center=center, region_km=region_km, transitions=transitions)
            if (r == r.flat[0]).all():
                keep.append((la, lo))
    return np.array(keep).T


def scores(seq_regime: np.ndarray, true: np.ndarray, times, matrix: np.ndarray) -> dict:
    import xarray as xr

    from convml_tt.data.synthetic.regimes import REGIMES
    from convml_tt.interpretation.transitions import transition_statistics

    ds = xr.Dataset({"regime": (("trajectory", "time"), seq_regime)}, coords={"time": times},
                    attrs={"regime_names": json.dumps(list(REGIMES))})
    st = transition_statistics(ds)
    p = st["probability"].values
    rows = st["n_from"].values > 0
    diff = np.abs(np.where(rows[:, None], p, 0.0) - np.where(rows[:, None], matrix, 0.0))
    seen = (seq_regime >= 0) & (true >= 0)
    return {"max_dP": float(diff.max()), "within_0.1_pct": float(100 * (diff <= 0.1).mean()),
            "accuracy_pct": float(100 * (seq_regime[seen] == true[seen]).mean()), "pairs": int(st["count"].sum()),
            "rows_with_pairs": int(rows.sum()), "P": np.round(p, 3).tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a trained model file (e.g. the demo's model.pt)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--region-km", type=float, default=150.0)
    p.add_argument("--spacing-km", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tile-size-m", type=float, default=64e3, help="metres (the demo model's tiles)")
    p.add_argument("--tile-pixels", type=int, default=64)
    a = p.parse_args()

    from convml_tt.architectures.model_file import load_model
    from convml_tt.data.composites import make_composites
    from convml_tt.data.synthetic import write_synthetic_scenes
    from convml_tt.data.synthetic.environment import TRANSITIONS, Transitions, true_sequences, true_trajectories
    from convml_tt.data.synthetic.regimes import REGIMES
    from convml_tt.interpretation.evaluate import untrained_like
    from convml_tt.interpretation.featurizers import make_featurizer
    from convml_tt.interpretation.regimes import Regimes
    from convml_tt.interpretation.transitions import regime_sequences

    center, size_km = (15.0, -50.0), 1000.0
    start = dt.datetime(2020, 1, 2, 12)
    tr = Transitions(start, step_hours=1.0)
    matrix = np.asarray(TRANSITIONS)
    enc = load_model(a.model, device="cpu")
    tile_m, px = a.tile_size_m, a.tile_pixels
    t_all = time.perf_counter()
    comps, trajs = [], []
    for d in range(a.days):
        day = start + dt.timedelta(days=d)
        stamp = f"s{day:%Y%j}"
        if len(list(a.out.rglob(f"convml_tt-synthetic-labels_*_{stamp}1[2-8]*.nc"))) < 7:  # else: written before
            write_synthetic_scenes(a.out, start=day, count=7, interval=dt.timedelta(hours=1), seed=a.seed,
                                   center=center, size_km=size_km, region_km=a.region_km, transitions=tr,
                                   progress=False)
        comps += [str(c) for c in make_composites(a.out, [-54.0, 11.0, -46.0, 19.0], start=day,
                                                  end=day + dt.timedelta(hours=6), progress=False)]
        lat0, lon0 = pure_starts(day, tile_m, a.spacing_km, center, size_km, a.region_km, tr)
        t0 = np.datetime64(day, "s")
        trajs.append(true_trajectories(lat0, lon0, t0 + np.arange(7) * np.timedelta64(1, "h"), t0, center))
    print(f"scenes and composites: {time.perf_counter() - t_all:.0f} s; trajectories per day "
          f"{[t.sizes['trajectory'] for t in trajs]}")
    nets = {"trained": a.model, "untrained": untrained_like(enc.config)}
    results: dict[str, dict] = {}
    truth = [true_sequences(t, seed=a.seed, center=center, region_km=a.region_km, transitions=tr)["regime"].values
             for t in trajs]
    later_truth = np.concatenate(truth[1:])
    times = trajs[0]["time"].values
    results["true regimes"] = scores(later_truth, later_truth, times, matrix)
    for name, net in nets.items():
        t = time.perf_counter()
        dummy = Regimes(centroids=np.zeros((1, int(enc.config.get("emb_dim", 100)))), names=["x"], method="kmeans",
                        model_sha256=make_featurizer(net, device="cpu").sha256)
        embs = [regime_sequences(net, tr_, comps, dummy, tile_size_m=tile_m, tile_pixels=px, device="cpu",
                                 progress=False)["embedding"].values for tr_ in trajs]
        first = embs[0].reshape(-1, embs[0].shape[-1])
        lab = truth[0].ravel()
        ok = np.isfinite(first).all(axis=1) & (lab >= 0)
        cents = np.stack([first[ok & (lab == k)].mean(axis=0) for k in range(len(REGIMES))])
        later = np.concatenate(embs[1:])
        flat = later.reshape(-1, later.shape[-1])
        good = np.isfinite(flat).all(axis=1)
        est = np.full(flat.shape[0], -1, np.int16)
        est[good] = np.argmin(((flat[good, None, :] - cents[None]) ** 2).sum(-1), axis=1)
        results[name] = scores(est.reshape(later.shape[:2]), later_truth, times, matrix)
        results[name]["seconds"] = round(time.perf_counter() - t, 1)
    (a.out / "transitions_bench.json").write_text(json.dumps(results, indent=1))
    print("generator's P (per hour):")
    print(np.round(matrix, 2))
    for name, r in results.items():
        print(f"{name}: max |dP| {r['max_dP']:.3f}, entries within 0.1 {r['within_0.1_pct']:.1f} %, accuracy "
              f"{r['accuracy_pct']:.1f} % ({r['pairs']} pairs, {r['rows_with_pairs']} rows)")
        print(np.round(np.asarray(r["P"]), 2))
    print(f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
