"""Training methods compared on the same tiles and budget (issue 24).

The tiles: *organisation-only textures*: 64 px windows of the synthetic
scenes' 0.64 um reflectance (``convml_tt.data.synthetic.make_scene_fields``,
the generator the tests use, on a 2 km grid: 128 km tiles, one channel)
that lie wholly inside one of the three regimes with the same cloud
fraction, gravel, flowers and fish (0.30 each), so that only the
organisation of the clouds tells them apart. Training triplets are made as
the triplet sampler makes them, without labels: the neighbour is another
window of the anchor's regime region in the same scene (at most 32 px away),
the distant tile a window of another scene; the view methods train on the
same tiles (3 per triplet). Study tiles come from other scenes.

The budget: ``TrainingSettings``' defaults (resnet18, emb_dim 100, 10
epochs of one-cycle at lr 1e-3, batch 32), the same for every method.

Measures on the study tiles (embedded with the library's loop):

``knn``
    leave-one-out 5-nearest-neighbour accuracy of the regime;
``ari_seeds``
    regime stability: the mean adjusted Rand index between k-means (k = 3)
    fits of 5 seeds;
``ari_truth``
    the adjusted Rand index of k-means (seed 0) against the regimes;
``rot_inv``
    rotation invariance: 1 - mean distance between a tile's embedding and
    that of its rotations by 90, 180, 270 degrees, divided by the mean
    distance between the embeddings of different tiles (1: the embedding
    ignores orientation; 0: a rotated tile is as far as another tile).

Run (nice'd: the machine is shared)::

    nice python bench/methods.py --out-dir /tmp/bench_methods
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convml_tt.architectures import embed_tiles, load_model, train
from convml_tt.architectures.methods import list_methods
from convml_tt.data.dataset.format import TileMeta, TripletMeta, tile_name, write_triplet_meta
from convml_tt.data.synthetic import REGIMES, make_scene_fields
from convml_tt.interpretation.metrics import adjusted_rand_index, knn_accuracy

CLASSES = ("gravel", "flowers", "fish")


def _windows(labels: np.ndarray, size: int, stride: int) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {c: [] for c in CLASSES}
    for i in range(0, labels.shape[0] - size + 1, stride):
        for j in range(0, labels.shape[1] - size + 1, stride):
            w = labels[i:i + size, j:j + size]
            name = REGIMES[int(w[0, 0])]
            if name in out and (w == w[0, 0]).all():
                out[name].append((i, j))
    return out


def _scene(k: int, seed: int):
    f = make_scene_fields(dt.datetime(2020, 1, 1, 14) + dt.timedelta(days=k), seed=seed, bands=(2,),
                          resolution_km=2.0, size_km=1000)
    tiles = (np.clip(f.reflectance[2] / 0.8, 0, 1) * 255).astype(np.uint8)
    return tiles, np.asarray(f.labels)


def make_dataset(root: Path, n_train: int, n_study: int, size: int = 64, seed: int = 0,
                 per_scene: int = 6) -> Path:
    """Write the triplet folder (train: triplets; study: anchors labelled with their regime)."""
    rng = np.random.default_rng(seed)
    k, meta_kw = 0, dict(tile_size_m=size * 2000.0, tile_pixels=size)
    for stage, n in (("train", n_train), ("study", n_study)):
        d = root / stage
        d.mkdir(parents=True, exist_ok=True)
        i = 0
        prev = None
        while i < n:
            img, lab = _scene(k, seed)
            k += 1
            wins = _windows(lab, size, 16)
            chosen = []
            for c in CLASSES:  # balanced: at most per_scene / 3 anchors of each regime
                ws = wins[c]
                for idx in rng.permutation(len(ws))[: per_scene // 3]:
                    chosen.append((c, ws[idx]))
            for c, (y, x) in chosen:
                if i >= n:
                    break
                near = [(a, b) for a, b in wins[c] if (a, b) != (y, x) and abs(a - y) <= 32 and abs(b - x) <= 32]
                if stage == "train" and (not near or prev is None):
                    continue
                tiles = {"anchor": img[y:y + size, x:x + size]}
                m = TripletMeta(id=i, stage=stage, **meta_kw)
                m.anchor = TileMeta(labels={"regime": CLASSES.index(c), "regime_name": c})
                if stage == "train":
                    ny, nx = near[rng.integers(len(near))]
                    tiles["neighbor"] = img[ny:ny + size, nx:nx + size]
                    pimg, pwins = prev  # a window of the previous scene, whatever its regime
                    flat = [(cc, w) for cc in CLASSES for w in pwins[cc]]
                    dc, (dy, dx) = flat[rng.integers(len(flat))]
                    tiles["distant"] = pimg[dy:dy + size, dx:dx + size]
                    m.neighbor = TileMeta(labels={"regime": CLASSES.index(c), "regime_name": c})
                    m.distant = TileMeta(labels={"regime": CLASSES.index(dc), "regime_name": dc})
                else:  # the study stage holds complete triplets too (the folder's rule): copies
                    tiles["neighbor"] = tiles["distant"] = tiles["anchor"]
                    m.neighbor = m.distant = m.anchor
                for kind, arr in tiles.items():
                    Image.fromarray(np.ascontiguousarray(arr)).save(d / tile_name(i, kind))
                write_triplet_meta(root, m)
                i += 1
            prev = (img, wins)
    return root


def _study(root: Path) -> tuple[torch.Tensor, np.ndarray]:
    from convml_tt.data.dataset.torch import TileDataset

    ds = TileDataset(root, stage="study", tile_type="anchor", progress=False)
    tiles = torch.stack([ds[i] for i in range(len(ds))])
    labels = np.array([ds.meta(i).anchor.labels["regime"] for i in range(len(ds))])
    return tiles, labels


def _kmeans(x: np.ndarray, k: int, seed: int, iters: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[lab == j].mean(0) if (lab == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return lab


def measure(model_path: Path, root: Path) -> dict:
    enc = load_model(model_path, device="cpu")
    tiles, labels = _study(root)
    emb = embed_tiles(enc, tiles, device="cpu", progress=False)
    emb = np.asarray(emb, dtype=np.float64)
    fits = [_kmeans(emb, 3, s) for s in range(5)]
    aris = [adjusted_rand_index(fits[a], fits[b]) for a in range(5) for b in range(a + 1, 5)]
    rots = [np.asarray(embed_tiles(enc, torch.rot90(tiles, r, dims=(-2, -1)).contiguous(), device="cpu",
                                   progress=False), dtype=np.float64) for r in (1, 2, 3)]
    d_rot = np.mean([np.linalg.norm(emb - e, axis=1).mean() for e in rots])
    d_all = np.sqrt(((emb[:, None] - emb[None]) ** 2).sum(-1))
    d_other = d_all[~np.eye(len(emb), dtype=bool)].mean()
    return {"knn": knn_accuracy(emb, labels, k=5), "ari_seeds": float(np.mean(aris)),
            "ari_truth": adjusted_rand_index(labels, fits[0]), "rot_inv": float(1 - d_rot / d_other)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", type=Path, default=None)
    p.add_argument("--methods", nargs="*", default=None)
    p.add_argument("--n-train", type=int, default=120)
    p.add_argument("--n-study", type=int, default=90)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    out = args.out_dir or Path(tempfile.mkdtemp(prefix="bench_methods-"))
    root = out / "tiles"
    if not (root / "study").is_dir():
        t = time.time()
        make_dataset(root, args.n_train, args.n_study, seed=args.seed)
        print(f"tiles written in {time.time() - t:.0f} s to {root}", flush=True)
    results = {}
    res_file = out / "results.json"
    if res_file.exists():
        results = json.loads(res_file.read_text())
    for m in args.methods or list_methods():
        if m in results:
            print(m, results[m], flush=True)
            continue
        t = time.time()
        model = out / f"{m}.pt"
        train(root, model, method=m, arch=args.arch, epochs=args.epochs, batch_size=args.batch_size,
              seed=args.seed, device="cpu", quiet=True)
        r = measure(model, root)
        r["train_s"] = round(time.time() - t, 1)
        results[m] = r
        res_file.write_text(json.dumps(results, indent=1))
        print(m, r, flush=True)
    print("| method | kNN | k-means ARI between seeds | k-means ARI vs regimes | rotation invariance | train s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for m, r in results.items():
        print(f"| {m} | {r['knn']:.3f} | {r['ari_seeds']:.3f} | {r['ari_truth']:.3f} | {r['rot_inv']:.3f} | "
              f"{r['train_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
