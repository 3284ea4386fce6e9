"""Re-execute the example notebooks and write them back with their outputs,
so that a reader browsing the repository sees what every cell gives.

    .venv/bin/python docs/scripts/execute_notebooks.py                 # every notebook, tiny settings
    .venv/bin/python docs/scripts/execute_notebooks.py model_training  # one of them
    .venv/bin/python docs/scripts/execute_notebooks.py --full          # the notebooks' own settings (long on a CPU)

The committed notebooks are executed with the tiny settings (``CONVML_TT_NB_TINY=1``, on the
CPU: a few minutes), which is also how ``tests/test_notebooks.py`` runs them; their
figures are therefore of a small model trained for one epoch. Each notebook runs in a fresh
kernel in a private temporary folder (``CONVML_TT_NB_WORKDIR=work`` there, so paths print
short; the datasets and models it makes are removed afterwards); the interpretation notebook
makes its own model (``CONVML_TT_NB_SOURCE=make``). Timing metadata is not recorded, so a
re-run changes only what the cells print and draw. Figures are drawn at 72 dpi, so the
committed files stay near 1 MB. A notebook is written back (atomically) only
when every cell ran without an error.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "model_training": REPO / "example_notebooks" / "model_training" / "model_training.ipynb",
    "model_interpretation": REPO / "example_notebooks" / "model_interpretation" / "model_interpretation.ipynb",
    "environment_and_trajectories": REPO / "example_notebooks" / "model_interpretation"
    / "environment_and_trajectories.ipynb",
}
#: resolution of the committed figures
FIGURE_DPI = 72
#: the environment of each notebook (besides CONVML_TT_NB_TINY and the work folder)
SETTINGS = {
    "model_training": {"CONVML_TT_NB_DEVICE": "cpu"},
    "model_interpretation": {"CONVML_TT_NB_SOURCE": "make", "CONVML_TT_NB_DEVICE": "cpu"},
    "environment_and_trajectories": {},
}


def execute(name: str, full: bool = False, timeout: int = 1800) -> Path:
    """Execute notebook ``name`` (a key of :data:`NOTEBOOKS`) and write it back
    with its outputs; returns its path. Raises nbclient's CellExecutionError
    (naming the cell) when a cell fails; the file is then left as it was."""
    from convml_tt._io import write_text

    path = NOTEBOOKS[name]
    nb = nbformat.read(path, as_version=4)
    env = {"CONVML_TT_NB_TINY": "0" if full else "1", "CONVML_TT_NB_WORKDIR": "work", **SETTINGS[name],
           # tqdm's notice that ipywidgets is missing here says nothing about the notebook
           "PYTHONWARNINGS": "ignore:IProgress not found"}
    # the kernel inherits this process's environment
    with tempfile.TemporaryDirectory(prefix="convml_tt_nb_") as tmp, mock.patch.dict(os.environ, env):
        # figures at 72 dpi: a committed notebook stays small (about 1 MB), the figures readable
        rc = Path(tmp) / "matplotlibrc"
        rc.write_text(f"figure.dpi: {FIGURE_DPI}\n")
        os.environ["MATPLOTLIBRC"] = str(rc)
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": tmp}})
        client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    write_text(path, nbformat.writes(nb) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"notebooks to execute (default all: {', '.join(NOTEBOOKS)})")
    p.add_argument("--full", action="store_true", help="the notebooks' own settings instead of the tiny ones")
    p.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run (default 1800)")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        p.error(f"no notebook {unknown[0]!r}; the notebooks are {', '.join(NOTEBOOKS)}")
    for name in args.names or list(NOTEBOOKS):
        start = time.monotonic()
        try:
            path = execute(name, full=args.full, timeout=args.timeout)
        except nbclient.exceptions.CellExecutionError as err:
            print(f"{name}: a cell failed, the notebook is left as it was:\n{err}", file=sys.stderr)
            return 1
        size = path.stat().st_size / 1e6
        print(f"executed {path.relative_to(REPO)} in {time.monotonic() - start:.0f} s ({size:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
