"""One grouping across figures (issue 22, #5) and the figure fixes of #8:
the dendrogram and box plots given a regimes file use its regimes and
letters (and say so), without one they say they show their own Ward tree;
``plot scatter --color-by`` a continuous coordinate draws a colour bar;
``plot composite`` draws a quick look of a composite."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from PIL import Image  # noqa: E402

from convml_tt.cli import main  # noqa: E402
from convml_tt.interpretation.physical import cluster_labels  # noqa: E402
from convml_tt.interpretation.plots import cluster_boxplots, dendrogram, scatter  # noqa: E402
from convml_tt.interpretation.regimes import fit_regimes  # noqa: E402
from interp_fixtures import clustered, regime_dataset  # noqa: E402,F401
from synthetic_fixtures import DOMAIN, composited_root  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture()
def with_index(clustered):
    """The clustered tiles with a continuous per-tile physical coordinate (cloud fraction, 0-1)."""
    cf = np.random.default_rng(4).uniform(0.05, 0.95, clustered.sizes["tile_id"])
    out = clustered.assign_coords(cloud_fraction=("tile_id", cf))
    out["cloud_fraction"].attrs["units"] = "1"
    return out


def test_dendrogram_and_boxplots_use_the_regimes_file(with_index, tmp_path, capsys):
    da = with_index
    reg = fit_regimes(da, 3, seed=0)
    path = reg.save(tmp_path / "regimes.json")
    fig, leaves = dendrogram(da, n_leaves=7, n_examples=0, regimes=path)
    assert sorted(set(leaves.values)) == reg.names  # one leaf per regime, whatever n_leaves said
    np.testing.assert_array_equal(leaves.values, reg.tile_labels.sel(tile_id=leaves.tile_id).values)
    title = fig.axes[0].get_title()
    # leaf and regime agree on every tile within the unassigned distance (those beyond have no regime)
    idx, dist = reg.nearest(da.values)
    within = dist <= reg.unassigned_distance[idx]  # each tile's nearest regime's distance
    assert "regimes of 'regimes.json' (kmeans, N=3)" in title
    assert f"which {100 * np.mean(within):.0f} % of the tiles" in title
    # the tree's own leaves, named as such
    fig, own = dendrogram(da, n_leaves=4, n_examples=0)
    assert "this tree's own leaves, not a regimes file's regimes" in fig.axes[0].get_title()
    # box plots: each tile's regime of the file ("unassigned" beyond its distance), the file named in the title
    want_names = np.where(within, reg.tile_labels.values, "unassigned")
    assert (want_names == "unassigned").sum() == 1  # the 97th percentile of 24 tiles leaves one out
    np.testing.assert_array_equal(cluster_labels(da, path), want_names)
    fig, med = cluster_boxplots(da, clusters=reg, variables=["cloud_fraction"])
    assert list(med.cluster.values) == reg.names + ["unassigned"]
    assert "per regimes (kmeans, N=3)" in fig._suptitle.get_text()
    for name in reg.names + ["unassigned"]:
        want = np.median(da["cloud_fraction"].values[want_names == name])
        assert float(med.sel(cluster=name, variable="cloud_fraction")) == pytest.approx(want)
    fig, _ = cluster_boxplots(da, clusters="ward", n_clusters=3, variables=["cloud_fraction"])
    assert "Ward clusters (a Ward tree of these tiles, N=3; not a regimes file)" in fig._suptitle.get_text()
    # regimes of other embeddings are refused
    other = fit_regimes(da.isel(emb_dim=[0, 1, 2]), 3, seed=0)
    with pytest.raises(ValueError, match="3-dimensional embeddings but these tiles have emb_dim 4"):
        dendrogram(da, n_examples=0, regimes=other)
    # the command line
    emb = tmp_path / "emb.nc"
    da.to_netcdf(emb)
    assert main(["plot", "dendrogram", str(emb), "--regimes", str(path), "--n-examples", "0",
                 "--out", str(tmp_path / "d.png")]) == 0
    assert main(["plot", "boxplots", str(emb), "--clusters", str(path), "--variables", "cloud_fraction",
                 "--out", str(tmp_path / "b.png")]) == 0
    capsys.readouterr()


def test_scatter_colours_a_continuous_coordinate_with_a_colour_bar(with_index, tmp_path):
    fig, ax, _ = scatter(with_index, dims=(0, 1), n_insets=0, color_by="cloud_fraction")
    assert ax.get_legend() is None and len(fig.axes) == 2  # the scatter and its colour bar
    assert fig.axes[1].get_ylabel() == "cloud_fraction"
    emb = tmp_path / "emb.nc"
    with_index.to_netcdf(emb)
    assert main(["plot", "scatter", str(emb), "--color-by", "cloud_fraction", "--n-insets", "0",
                 "--out", str(tmp_path / "s.png")]) == 0
    with Image.open(tmp_path / "s.png") as im:
        assert im.size[0] < 1600 and im.size[1] < 1200  # not a legend of one entry per value
    # categories stay a legend
    fig, ax, _ = scatter(with_index, dims=(0, 1), n_insets=0, color_by="regime")
    leg = ax.get_legend()
    assert isinstance(leg, Legend) and len(leg.get_texts()) == 3 and len(fig.axes) == 1


def test_plot_composite_quick_look(composited_root, tmp_path, capsys):
    (comp, *_) = sorted(composited_root.rglob("composites/**/*.nc"))
    out = tmp_path / "c.png"
    assert main(["plot", "composite", str(comp), "--out", str(out)]) == 0
    assert "quick look of" in capsys.readouterr().out
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"), np.float64)
    assert rgb.std() > 5  # an image, not a blank figure
    from convml_tt.interpretation.plots.composite import composite_quicklook

    fig = composite_quicklook(comp)
    title = fig.axes[0].get_title()
    lon0, lat0, lon1, lat1 = DOMAIN
    assert f"lon {lon0:g}..{lon1:g}, lat {lat0:g}..{lat1:g}" in title and "UTC" in title and "composite" in title
    assert main(["plot", "composite", str(tmp_path / "missing.nc"), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert "missing.nc" in err and "\n" not in err and not (tmp_path / "x.png").exists()
