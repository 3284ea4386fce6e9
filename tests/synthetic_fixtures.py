"""Session-wide synthetic ABI scenes for the tests (convml_tt.data.synthetic).

Registered in ``conftest.py``; reuse them rather than writing new scenes:

* ``synthetic_scenes``: list of 3 :class:`~convml_tt.data.synthetic.SyntheticScene`
  (bands 1, 2, 3 at 1, 0.5, 1 km) of a 300 km sector centred at 15N 50W,
  hourly from 2020-01-02 14:00 UTC, seed 0, in the source-cache layout under
  ``synthetic_data_root``. Treat the files as read-only.
* ``synthetic_data_root``: the ``--data-root`` folder holding them.
* ``composited_root`` (per test module): a private copy of that cache with
  the composites over :data:`DOMAIN` made, for tests that write triplets;
  :data:`SMALL` tile settings and :func:`files_of` (a folder's files, for
  byte comparisons) go with it.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

SYNTHETIC_START = dt.datetime(2020, 1, 2, 14)
SYNTHETIC_INTERVAL = dt.timedelta(hours=1)
SYNTHETIC_KWARGS = dict(
    count=3, interval=SYNTHETIC_INTERVAL, seed=0, satellite=16, sector="M1",
    center=(15.0, -50.0), size_km=300.0, bands=(1, 2, 3),
)


@pytest.fixture(scope="session")
def synthetic_data_root(tmp_path_factory):
    """Data root (``{root}/sources/goes16/...``) holding the ``synthetic_scenes``."""
    return tmp_path_factory.mktemp("synthetic_data_root")


@pytest.fixture(scope="session")
def synthetic_scenes(synthetic_data_root):
    """Three small synthetic scenes (see module docstring); read-only."""
    from convml_tt.data.synthetic import write_synthetic_scenes

    return write_synthetic_scenes(
        synthetic_data_root, SYNTHETIC_START, progress=False, **SYNTHETIC_KWARGS
    )


#: a domain inside the 300 km synthetic sector at 15N 50W, and small tiles for it
DOMAIN = (-50.8, 14.3, -49.3, 15.7)
SMALL = dict(tile_size_m=40e3, tile_pixels=32, resolution_km=1.0)


@pytest.fixture(scope="module")
def composited_root(synthetic_scenes, synthetic_data_root, tmp_path_factory):
    """A private copy of the synthetic cache, with its composites over DOMAIN made."""
    from convml_tt.data.composites import make_composites

    r = tmp_path_factory.mktemp("composited_root")
    shutil.copytree(synthetic_data_root / "sources", r / "sources")
    make_composites(r, DOMAIN, progress=False)
    return r


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder``: relative path -> bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
