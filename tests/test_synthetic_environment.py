"""The synthetic truth for environment fields and trajectories
(:mod:`convml_tt.data.synthetic.environment`): its ERA5-layout files read
back through the field registry give each regime its environment, winds
integrated from them follow the true trajectories, the regimes along
those trajectories change with the generator's transition matrix, and the
scenes' label maps agree with it (the default scenes are unchanged)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from convml_tt.data.fields import Environment
from convml_tt.data.synthetic import make_scene_fields
from convml_tt.data.synthetic.environment import (
    ENVIRONMENT_SPREAD,
    REGIME_ENVIRONMENT,
    TRANSITIONS,
    Transitions,
    regime_of,
    true_sequences,
    true_trajectories,
    write_synthetic_era5,
    write_true_trajectories,
)
from convml_tt.data.synthetic.regimes import REGIMES
from convml_tt.data.tiles import Tile
from convml_tt.data.trajectories import integrate_trajectories, read_trajectories
from convml_tt.interpretation.transitions import transition_statistics

START = dt.datetime(2020, 1, 2, 14)
CENTER = (15.0, -50.0)
REGION_KM = 300.0
TILE = 64e3


@pytest.fixture(scope="module")
def era5(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic_era5")
    return write_synthetic_era5(folder, START, 48, center=CENTER, region_km=REGION_KM, transitions=Transitions(START),
                                step=0.5)


def test_each_regime_lives_in_its_environment(era5):
    """Tiles wholly inside one region at 20 UTC (step 1 of the chain):
    EIS, WS10, RH700 and SST read through the registry (EIS from the
    written T700, t2m, d2m, sp by Wood and Bretherton's formula) are the
    regime's values within the smooth spread (80 % of the tiles; the medians all)."""
    env = Environment(list(era5.values()), ["EIS", "WS10", "RH700", "SST"])
    when = START + dt.timedelta(hours=6)
    lat, lon = np.meshgrid(np.arange(8.0, 22.0, 0.6), np.arange(-64.0, -42.0, 0.6), indexing="ij")
    lat, lon = lat.ravel(), lon.ravel()
    got = {r: [] for r in REGIMES}
    tr = Transitions(START)
    for la, lo in zip(lat, lon):
        tile = Tile(la, lo, 120e3)
        u = (np.arange(5) + 0.5) / 5 * tile.size - tile.size / 2
        plat, plon = tile.latlon(*np.meshgrid(u, u))
        reg = regime_of(plat, plon, when, center=CENTER, region_km=REGION_KM, transitions=tr)
        if (reg == reg.flat[0]).all():
            v = env.tile_values(tile, np.datetime64(when))
            got[REGIMES[reg.flat[0]]].append([v["EIS_mean"], v["WS10_mean"], v["RH700_mean"], v["SST_mean"]])
    means = {}
    for name, rows in got.items():
        assert len(rows) >= 5, f"{name}: only {len(rows)} pure tiles"
        rows = np.asarray(rows)
        centre = np.asarray(REGIME_ENVIRONMENT[name])
        near = np.abs(rows - centre) <= np.asarray(ENVIRONMENT_SPREAD) * 1.05  # a 0.5 degree grid point may
        assert near.mean(axis=0).min() >= 0.8, (name, near.mean(axis=0))     # lie over the next region
        means[name] = np.median(rows, axis=0)
        assert (np.abs(means[name] - centre) <= np.asarray(ENVIRONMENT_SPREAD)).all(), (name, means[name])
    for k in range(2):  # the regime ordering along EIS and along wind speed is the generator's
        want = sorted(REGIMES, key=lambda r: REGIME_ENVIRONMENT[r][k])
        assert sorted(REGIMES, key=lambda r: means[r][k]) == want


def test_trajectories_integrated_from_the_written_winds_follow_the_truth(era5, tmp_path):
    """RK4 through the CDS-layout 850 hPa wind for 48 h stays within one
    tile (64 km) of the true trajectories; measured error is metres."""
    rng = np.random.default_rng(3)
    lat0, lon0 = rng.uniform(10.0, 20.0, 12), rng.uniform(-50.0, -40.0, 12)
    t0 = np.datetime64(START, "s")
    got = integrate_trajectories(list(era5.values()), lat0, lon0, t0, np.timedelta64(48, "h"), output_every=6)
    assert (got["end_reason"].values == "completed").all()
    truth = true_trajectories(lat0, lon0, got["time"].values, t0, center=CENTER)
    path = write_true_trajectories(tmp_path / "true.nc", truth)
    back = read_trajectories(path)
    assert back["trajectory_id"].attrs["cf_role"] == "trajectory_id"
    phi = np.deg2rad(back["lat"].values)
    dy = (got["lat"].values - back["lat"].values) * 111.195e3
    dx = ((got["lon"].values - back["lon"].values + 180) % 360 - 180) * 111.195e3 * np.cos(phi)
    err = np.hypot(dx, dy)
    assert err[:, -1].max() < TILE
    assert err.max() < 1e3  # what it is: well under a kilometre


def test_regimes_along_the_true_trajectories_change_with_the_generators_matrix():
    """The oracle (true regimes along the true trajectories, 6-hourly over two
    days) recovers the transition matrix within 0.1 on every entry, and the
    scenes' label maps (written with the same Transitions) agree with
    :func:`regime_of`."""
    tr = Transitions(START)
    rng = np.random.default_rng(0)
    t0 = np.datetime64(START, "s")
    times = t0 + np.arange(0, 49, 6) * np.timedelta64(1, "h")
    traj = true_trajectories(rng.uniform(0.0, 30.0, 3000), rng.uniform(-80.0, -20.0, 3000), times, t0, CENTER)
    stats = transition_statistics(true_sequences(traj, center=CENTER, region_km=150.0, transitions=tr))
    assert np.abs(stats["probability"].values - np.asarray(TRANSITIONS)).max() < 0.1
    # a trajectory keeps its frame coordinates: with no transitions its regime never changes
    still = true_sequences(traj, center=CENTER, region_km=150.0)["regime"].values
    assert (still == still[:, :1]).all()
    later = START + dt.timedelta(hours=12)
    f = make_scene_fields(later, center=CENTER, size_km=300.0, region_km=150.0, resolution_km=2.0,
                          labels_only=True, transitions=tr)
    from convml_tt.data.synthetic.geometry import _latlon_on_grid

    la, lo = _latlon_on_grid(f.geometry.grid, *f.xy())
    np.testing.assert_array_equal(f.labels, regime_of(la, lo, later, center=CENTER, region_km=150.0, transitions=tr))
    # step 0 of the chain is the fixed layout
    f0 = make_scene_fields(START, center=CENTER, size_km=300.0, region_km=150.0, resolution_km=2.0, labels_only=True)
    f1 = make_scene_fields(START, center=CENTER, size_km=300.0, region_km=150.0, resolution_km=2.0, labels_only=True,
                           transitions=tr)
    np.testing.assert_array_equal(f0.labels, f1.labels)


def test_bad_transitions_are_refused():
    with pytest.raises(ValueError, match="rows summing to 1"):
        Transitions(START, matrix=((0.5,) * 6,) * 6)
    with pytest.raises(ValueError, match="step_hours"):
        Transitions(START, step_hours=0)
