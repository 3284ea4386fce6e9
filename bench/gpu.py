"""GPU readiness in one run: every CUDA path of the library, timed, in at most ~8 minutes.

    python bench/gpu.py [--out gpu_bench]            # on a GPU node: the figures for docs/benchmarks.md
    python bench/gpu.py --dry-run [--out DIR]        # on CPU: the same steps at tiny sizes (seconds to a minute)

Steps, each a subprocess with its own time limit (seconds; on a GPU also
what is left of :data:`TOTAL_S` = 480 s, so the run ends within 8 minutes):

1. ``demo``: ``python -m convml_tt demo --device cuda --quiet`` (the default
   settings; its triplet dataset is reused by step 3);
2. ``toy_data``, ``train_png_wN``: one toy dataset of 256 px triplets, then
   ``bench/train.py`` on it at bf16, batch 256, ResNet-18, through the PNG
   loader with N = 4, 8, 16 loader workers (the first also with the stage
   preloaded in host memory and on the device, and read from the dataset
   converted to packed shards: ``preload``, ``preload-device`` and
   ``packed`` rows);
3. ``torchrun``: ``torchrun --standalone --nproc_per_node 1`` of this script's
   rank mode: it joins a process group (``init_distributed``: NCCL on a GPU,
   gloo on CPU; with one rank ``convml_tt train`` would start none), trains
   one epoch on the demo's triplets and prints the backend, after an
   all-reduce over it;
4. ``maps``: ``bench/maps.py --device cuda`` (map / bare-inference ratio);
5. ``embed``: ``bench/embed.py --device cuda`` (embedding throughput through
   the real loader vs the bare model).

Writes ``OUT/gpu.json`` (per step: command, exit status, wall seconds, the
last lines of its output; the device; the lines of each bench's own table)
and ``OUT/gpu.md`` (a markdown table of the same). Exit status 0 when every
step ran (a bench that exits 1 after printing its table, e.g. a missed
target of bench/maps.py, counts as run; ``ran`` in the JSON).

``--dry-run`` runs every step on the CPU with tiny sizes (demo ``--fast``,
16 px tiles, a few triplets, worker sweep 0/1, torchrun with gloo, maps
``--quick`` on one scene, a few embedding tiles): the same scripts, flags and
code paths except the device, to check the script before a GPU is at hand.
Without a CUDA GPU and without ``--dry-run`` it says so in one line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

#: a worker sweep of the PNG loader on the GPU (and its stand-in in a dry run)
WORKERS, WORKERS_DRY = (4, 8, 16), (0, 1)
#: seconds the whole GPU run may take: each step gets its own limit or what is left, whichever is less
TOTAL_S = 480.0


def steps(out: Path, dry: bool) -> list[tuple[str, list[str], float]]:
    """(name, command, time limit in seconds) of every step (on a GPU at most :data:`TOTAL_S` in all)."""
    dev = "cpu" if dry else "cuda"
    demo_out = out / "demo"
    demo = [PY, "-m", "convml_tt", "demo", "--out", str(demo_out), "--device", dev, "--quiet"]
    demo += ["--fast"] if dry else []
    todo = [("demo", demo, 120.0)]
    # one toy dataset for the whole worker sweep (bench/train.py would write its own each time)
    px, bs, n_steps, warm = (16, 4, 1, 1) if dry else (256, 256, 12, 2)
    n = int((n_steps + warm + 2) * bs / 0.98) + 1
    toy = out / "toy"
    todo.append(("toy_data", [PY, "-c", "import sys; sys.path.insert(0, 'tests'); "
                              "from triplet_fixtures import write_toy_triplets; "
                              f"write_toy_triplets({str(toy)!r}, n_train={n}, size={px})"], 60.0))
    size = ["--tile-pixels", str(px), "--batch-size", str(bs), "--steps", str(n_steps), "--warmup", str(warm),
            "--rounds", "1", "--data", str(toy)]
    size += ["--precision", "fp32", "--emb-dim", "8"] if dry else ["--precision", "bf16"]
    for i, w in enumerate(WORKERS_DRY if dry else WORKERS):
        cmd = [PY, str(HERE / "train.py"), "--device", dev, *size, "--workers", str(w)]
        if i == 0:  # the fewest workers: preloaded on the device, and read from packed shards
            cmd += ["--preload-device", "--packed"]
        todo.append((f"train_png_w{w}", cmd, 45.0))
    # with one rank convml_tt would start no process group (WORLD_SIZE 1): the rank joins one itself
    ddp = [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", str(HERE / "gpu.py"),
           "--rank", str(demo_out / "dataset"), str(out / "torchrun.pt"), dev, "8" if dry else "256"]
    todo.append(("torchrun", ddp, 45.0))
    maps = [PY, str(HERE / "maps.py"), "--device", dev, "--trials", "1"]
    maps += ["--scenes", "1", "--batch-size", "16", "--quick"] if dry else \
        ["--num-workers", "8", "--batch-size", "512"]
    todo.append(("maps", maps, 90.0))
    emb = [PY, str(HERE / "embed.py"), "--device", dev]
    emb += ["--n-tiles", "12", "--tile-pixels", "16", "--batch-size", "4", "--trials", "1"] if dry else \
        ["--n-tiles", "4096", "--tile-pixels", "256", "--batch-size", "256", "--trials", "2", "--num-workers", "8"]
    todo.append(("embed", emb, 40.0))
    return todo


def run_step(name: str, cmd: list[str], limit_s: float, env: dict[str, str]) -> dict:
    """Run one step; its exit status, wall seconds and output (the bench's table lines and the last lines)."""
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit_s)
        rc, text = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as err:
        rc = 124
        text = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        text += f"\n{name}: still running after its {limit_s:g} s limit"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    table = [ln for ln in lines if ln.startswith("|") or ln.lstrip().startswith(("png", "preload", "bare"))]
    # a bench exits 1 when it ran but missed a target (bench/maps.py): a result, not a broken step
    ran = rc == 0 or (rc == 1 and bool(table))
    return {"step": name, "command": " ".join(cmd), "rc": rc, "ran": ran,
            "wall_s": round(time.perf_counter() - t0, 1), "table": table, "tail": lines[-6:]}


def device_info(dry: bool) -> dict:
    import torch

    info = {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
            "cuda": torch.version.cuda, "nccl": torch.distributed.is_available() and torch.distributed.is_nccl_available()}
    if torch.cuda.is_available() and not dry:
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    else:
        info["gpu"] = None
    return info


def markdown(result: dict) -> str:
    d = result["device"]
    head = (f"GPU readiness ({'dry run on CPU' if result['dry_run'] else d['gpu']}; torch {d['torch']}, "
            f"CUDA {d['cuda']}, {d['cpus']} CPUs), {result['total_s']:.0f} s in all\n\n")
    rows = ["| step | exit | wall (s) | result |", "|---|---:|---:|---|"]
    for s in result["steps"]:
        what = "<br>".join(s["table"][-8:] if s["table"] else s["tail"][-2:]).replace("|", "\\|")
        rows.append(f"| {s['step']} | {s['rc']} | {s['wall_s']:.1f} | {what} |")
    return head + "\n".join(rows) + "\n"


def rank_main(dataset: str, out: str, device: str, batch_size: str) -> int:
    """One torchrun rank: join the process group, train one epoch with DDP, print the backend."""
    import torch.distributed as dist

    from convml_tt.architectures import train
    from convml_tt.architectures.training.distributed import init_distributed

    import torch

    dev = init_distributed(device)
    x = torch.ones(1, device=dev)
    dist.all_reduce(x)  # a collective over the backend (NCCL on a GPU)
    assert x.item() == dist.get_world_size()
    train(dataset, out, epochs=1, batch_size=int(batch_size), preload=True, device=str(dev), quiet=True)
    print(f"| torchrun rank {dist.get_rank()} of {dist.get_world_size()} | backend {dist.get_backend()} | "
          f"{dev} | {out} written |")
    dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--rank"]:
        return rank_main(*argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("gpu_bench"), help="folder for gpu.json, gpu.md, the demo")
    p.add_argument("--dry-run", action="store_true", help="every step on the CPU at tiny sizes")
    a = p.parse_args(argv)
    import torch

    if not a.dry_run and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA GPU here (torch.cuda.is_available() is False); run it on a GPU node, "
              "or with --dry-run to check the steps on the CPU", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if a.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU paths even on a GPU node
    t0 = time.perf_counter()
    done = []
    for name, cmd, limit in steps(a.out, a.dry_run):
        # a dry run checks the steps, not their speed: a loaded CPU may take many times the GPU's limits
        left = TOTAL_S - (time.perf_counter() - t0)
        done.append(run_step(name, cmd, limit * 20 if a.dry_run else max(1.0, min(limit, left)), env))
        print(f"{name}: exit {done[-1]['rc']} in {done[-1]['wall_s']:.1f} s", flush=True)
    result = {"dry_run": a.dry_run, "device": device_info(a.dry_run), "steps": done,
              "total_s": round(time.perf_counter() - t0, 1)}
    (a.out / "gpu.json").write_text(json.dumps(result, indent=1))
    (a.out / "gpu.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if all(s["ran"] for s in done) else 1


if __name__ == "__main__":
    raise SystemExit(main())
