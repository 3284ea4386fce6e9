"""Labels are what you asked for (issue 22, #1): on the real GOES-17 daytime
scan of the shared goes_real data, tiles, embeddings and maps made without
``--labels`` carry no regime names; ``--labels synthetic`` on those real
scenes is refused in one line; ``embed --stage`` on a dataset without that
stage names the stage it has; ``plot composite`` draws the real composite.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from convml_tt.cli import main  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY = "s20193002000275"
#: inside the GOES-17 M1 sector: stratocumulus, smoke, clear land (2 km composites)
DOMAIN = ("-125.5", "33.0", "-122.0", "36.5")
TILES = ("--recipe", "C13", "--resolution-km", "2", "--tile-size-m", "64e3", "--tile-pixels", "32")

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real GOES files not available")


@pytest.fixture(scope="module")
def day_root(tmp_path_factory) -> Path:
    """A source cache of links to the real daytime scan's C13 file."""
    root = tmp_path_factory.mktemp("labels_real") / "root"
    src = root / "sources" / "goes17"
    src.mkdir(parents=True)
    for p in sorted(REAL.glob(f"OR_ABI-L1b-RadM1-M6C13_G17_{DAY}_*.nc")):
        (src / p.name).symlink_to(p)
    return root


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _model(path: Path) -> Path:
    """A 1-channel resnet18 encoder (emb_dim 8, seed 0) for 32 px C13 tiles."""
    import torch

    from convml_tt.architectures import TripletEncoder, save_model

    torch.manual_seed(0)
    enc = TripletEncoder("resnet18", n_input_channels=1, emb_dim=8, head="linear", dropout=0.0,
                         config={"normalization": {"kind": "dataset", "mean": [0.5], "std": [0.25]},
                                 "tile_pixels": 32, "recipe": "C13"})
    return save_model(enc, path)


def test_real_scan_gets_no_regime_names_unless_asked(day_root, tmp_path, capsys):
    # a map of the real scan with no --labels: no true_* variables, no regime names
    out = tmp_path / "map.nc"
    rc, _, err = _cli(capsys, "map", "tile_statistics", "--data-root", day_root, "--domain", *DOMAIN, *TILES,
                      "--stride", "64e3", "--out", out, "--quiet")
    assert rc == 0, err
    with xr.open_dataset(out) as m:
        assert "regime_names" not in m.attrs and not m.attrs.get("labeler")
        assert not [v for v in m.variables if str(v).startswith("true_")]
        assert int(m["valid"].sum()) > 0
    # asking for synthetic names on the real scan: refused in one line, nothing written
    bad = tmp_path / "bad.nc"
    rc, _, err = _cli(capsys, "map", "tile_statistics", "--data-root", day_root, "--domain", *DOMAIN, *TILES,
                      "--stride", "64e3", "--out", bad, "--quiet", "--labels", "synthetic")
    assert rc == 1 and not bad.exists()
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert "--labels synthetic" in line and "OR_ABI-L1b-RadM1-M6C13_G17" in line and "convml_tt synthetic" in line

    # a quick look of the real scan's composite, titled with what, where and when
    (comp,) = sorted(day_root.rglob("composites/**/*.nc"))
    rc, out, err = _cli(capsys, "plot", "composite", comp, "--out", tmp_path / "c13.png")
    assert rc == 0 and (tmp_path / "c13.png").stat().st_size > 10_000, err
    from convml_tt.interpretation.plots.composite import composite_quicklook

    fig = composite_quicklook(comp)
    title = fig.axes[0].get_title()
    plt.close(fig)
    assert "GOES-17" in title and "C13" in title and "lon -125.5..-122, lat 33..36.5" in title
    assert "2019-10-27 20:00 UTC" in title

    # tiles and embeddings of the real scan: no regime labels without --labels
    ds = tmp_path / "ds"
    rc, _, err = _cli(capsys, "triplets", "--data-root", day_root, "--domain", *DOMAIN, *TILES, "--n-train", "4",
                      "--distant", "same_scene", "--out", ds, "--quiet")
    assert rc == 0, err
    rc, _, err = _cli(capsys, "triplets", "--data-root", day_root, "--domain", *DOMAIN, *TILES, "--n-train", "4",
                      "--distant", "same_scene", "--out", tmp_path / "ds2", "--quiet", "--labels", "synthetic")
    assert rc == 1 and "--labels synthetic" in err and "\n" not in err.strip()
    model = _model(tmp_path / "c13.pt")
    emb = tmp_path / "emb.nc"
    rc, _, err = _cli(capsys, "embed", model, ds, "--stage", "train", "--out", emb, "--device", "cpu", "--quiet")
    assert rc == 0, err
    with xr.open_dataset(emb) as e:
        assert e.sizes["tile_id"] == 4 and np.isfinite(e["embedding"].values).all()
        assert not {"regime", "regime_name", "regime_fraction"} & set(e.coords)
        assert "regime_names" not in e.attrs

    # embed --stage study on a dataset of train tiles only names the stage it has
    rc, _, err = _cli(capsys, "embed", model, ds, "--out", tmp_path / "emb2.nc", "--device", "cpu", "--quiet")
    assert rc == 1 and "no 'study' tiles" in err and "use --stage train" in err and "\n" not in err.strip()
    assert not (tmp_path / "emb2.nc").exists()
