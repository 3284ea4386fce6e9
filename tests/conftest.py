"""Shared pytest fixtures (each block is owned by the issue named in its header)."""


# --- synthetic scene fixtures (issue 2: convml_tt.data.synthetic) -------------
# ``synthetic_scenes`` (3 scenes of a 300 km sector) and ``synthetic_data_root``;
# see tests/synthetic_fixtures.py.
from synthetic_fixtures import synthetic_data_root, synthetic_scenes  # noqa: E402,F401
