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
    assert enc.config["tile_pixels"] == 32 and enc.config["emb_dim"] == 100
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
    # the interactive scatter shows inline (its page in an iframe) and was saved as one HTML file
    pages = [o["data"]["text/html"] for c in code for o in c.get("outputs", []) if "text/html" in o.get("data", {})
             and "<iframe srcdoc=" in "".join(o["data"]["text/html"])]
    assert len(pages) == 1 and "circle.pt" in "".join(pages[0])
    assert (work / "scatter.html").stat().st_size > 10_000


@pytest.mark.parametrize("name", ["model_training", "model_interpretation", "environment_and_trajectories"])
def test_committed_notebooks_show_their_outputs(name):
    """The notebooks are committed executed (docs/scripts/execute_notebooks.py), so a reader
    browsing the repository sees each cell's output; their figures stay modest in size."""
    nbformat = pytest.importorskip("nbformat")
    folder = "model_training" if name == "model_training" else "model_interpretation"
    nb = nbformat.read(REPO / "example_notebooks" / folder / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a cell was not executed"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "cells were run out of order"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= {"model_training": 3, "model_interpretation": 8, "environment_and_trajectories": 2}[name]
    assert max(len(i) for i in images) < 500_000  # base64 characters of the largest figure (~370 kB)


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
