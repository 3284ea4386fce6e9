"""The triplet dataset folder: names, ids, metadata, completeness (the one definition)."""
from __future__ import annotations

TILE_TYPES = ("anchor", "neighbor", "distant")
STAGES = ("train", "study")
