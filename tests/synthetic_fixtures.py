"""Session-wide synthetic ABI scenes for the tests (convml_tt.data.synthetic).

Registered in ``conftest.py``; reuse them rather than writing new scenes:

* ``synthetic_scenes``: list of 3 :class:`~convml_tt.data.synthetic.SyntheticScene`
  (bands 1, 2, 3 at 1, 0.5, 1 km) of a 300 km sector centred at 15N 50W,
  hourly from 2020-01-02 14:00 UTC, seed 0, in the source-cache layout under
  ``synthetic_data_root``. Treat the files as read-only.
* ``synthetic_data_root``: the ``--data-root`` folder holding them.
"""
from __future__ import annotations

import datetime as dt

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
