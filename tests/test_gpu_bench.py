"""bench/gpu.py, the GPU readiness run: its CPU dry run and its refusal without a GPU (issue 25)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu.py"


def _env() -> dict[str, str]:
    return dict(os.environ, CUDA_VISIBLE_DEVICES="",
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_without_a_gpu_one_line_and_nonzero(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")], env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "no CUDA GPU" in r.stderr and "--dry-run" in r.stderr
    assert not (tmp_path / "o").exists()  # nothing written


@pytest.mark.slow
def test_dry_run_runs_every_step_on_the_cpu(tmp_path):
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], env=_env(),
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    got = json.loads((out / "gpu.json").read_text())
    assert got["dry_run"] and got["device"]["gpu"] is None
    names = [s["step"] for s in got["steps"]]
    assert names == ["demo", "toy_data", "train_png_w0", "train_png_w1", "torchrun", "maps", "embed"]
    assert all(s["ran"] and s["wall_s"] > 0 for s in got["steps"]), got["steps"]
    by = {s["step"]: s for s in got["steps"]}
    assert any("backend gloo" in ln for ln in by["torchrun"]["table"])  # one rank in a real process group
    assert (out / "torchrun.pt").is_file() and (out / "demo" / "report.md").is_file()
    assert any(ln.lstrip().startswith(("png", "preload")) for ln in by["train_png_w0"]["table"])
    assert any("throughput ratio" in ln for ln in by["maps"]["table"])
    md = (out / "gpu.md").read_text()
    assert md.count("\n| ") == 1 + len(names) and "dry run on CPU" in md  # header + a row per step
