"""Write docs/images/synthetic_scene.png: one synthetic scene as a
true-colour-ish RGB (bands 1, 2, 3 read back through convml_tt.data.sources.goes_abi)
beside its regime label map.

    .venv/bin/python docs/scripts/make_synthetic_figure.py [--out PATH] [--seed S]
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy.ndimage import minimum_filter  # noqa: E402

from convml_tt.data.sources.goes_abi import calibrate, read_abi  # noqa: E402
from convml_tt.data.synthetic import REGIMES, CLOUD_FRACTION, load_regime_labels, write_synthetic_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent
COLOURS = ["#1f3b73", "#e6c229", "#d1495b", "#66a182", "#8e6cbf", "#edae49"]


def true_colour(files: dict[int, Path]) -> np.ndarray:
    """RGB (ny, nx, 3) in [0, 1] on the 1 km grid: red = band 2 averaged to
    1 km, blue = band 1, green synthesised (0.45 R + 0.1 NIR + 0.45 B),
    gamma 1/2.2 -- the usual recipe for ABI, which has no green band."""
    refl = {b: calibrate(read_abi(p, band=b)).values for b, p in files.items()}
    red = refl[2].reshape(refl[1].shape[0], 2, refl[1].shape[1], 2).mean(axis=(1, 3))
    blue, nir = refl[1], refl[3]
    green = 0.45 * red + 0.1 * nir + 0.45 * blue
    rgb = np.clip(np.stack([red, green, blue], -1), 0, 1)
    return rgb ** (1 / 2.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=HERE.parent / "images" / "synthetic_scene.png")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (scene,) = write_synthetic_scenes(
            tmp, dt.datetime(2020, 1, 2, 14), count=1, seed=args.seed, progress=False
        )
        rgb = true_colour(scene.files)
        red = calibrate(read_abi(scene.files[2], band=2)).values
        labels = load_regime_labels(scene.labels).values
    fig = plt.figure(figsize=(13, 9.6), constrained_layout=True)
    sub = fig.subfigures(2, 1, height_ratios=[6.6, 2.6])
    axes = sub[0].subplots(1, 2)
    zoom = sub[1].subplots(1, len(REGIMES))
    tile = 150  # km: 1 km label pixels, 0.5 km band-2 pixels
    for k, (name, ax) in enumerate(zip(REGIMES, zoom)):
        inside = minimum_filter((labels == k).astype(np.uint8), size=tile, mode="constant")
        ax.set_xticks([])
        ax.set_yticks([])
        if not inside.any():
            ax.set_title(f"{name}: no {tile} km tile", fontsize=9)
            continue
        r, c = np.unravel_index(np.argmax(inside), inside.shape)
        r0, c0 = 2 * (r - tile // 2), 2 * (c - tile // 2)
        ax.imshow(red[r0:r0 + 2 * tile, c0:c0 + 2 * tile] ** (1 / 2.2), cmap="gray", vmin=0, vmax=1,
                  interpolation="none")
        ax.set_title(f"{name} ({tile} km, band 2)", fontsize=9)
        for spine in ax.spines.values():
            spine.set_edgecolor(COLOURS[k])
            spine.set_linewidth(3)
    axes[0].imshow(rgb, interpolation="none")
    axes[0].set_title(f"synthetic GOES-16 ABI M1, {scene.time:%Y-%m-%d %H:%M} UTC (bands 1-3)")
    cmap = ListedColormap(COLOURS)
    axes[1].imshow(np.ma.masked_less(labels, 0), cmap=cmap, vmin=-0.5, vmax=len(REGIMES) - 0.5,
                   interpolation="none")
    axes[1].set_title("regime labels")
    for ax in axes:
        ax.set_xlabel("x pixel (1 km)")
        ax.set_ylabel("y pixel (1 km)")
    handles = [Patch(color=c, label=f"{k} {n} (cf {CLOUD_FRACTION[n]:.2f})")
               for k, (n, c) in enumerate(zip(REGIMES, COLOURS))]
    axes[1].legend(handles=handles, loc="lower left", fontsize=9, framealpha=0.85)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
