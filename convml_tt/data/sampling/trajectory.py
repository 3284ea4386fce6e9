"""The trajectory sampler: a tile centred on each point of Lagrangian trajectories.

For trajectories ``lat``, ``lon`` on ``(trajectory, time)``
(:func:`convml_tt.data.trajectories.read_trajectories`) and the composites
of a stage, every trajectory point is matched to the scene whose scan start
is nearest its time, when that is within ``tolerance`` (default 30 min);
its sample is a :class:`~convml_tt.data.tiles.Tile` of ``tile_size_m``
metres centred on the point, cut from that scene exactly as the other
samplers cut tiles (:meth:`CompositeReader.tile_planes`).

A point gets no tile, with the reason in :attr:`TrajectorySampler.reasons`
(``""`` for a point that has one), when the trajectory has no position
there (it ended: its ``end_reason`` is quoted), when no scene is within the
tolerance of its time (the nearest scene is named), or when its tile leaves
the composite's valid area (masked or off-disk pixels, or outside the
composite). Sample ``index`` is the point ``divmod(index, n_times)``:
trajectory ``index // n_times``, time ``index % n_times``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..composites.reader import open_composite
from ..tiles import Tile
from ...config import accepts_old_names
from .base import SAMPLERS, DrawnTile, Sampler

__all__ = ["TrajectorySampler", "DEFAULT_TOLERANCE"]

#: default largest distance in time between a trajectory point and the scan start of its scene
DEFAULT_TOLERANCE = np.timedelta64(30, "m")


@SAMPLERS.register("trajectory")
@accepts_old_names(tile_size="tile_size_m")
class TrajectorySampler(Sampler):
    """One tile per trajectory point, from the scene nearest the point's time.

    Parameters
    ----------
    trajectories:
        Dataset with ``lat``, ``lon`` (degrees) on ``(trajectory, time)`` and a
        ``time`` coordinate (datetime64), or the path of a trajectory file
        (CF or lagtraj, :func:`~convml_tt.data.trajectories.read_trajectories`).
    tile_size_m:
        tile side, metres.
    tile_pixels:
        tile side, pixels.
    scenes:
        ``{stage: [composite paths]}``.
    tolerance:
        largest ``|scan start - point time|`` (``numpy.timedelta64``).
    method:
        tile interpolation, ``"bilinear"`` or ``"nearest"``.

    Attributes
    ----------
    shape:
        ``(n_trajectories, n_times)``.
    scene_of:
        ``{stage: (n_trajectories, n_times) int64}``: scene index of each point, -1 none.
    """

    tile_types = ("tile",)

    def __init__(self, trajectories: Any, tile_size_m: float, tile_pixels: int, scenes: Mapping[str, Sequence[str]],
                 tolerance: np.timedelta64 = DEFAULT_TOLERANCE, method: str = "bilinear") -> None:
        super().__init__(scenes, seed=0)
        if not isinstance(trajectories, xr.Dataset):
            from ..trajectories import read_trajectories

            trajectories = read_trajectories(trajectories)
        if not (float(tile_size_m) > 0):
            raise ValueError(f"tile_size_m {tile_size_m!r} must be a positive number of metres")
        if int(tile_pixels) != tile_pixels or tile_pixels < 2:
            raise ValueError(f"tile_pixels {tile_pixels!r} must be an integer >= 2")
        if method not in ("bilinear", "nearest"):
            raise ValueError(f"method {method!r} must be 'bilinear' or 'nearest'")
        self.tolerance = np.timedelta64(tolerance).astype("timedelta64[s]")
        if self.tolerance < np.timedelta64(0, "s"):
            raise ValueError(f"tolerance {tolerance} must not be negative")
        self.tile_size_m, self.tile_pixels, self.method = float(tile_size_m), int(tile_pixels), method
        self.lat = np.asarray(trajectories["lat"].transpose("trajectory", "time").values, np.float64)
        self.lon = (np.asarray(trajectories["lon"].transpose("trajectory", "time").values, np.float64)
                    + 180.0) % 360.0 - 180.0
        self.times = np.asarray(trajectories["time"].values).astype("datetime64[s]")
        self.shape = self.lat.shape
        ends = trajectories["end_reason"].values if "end_reason" in trajectories.variables else None
        self.end_reason = [str(ends[i]) if ends is not None and str(ends[i]) else "" for i in range(self.shape[0])]
        self.scene_times = {s: np.array([np.datetime64(open_composite(p).time.rstrip("Z"), "s") for p in v])
                            for s, v in self.scenes.items()}
        self.scene_of, self.reasons = {}, {}
        for stage in self.scenes:
            self._match(stage)

    def _match(self, stage: str) -> None:
        st = self.scene_times[stage]
        scene = np.full(self.shape, -1, np.int64)
        reasons = np.full(self.shape, "", dtype=object)
        for j, t in enumerate(self.times):
            k = int(np.argmin(np.abs(st - t))) if st.size else -1
            near = k >= 0 and abs(st[k] - t) <= self.tolerance
            for i in range(self.shape[0]):
                if not (np.isfinite(self.lat[i, j]) and np.isfinite(self.lon[i, j])):
                    why = f" ({self.end_reason[i]})" if self.end_reason[i] else ""
                    reasons[i, j] = f"the trajectory has no position at {t}{why}"
                elif not near:
                    nearest = f"the nearest is {st[k]}" if k >= 0 else f"there are no {stage} scenes"
                    reasons[i, j] = f"no scene within {self.tolerance} of {t}: {nearest}"
                else:
                    scene[i, j] = k
        self.scene_of[stage], self.reasons[stage] = scene, reasons

    def n_samples(self, stage: str) -> int:
        """Samples of ``stage``: one per trajectory point."""
        return int(self.shape[0] * self.shape[1])

    def tile(self, trajectory: int, time: int) -> Tile:
        """The tile centred on point ``(trajectory, time)`` (its position must be finite)."""
        return Tile(float(self.lat[trajectory, time]), float(self.lon[trajectory, time]), self.tile_size_m,
                    self.tile_pixels)

    def cut(self, stage: str, trajectory: int, time: int) -> tuple[int, np.ndarray | None]:
        """``(scene, image (C, n, n) float32 composite units)`` of one point;
        image None (and :attr:`reasons` set) when it has no tile; scene -1 without a scene."""
        k = int(self.scene_of[stage][trajectory, time])
        if k < 0:
            return k, None
        reader = open_composite(self.scenes[stage][k])
        image = reader.tile_planes(self.tile(trajectory, time), self.method)
        if image is None:
            self.reasons[stage][trajectory, time] = (
                f"the tile at {self.lat[trajectory, time]:.3f}N {self.lon[trajectory, time]:.3f}E leaves the valid "
                f"area of the composite {self.scenes[stage][k]}")
        return k, image

    def sample(self, stage: str, index: int) -> dict[str, DrawnTile]:
        """Sample ``index`` (trajectory ``index // n_times``, time ``index % n_times``):
        ``{"tile": DrawnTile}`` (image ``(n, n, C)`` or None, see :attr:`reasons`).
        A point without a position or a scene has no tile either (IndexError
        is not raised; the DrawnTile's scene is -1 and its tile centred on the
        last known position or 0N 0E)."""
        n = self.n_samples(stage)
        if not 0 <= int(index) < n:
            raise IndexError(f"sample {index} of {stage!r}: there are {n} trajectory points")
        i, j = divmod(int(index), self.shape[1])
        k, image = self.cut(stage, i, j)
        ok = np.isfinite(self.lat[i, j]) and np.isfinite(self.lon[i, j])
        tile = self.tile(i, j) if ok else Tile(0.0, 0.0, self.tile_size_m, self.tile_pixels)
        return {"tile": DrawnTile(tile, k, None if image is None else np.moveaxis(image, 0, -1))}
