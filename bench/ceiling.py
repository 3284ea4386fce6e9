"""How well *could* an embedding do on a synthetic triplet dataset?

Scores the study triplets with "oracle" embeddings built from the
generator's truth instead of from pixels:

* ``regime only``: the one-hot regime covering most of each tile;
* ``regime + day``: that one-hot plus the scene's day-to-day factors
  (log length scale, the regime's log cloud-fraction and brightness
  factors), read from the label map written beside each synthetic scene.

Ties (equal distances) count as failures, as in
:func:`convml_tt.interpretation.metrics.triplet_accuracy`. Also prints how
often the neighbour's regime differs from the anchor's and how often the
distant tile has the anchor's regime: the two things that cap triplet
accuracy. No training; a few seconds.

    python bench/ceiling.py demo_output/dataset --data-root demo_output/data
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np

from convml_tt.data.synthetic import REGIMES, load_regime_labels
from convml_tt.data.dataset.format import TILE_TYPES, list_triplets, read_triplet_meta


@functools.lru_cache(maxsize=None)
def _day_factors(label_file: str) -> dict[str, dict[str, float] | float]:
    attrs = load_regime_labels(label_file).attrs

    def table(name: str) -> dict[str, float]:
        return {k: float(v) for k, v in (kv.split("=") for kv in str(attrs[name]).split(","))}

    nominal = table("nominal_cloud_fractions") if "nominal_cloud_fractions" in attrs else None
    cf = table("cloud_fractions")
    return {
        "length_scale": float(attrs.get("length_scale_factor", 1.0)),
        "cloud_fraction": {k: cf[k] / nominal[k] for k in cf} if nominal else {k: 1.0 for k in cf},
        "brightness": table("brightness_factors") if "brightness_factors" in attrs else {k: 1.0 for k in cf},
    }


def _oracle(entry, data_root: Path, with_day: bool) -> np.ndarray:
    onehot = np.zeros(len(REGIMES))
    onehot[int(entry.labels["regime"])] = 1.0
    if not with_day:
        return onehot
    src = next((data_root / "sources").rglob(entry.source_files[0]))
    f = _day_factors(str(src))
    name = REGIMES[int(entry.labels["regime"])]
    return np.r_[onehot, np.log(f["length_scale"]), np.log(f["cloud_fraction"][name]),
                 np.log(f["brightness"][name])]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--data-root", type=Path, required=True, help="where the synthetic scenes are (sources/...)")
    p.add_argument("--stage", default="study")
    args = p.parse_args(argv)
    metas = [read_triplet_meta(args.dataset, args.stage, i) for i in list_triplets(args.dataset, args.stage)]
    if not metas or metas[0] is None or "regime" not in metas[0].anchor.labels:
        raise SystemExit(f"{args.dataset}: no {args.stage} triplets with synthetic regime labels")
    reg = {k: np.array([m.tile(k).labels["regime"] for m in metas]) for k in TILE_TYPES}
    print(f"{len(metas)} {args.stage} triplets")
    print(f"neighbour in another regime: {np.mean(reg['anchor'] != reg['neighbor']):.3f}")
    print(f"distant tile in the anchor's regime: {np.mean(reg['anchor'] == reg['distant']):.3f}")
    print(f"regime counts (anchors): {dict(zip(REGIMES, np.bincount(reg['anchor'], minlength=len(REGIMES)).tolist()))}")
    print("| oracle | triplet accuracy |\n|---|---|")
    for label, with_day in (("regime only", False), ("regime + day factors", True)):
        ok = []
        for m in metas:
            a, n, d = (_oracle(m.tile(k), args.data_root, with_day) for k in TILE_TYPES)
            ok.append(np.linalg.norm(a - n) < np.linalg.norm(a - d))
        print(f"| {label} | {np.mean(ok):.3f} |")


if __name__ == "__main__":
    main()
