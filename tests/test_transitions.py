"""Regimes along trajectories: the trajectory sampler on the synthetic scenes,
regime sequences through a tiny model (checked against tiles cut and
embedded here), transition statistics against counts made by hand, and
``convml_tt track`` run as a subprocess on a lagtraj-layout file."""
from __future__ import annotations

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from convml_tt.interpretation.featurizers import model_sha256  # noqa: E402
from convml_tt.interpretation.regimes import Regimes  # noqa: E402
from convml_tt.interpretation.transitions import (  # noqa: E402
    load_sequences,
    regime_sequences,
    transition_statistics,
    wilson_interval,
)
from interp_fixtures import tiny_model_file  # noqa: E402,F401
from synthetic_fixtures import DOMAIN, composited_root  # noqa: E402,F401

T0 = np.datetime64("2020-01-02T13:00", "ns")
TIMES = T0 + np.arange(5) * np.timedelta64(1, "h")  # 13..17 h; scenes at 14, 15, 16 h
SIZE, PX = 40e3, 32


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


# --- transition statistics --------------------------------------------------------------
def test_transition_statistics_against_hand_counts():
    rng = np.random.default_rng(0)
    reg = rng.integers(-1, 3, (40, 12))
    seq = xr.Dataset({"regime": (("trajectory", "time"), reg)},
                     coords={"time": T0 + np.arange(12) * np.timedelta64(30, "m")},
                     attrs={"regime_names": json.dumps(["sugar", "gravel", "flowers"])})
    for step in (1, 3):
        got = transition_statistics(seq, step=step)
        want = np.zeros((3, 3), int)
        for t in range(40):
            for k in range(12 - step):
                a, b = reg[t, k], reg[t, k + step]
                if a >= 0 and b >= 0:
                    want[a, b] += 1
        np.testing.assert_array_equal(got["count"].values, want)
        np.testing.assert_allclose(got["probability"].values, want / want.sum(axis=1, keepdims=True))
        assert got.attrs["time_step_s"] == 1800 * step
        assert list(got["from_regime"].values) == ["sugar", "gravel", "flowers"]
        assert (got["lower"] <= got["probability"]).all() and (got["probability"] <= got["upper"]).all()
    # the Wilson interval by its formula (z = 1.959964 for 95 %)
    z, k, n = 1.959964, 7.0, 20.0
    p = k / n
    c, h = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    np.testing.assert_allclose(wilson_interval(np.array(k), np.array(n)), (c - h, c + h), rtol=1e-6)
    # a chain with known probabilities: estimates within their intervals' reach
    P = np.array([[0.7, 0.3, 0.0], [0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])
    chain = np.zeros((400, 6), int)
    for k in range(1, 6):
        u = rng.random(400)
        chain[:, k] = (u[:, None] > np.cumsum(P[chain[:, k - 1]], axis=1)).sum(axis=1)
    est = transition_statistics(seq.isel(time=slice(0, 6), trajectory=slice(0, 0)).drop_vars("regime").assign(
        regime=(("trajectory", "time"), chain)))
    assert np.abs(est["probability"].values - P).max() < 0.06
    with pytest.raises(ValueError, match="not evenly spaced"):
        transition_statistics(seq.assign_coords(time=TIMES[[0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4]] +
                                                np.arange(12) * np.timedelta64(1, "s")))


def test_unassigned_points_are_a_state_of_their_own():
    rng = np.random.default_rng(1)
    reg = rng.integers(-2, 3, (30, 8))  # -2 unassigned, -1 no tile, 0..2 regimes
    seq = xr.Dataset({"regime": (("trajectory", "time"), reg)},
                     coords={"time": T0 + np.arange(8) * np.timedelta64(1, "h")},
                     attrs={"regime_names": json.dumps(["A", "B", "C"]), "unassigned_distance": [1.0, 1.0, 1.0]})
    got = transition_statistics(seq, step=2)
    assert list(got["from_regime"].values) == ["A", "B", "C", "unassigned"] == list(got["to_regime"].values)
    state = {-2: 3, 0: 0, 1: 1, 2: 2}
    want = np.zeros((4, 4), int)
    for t in range(30):
        for k in range(6):
            a, b = reg[t, k], reg[t, k + 2]
            if a in state and b in state:
                want[state[a], state[b]] += 1
    np.testing.assert_array_equal(got["count"].values, want)
    np.testing.assert_allclose(got["probability"].values, want / want.sum(axis=1, keepdims=True))
    assert got.attrs["n_pairs"] == want.sum()
    assert got.attrs["n_unassigned_pairs"] == want[3].sum() + want[:3, 3].sum()
    # sequences assigned without a cut (no attribute, no -2): the regimes only, as before
    plain = transition_statistics(seq.assign(regime=seq["regime"].where(seq["regime"] != -2, -1)).drop_attrs())
    assert plain.sizes["from_regime"] == 3 and plain.attrs["n_unassigned_pairs"] == 0
    # the figure: unassigned grey in the sequences, its row and column in the matrix
    from convml_tt.interpretation.plots.transitions import sequences_figure

    fig, stats = sequences_figure(_trajectories().assign(
        regime=(("trajectory", "time"), np.array([[-1, 0, -2, 1, -2], [0, 0, 1, -1, -1]]))).assign_attrs(
        regime_names=json.dumps(["A", "B"]), unassigned_distance=[2.0, 2.0]))
    assert "2 unassigned" in fig._suptitle.get_text() and "grey: unassigned" in fig.axes[0].get_title()
    np.testing.assert_array_equal(stats["count"].values, [[1, 1, 1], [0, 0, 1], [0, 1, 0]])
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["A", "B", "unassigned"]


# --- sequences from the synthetic scenes ------------------------------------------------------
def _trajectories():
    """Two trajectories over the synthetic domain: the second ends (NaN) after 15 h; the
    first's 16 h point lies far north of the scenes (its tile leaves the composite)."""
    lat = np.array([[14.8, 14.9, 15.0, 20.0, 15.1], [15.2, 15.1, 15.0, np.nan, np.nan]])
    lon = np.array([[-50.3, -50.2, -50.1, -50.0, -49.9], [-49.8, -49.9, -50.0, np.nan, np.nan]])
    return xr.Dataset({"lat": (("trajectory", "time"), lat), "lon": (("trajectory", "time"), lon),
                       "end_reason": ("trajectory", np.array(["completed", "left the wind field's domain"]))},
                      coords={"time": TIMES}, attrs={"featureType": "trajectory"})


def _composites(root):
    return sorted(str(p) for p in root.rglob("*.nc") if "composites" in p.parts)


def test_regime_sequences_on_synthetic_scenes(composited_root, tiny_model_file, tmp_path):
    import torch

    from convml_tt.architectures.inference import embed_tiles
    from convml_tt.architectures.model_file import load_model
    from convml_tt.data.composites.enhance import to_display
    from convml_tt.data.composites.reader import open_composite
    from convml_tt.data.tiles import Tile

    comps = _composites(composited_root)
    assert len(comps) == 3
    traj = _trajectories()
    # independently: tiles cut at the points with scenes (14, 15 h), embedded by the model
    readers = {str(open_composite(c).time)[:13]: open_composite(c) for c in comps}
    pts = [(0, 1), (0, 2), (1, 1), (1, 2)]
    tiles = []
    for i, j in pts:
        r = readers[str(TIMES[j])[:13]]
        tiles.append(to_display(r.tile_planes(Tile(traj.lat.values[i, j], traj.lon.values[i, j], SIZE, PX),
                                              "bilinear"), r.channel_units, channel_axis=0))
    torch.manual_seed(0)
    x = embed_tiles(load_model(tiny_model_file), np.stack(tiles), device="cpu").numpy().astype(np.float64)
    sha = model_sha256(tiny_model_file)
    with pytest.raises(ValueError, match="do not record the model"):
        regime_sequences(tiny_model_file, traj, comps, Regimes(centroids=x[[0, 3]], names=["A", "B"],
                                                               method="kmeans"),
                         tile_size_m=SIZE, tile_pixels=PX, device="cpu", progress=False)
    regimes = Regimes(centroids=x[[0, 3]] + 1e-3, names=["A", "B"], method="kmeans", model_sha256=sha)
    seq = regime_sequences(tiny_model_file, traj, comps, regimes, tile_size_m=SIZE, tile_pixels=PX, device="cpu",
                           out=tmp_path / "seq.nc", progress=False)
    want = {(0, 1): 0, (1, 2): 1}
    for n, (i, j) in enumerate(pts):
        np.testing.assert_allclose(seq["embedding"].values[i, j], x[n], rtol=1e-4, atol=1e-5)
        d = np.linalg.norm(regimes.centroids - x[n], axis=1)
        assert seq["regime"].values[i, j] == np.argmin(d) == want.get((i, j), np.argmin(d))
        assert seq["reason"].values[i, j] == ""
    reason = seq["reason"].values
    assert "no scene within" in reason[0, 0] and "nearest is 2020-01-02T14:00" in reason[0, 0]
    assert "no scene within" in reason[0, 4]
    assert "leaves the valid area" in reason[0, 3]
    assert "no position" in reason[1, 3] and "left the wind field's domain" in reason[1, 3]
    assert (seq["regime"].values[reason != ""] == -1).all() and (seq["regime"].values[reason == ""] >= 0).all()
    # the sampler of the registry, sample by sample: index = trajectory * n_times + time
    from convml_tt.data.sampling import SAMPLERS

    sampler = SAMPLERS.get("trajectory")(traj, SIZE, PX, {"s": comps})
    got = sampler.sample("s", 0 * 5 + 1)["tile"]
    assert got.image.shape == (PX, PX, 3) and got.scene == 0 and abs(got.tile.lat0 - 14.9) < 1e-9
    assert sampler.sample("s", 0 * 5 + 3)["tile"].image is None and sampler.sample("s", 1 * 5 + 4)["tile"].scene == -1
    with pytest.raises(IndexError):
        sampler.sample("s", 10)
    back = load_sequences(tmp_path / "seq.nc")
    np.testing.assert_array_equal(back["regime"].values, seq["regime"].values)
    stats = transition_statistics(back)
    assert int(stats["count"].sum()) == 2  # 14 -> 15 h of each; neither has a regime at 16 h
    # regimes with an unassigned distance (as fitted): a point farther than its nearest regime's is unassigned
    d = np.array([np.linalg.norm(regimes.centroids - x[n], axis=1) for n in range(len(pts))])  # (points, regimes)
    near = d.argmin(axis=1)
    cut = np.full(2, np.sort(d.min(axis=1))[1] + 1e-6)  # the two nearest points stay, the others leave
    cut_regimes = Regimes(centroids=regimes.centroids, names=["A", "B"], method="kmeans", model_sha256=sha,
                          unassigned_distance=cut)
    seq = regime_sequences(tiny_model_file, traj, comps, cut_regimes, tile_size_m=SIZE, tile_pixels=PX,
                           device="cpu", out=tmp_path / "seq_cut.nc", progress=False)
    for n, (i, j) in enumerate(pts):
        assert seq["regime"].values[i, j] == (-2 if d[n].min() > cut[near[n]] else near[n])
    assert (seq["regime"].values == -2).sum() == 2 and seq["reason"].values[0, 1] == ""
    back = load_sequences(tmp_path / "seq_cut.nc")
    np.testing.assert_array_equal(back["regime"].values, seq["regime"].values)
    assert back["regime"].attrs["flag_meanings"] == "unassigned A B"
    np.testing.assert_allclose(back.attrs["unassigned_distance"], cut)
    assert list(transition_statistics(back)["from_regime"].values) == ["A", "B", "unassigned"]
    # a distance given for the run, instead of the file's: every point assigned
    wide = regime_sequences(tiny_model_file, traj, comps, cut_regimes, tile_size_m=SIZE, tile_pixels=PX,
                            device="cpu", progress=False, unassigned_distance=1e6)
    np.testing.assert_array_equal(wide["regime"].values[tuple(np.array(pts).T)], near)
    assert wide.attrs["unassigned_rule"] == "given"


def test_track_cli_on_a_lagtraj_file(composited_root, tiny_model_file, tmp_path, capsys):
    # lagtraj's layout: one trajectory on `time`, 0..360 longitudes, its swapped units attributes
    lat, lon = np.array([14.7, 14.8, 14.9, 15.0, 15.1]), np.array([309.6, 309.7, 309.8, 309.9, 310.0])
    lag = xr.Dataset({"lat": ("time", lat, {"long_name": "latitude", "units": "degrees_east"}),
                      "lon": ("time", lon, {"long_name": "longitude", "units": "degrees_north"}),
                      "u_traj": ("time", np.full(5, 3.0), {"units": "m/s"}),
                      "v_traj": ("time", np.full(5, 3.0), {"units": "m/s"})},
                     coords={"time": TIMES})
    lag.to_netcdf(tmp_path / "lagtraj.nc")
    rng = np.random.default_rng(2)
    regimes = Regimes(centroids=rng.normal(0, 1, (2, 8)), names=["A", "B"], method="kmeans",
                      model_sha256=model_sha256(tiny_model_file))
    regimes.save(tmp_path / "regimes.json")
    out, fig = tmp_path / "sequences.nc", tmp_path / "sequences.png"
    cmd = [sys.executable, "-m", "convml_tt", "track", str(tiny_model_file), "--trajectories",
           str(tmp_path / "lagtraj.nc"), "--data-root", str(composited_root), "--regimes", str(tmp_path / "regimes.json"),
           "--out", str(out), "--domain", *map(str, DOMAIN), "--tile-size-m", "40e3", "--tile-pixels", "32",
           "--device", "cpu", "--figure", str(fig), "--quiet", "--workers", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # tiles cut by 2 worker processes
    assert r.returncode == 0, r.stderr
    assert "3 of 5 points with a regime" in r.stdout and "2 points without a regime: no scene within" in r.stdout
    assert "transition probabilities after 1 h" in r.stdout
    seq = load_sequences(out)
    np.testing.assert_allclose(seq["lon"].values[0], lon - 360.0)
    same = regime_sequences(tiny_model_file, tmp_path / "lagtraj.nc", _composites(composited_root), regimes,
                            tile_size_m=40e3, tile_pixels=32, device="cpu", progress=False)
    np.testing.assert_array_equal(seq["regime"].values, same["regime"].values)
    assert (seq["regime"].values[0, 1:4] >= 0).all() and (seq["regime"].values[0, [0, 4]] == -1).all()
    assert fig.stat().st_size > 10000
    # --unassigned-distance D, as `regimes assign` takes it: the points farther than D are unassigned
    from convml_tt.cli import main

    dist = same["regime_distance"].values[0, 1:4]
    cut = float(np.sort(dist)[1]) + 1e-6
    argv = cmd[3:-2] + ["--unassigned-distance", str(cut)]  # cut here, not by worker processes
    argv[argv.index("--out") + 1] = str(tmp_path / "cut.nc")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 of 5 points with a regime, 1 of them unassigned (farther than" in printed
    out = dist > cut
    n_un = int(out[:2].any() + out[1:].any())  # the pairs 14 -> 15 h and 15 -> 16 h with an unassigned end
    assert f"{n_un} of 2 pairs ({50 * n_un} %) start or end unassigned" in printed and "  unassigned (" in printed
    got = load_sequences(tmp_path / "cut.nc")
    np.testing.assert_array_equal(got["regime"].values[0, 1:4], np.where(out, -2, same["regime"].values[0, 1:4]))
    # a file that is not a trajectory file: one line, nothing written
    xr.Dataset({"x": ("t", np.zeros(3))}).to_netcdf(tmp_path / "bad.nc")
    cmd[cmd.index("--trajectories") + 1] = str(tmp_path / "bad.nc")
    cmd[cmd.index("--out") + 1] = str(tmp_path / "never.nc")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 1 and "bad.nc: not a trajectory file" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "never.nc").exists()


def test_sequences_figure_over_a_regime_map():
    from convml_tt.interpretation.plots.transitions import sequences_figure

    names = json.dumps(["A", "B"])
    seq = _trajectories().assign(regime=(("trajectory", "time"), np.array([[-1, 0, 1, -1, -1], [0, 0, 1, -1, -1]])))
    seq.attrs["regime_names"] = names
    lat, lon = np.meshgrid(np.linspace(15.5, 14.5, 6), np.linspace(-50.5, -49.5, 7), indexing="ij")
    rmap = xr.Dataset({"regime": (("time", "y", "x"), np.arange(2 * 42).reshape(2, 6, 7) % 2),
                       "lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
                      coords={"time": TIMES[[0, 3]]}, attrs={"regime_names": names})
    fig, stats = sequences_figure(seq, regime_map=rmap)
    assert "2020-01-02 16:00" in fig.axes[0].get_title()  # the scene nearest 15 h, the middle of 13..17 h
    assert len(fig.axes[0].collections) >= 1 + 2 * 2  # the map and the two tracks' points
    np.testing.assert_array_equal(stats["count"].values, [[1, 2], [0, 0]])
    with pytest.raises(ValueError, match="regime map"):
        sequences_figure(seq, regime_map=rmap.drop_vars("lat"))
