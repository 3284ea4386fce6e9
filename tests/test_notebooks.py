"""Example notebooks run end to end (offline, tiny settings through env vars)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _execute(nb_path: Path, workdir: Path, env: dict[str, str], timeout: int = 600):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(nb_path, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        # kernel "python3" with argv "python": jupyter_client runs it with
        # sys.executable, i.e. this (virtual environment's) interpreter
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.mark.slow
def test_model_training_notebook(tmp_path):
    nb = _execute(
        REPO / "example_notebooks" / "model_training" / "model_training.ipynb",
        tmp_path,
        {"CONVML_TT_NB_TINY": "1", "CONVML_TT_NB_WORKDIR": str(tmp_path / "work"),
         "CONVML_TT_NB_DEVICE": "cpu"},
    )
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "n_inp: 3" in outputs and "suggested learning rate" in outputs
    assert (tmp_path / "work" / "model.pt").exists()
    from convml_tt.architectures import load_model

    enc = load_model(tmp_path / "work" / "model.pt", device="cpu")
    assert enc.config["tile_size"] == 32 and enc.config["emb_dim"] == 100
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 3  # triplets, lr_find, loss curves


@pytest.mark.slow
def test_model_interpretation_notebook(tmp_path):
    # standalone: no training-notebook or demo output is looked for (SOURCE=make),
    # the notebook makes a tiny synthetic dataset and model itself
    work = tmp_path / "work"
    nb = _execute(
        REPO / "example_notebooks" / "model_interpretation" / "model_interpretation.ipynb",
        tmp_path,
        {"CONVML_TT_NB_TINY": "1", "CONVML_TT_NB_WORKDIR": str(work), "CONVML_TT_NB_SOURCE": "make",
         "CONVML_TT_NB_DEVICE": "cpu"},
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in code for o in c.get("outputs", [])
    )
    assert "made here" in outputs and "stage 'study'" in outputs
    assert "| trained |" in outputs and "| untrained |" in outputs and "| tile statistics |" in outputs
    assert (work / "embeddings_study.nc").exists()
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    # dendrogram, scatter, grid, nearest tiles, box plots, PC correlations, regime map, regime fractions
    assert images >= 8
    assert "per-tile physical variables: cloud_fraction, iorg" in outputs
    assert "map quality: {'map_accuracy'" in outputs
    assert (work / "regime_map.nc").exists() and (work / "regimes.json").exists()
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


@pytest.mark.slow
def test_environment_and_trajectories_notebook(tmp_path):
    nb = _execute(REPO / "example_notebooks" / "model_interpretation" / "environment_and_trajectories.ipynb",
                  tmp_path, {"CONVML_TT_NB_WORKDIR": str(tmp_path / "work")}, timeout=300)
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "largest distance from the true trajectories after 48 h" in outputs
    assert (tmp_path / "work" / "era5" / "era5_single_levels_synthetic.nc").exists()
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    assert images >= 2  # the joint histogram, the trajectories
