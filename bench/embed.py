"""Embedding throughput: ``get_embeddings`` through the real loader (PNG
folder -> TileDataset -> DataLoader -> normalise/resize -> encoder) divided
by the bare model's inference rate on the same batches already in memory
(normalised float tensors on the device), measured in one run.

    .venv/bin/python bench/embed.py                      # CPU, resnet18, 128 px, 192 tiles
    .venv/bin/python bench/embed.py --device cuda --tile-pixels 256 --n-tiles 4096 --batch-size 256

Trials of the two alternate (after a warm-up of each) and the median time of
each is used, so that load from other processes affects both alike. Prints a
markdown table; target ratio >= 0.9.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convml_tt.architectures import TripletEncoder, load_model, save_model  # noqa: E402
from convml_tt.architectures.transforms import TripletBatchTransform  # noqa: E402
from convml_tt.data.dataset import TileDataset  # noqa: E402
from convml_tt.interpretation.embeddings import get_embeddings  # noqa: E402


def write_tiles(root: Path, n: int, px: int, seed: int = 0) -> Path:
    """A study stage of ``n`` cloud-like RGB PNG tiles (``px`` x ``px``)."""
    rng = np.random.default_rng(seed)
    d = root / "study"
    d.mkdir(parents=True)
    for i in range(n):
        coarse = rng.random((px // 8, px // 8))
        field = np.kron(coarse, np.ones((8, 8))) * 0.7 + 0.3 * rng.random((px, px))
        rgb = (np.clip(np.stack([field, field * 0.95, field * 0.9], -1), 0, 1) * 255).astype(np.uint8)
        for kind in ("anchor", "neighbor", "distant"):
            Image.fromarray(rgb).save(d / f"{i:05d}_{kind}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--n-tiles", type=int, default=192)
    p.add_argument("--tile-pixels", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for the real loader")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda given but no CUDA GPU is available")
    dev = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = write_tiles(tmp / "dataset", args.n_tiles, args.tile_pixels)
        torch.manual_seed(0)
        enc = TripletEncoder(args.arch, 3, 100, config={"tile_pixels": args.tile_pixels})
        model_path = save_model(enc, tmp / "model.pt")
        model = load_model(model_path, device=dev)
        cfg = model.config

        # bare: the same batches, decoded, normalised and on the device beforehand
        ds = TileDataset(root, stage="study", tile_type="anchor", progress=False)
        tf = TripletBatchTransform(cfg["normalization"]["mean"], cfg["normalization"]["std"])
        batches = [
            tf.normalize(tf.to_float(ds.load_batch(range(s, min(s + args.batch_size, len(ds)))).to(dev)))
            for s in range(0, len(ds), args.batch_size)
        ]

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def bare() -> float:
            sync()
            t0 = time.perf_counter()
            with torch.inference_mode():
                outs = [model(x) for x in batches]
            sync()
            dt = time.perf_counter() - t0
            bare.out = torch.cat(outs).float().cpu().numpy()
            return dt

        def loader() -> float:
            sync()
            t0 = time.perf_counter()
            da = get_embeddings(model, root, stage="study", tile_type="anchor", batch_size=args.batch_size,
                                device=str(dev), progress=False, num_workers=args.num_workers)
            sync()
            loader.out = da.values
            return time.perf_counter() - t0

        bare()
        loader()  # warm-up (allocator, cudnn autotune, page cache)
        t_bare, t_loader = [], []
        for _ in range(args.trials):
            t_bare.append(bare())
            t_loader.append(loader())
        np.testing.assert_allclose(loader.out, bare.out, rtol=1e-3, atol=1e-4)

    n = args.n_tiles
    rate_bare = n / statistics.median(t_bare)
    rate_loader = n / statistics.median(t_loader)
    ratio = rate_loader / rate_bare
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"embedding throughput, {args.arch}, {args.tile_pixels} px, {n} tiles, batch {args.batch_size}, "
          f"{name}, median of {args.trials} trials\n")
    print("| path | tiles/s |")
    print("|---|---|")
    print(f"| bare model (tensors already on {dev.type}) | {rate_bare:.1f} |")
    print(f"| get_embeddings (PNG folder -> loader -> model) | {rate_loader:.1f} |")
    print(f"| **ratio loader / bare** | **{ratio:.3f}** (target >= 0.9) |")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
