"""convml_tt.interpretation.plots: dendrogram, annotated scatter, grid overview
and the inset placer, drawn from a real PNG dataset folder and saved as PNG."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from convml_tt.interpretation.plots import dendrogram, grid, grid_layout, place_insets, scatter  # noqa: E402
from convml_tt.interpretation.plots.insets import box_covers_points, boxes_overlap  # noqa: E402
from interp_fixtures import N_STUDY, clustered, regime_dataset  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _saved_png(fig, path):
    fig.savefig(path, dpi=60)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 200
    return path


def _assert_insets_clear(boxes, points, radius, gap=0.0):
    boxes = boxes[~np.isnan(boxes[:, 0])]
    for i in range(len(boxes)):
        assert not box_covers_points(boxes[i], points, radius), f"inset {i} covers a point"
        for j in range(i):
            assert not boxes_overlap(boxes[i], boxes[j], gap), f"insets {i} and {j} overlap"


# --- insets ------------------------------------------------------------------------------
def test_insets_do_not_overlap_each_other_nor_the_points():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal([4, 3], 0.6, (150, 2)), rng.normal([7, 5], 0.3, (60, 2))])
    targets = rng.choice(len(pts), 14, replace=False)
    boxes = place_insets(pts, targets, 0.8, (0, 0, 11, 8), point_radius=0.05, gap=0.05)
    assert boxes.shape == (14, 4)
    assert not np.isnan(boxes).any()
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], 0.8)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 11).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 8).all()
    _assert_insets_clear(boxes, pts, 0.05, gap=0.05)


def test_insets_without_room_are_reported():
    pts = np.array([[0.5, 0.5]])  # room for one 0.9 inset, to the right of the point
    with pytest.warns(UserWarning, match="no free place for 1 of 2"):
        boxes = place_insets(pts, [0, 0], 0.9, (0, 0, 2, 1), point_radius=0.05)
    assert np.isnan(boxes[1]).all() and not np.isnan(boxes[0]).any()
    with pytest.raises(ValueError, match="does not fit"):
        place_insets(pts, [0], 3.0, (0, 0, 2, 2))


# --- scatter ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"dims": (0, 2)}, {"method": "pca"}, {"method": "isomap"}])
def test_scatter_insets_clear_of_points(clustered, tmp_path, kw):
    fig, ax, placed = scatter(clustered, n_insets=8, **kw)
    assert placed.sizes["tile_id"] == 8
    assert not np.isnan(placed.values).any()
    # recompute the points' positions in inches within the axes, as the insets are
    x_in = ax.get_position().width * fig.get_figwidth()
    y_in = ax.get_position().height * fig.get_figheight()
    xy = np.stack([c.get_offsets() for c in ax.collections if len(c.get_offsets()) > 1]).reshape(-1, 2)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    pts = np.stack([(xy[:, 0] - x0) / (x1 - x0) * x_in, (xy[:, 1] - y0) / (y1 - y0) * y_in], axis=1)
    assert len(pts) == N_STUDY
    _assert_insets_clear(placed.values, pts, radius=0.04)
    assert len(ax.child_axes) == 8
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["clear", "sugar", "gravel"]  # regime order
    _saved_png(fig, tmp_path / "scatter.png")


def test_scatter_chosen_tiles_and_bad_dimension(clustered):
    fig, ax, placed = scatter(clustered, dims=(1, 0), tile_ids=[3, 4], color_by="")
    assert list(placed.tile_id.values) == [3, 4]
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="embedding dimension 7 does not exist.*0..3"):
        scatter(clustered, dims=(0, 7))
    with pytest.raises(ValueError, match="not one of"):
        scatter(clustered, method="mds")  # t-SNE and UMAP are projections now
    with pytest.raises(ValueError, match="tile_ids \\[999\\]"):
        scatter(clustered, tile_ids=[999])


# --- dendrogram ------------------------------------------------------------------------
def test_dendrogram_labels_cover_all_tiles(clustered, tmp_path):
    fig, labels = dendrogram(clustered, n_leaves=5, n_examples=3)
    assert labels.sizes["tile_id"] == N_STUDY
    assert (labels.tile_id.values == clustered.tile_id.values).all()
    assert sorted(set(labels.values)) == ["A", "B", "C", "D", "E"]
    assert sorted(set(labels.leaf.values)) == [0, 1, 2, 3, 4]
    tree_ax = fig.axes[0]
    ticks = [t.get_text() for t in tree_ax.get_xticklabels()]
    assert len(ticks) == 5  # truncated to 5 leaves
    # tick labels give each leaf's size; they add up to all tiles
    assert sum(int(t.split("(")[1].rstrip(")")) for t in ticks) == N_STUDY
    assert len(fig.axes) == 1 + sum(min(3, (labels.leaf == i).sum().item()) for i in range(5))
    # the three regimes are tight blobs: a 3-leaf cut recovers them
    _, l3 = dendrogram(clustered, n_leaves=3, n_examples=0, letters=["x", "y", "z"])
    from convml_tt.interpretation.metrics import adjusted_rand_index

    assert adjusted_rand_index(l3.values, clustered.regime.values) == 1.0
    assert set(l3.values) == {"x", "y", "z"}
    _saved_png(fig, tmp_path / "dendrogram.png")


def test_dendrogram_bad_input(clustered):
    with pytest.raises(ValueError, match="more leaves than tiles"):
        dendrogram(clustered, n_leaves=N_STUDY + 1)
    with pytest.raises(ValueError, match="letters has 2 names but there are 3 leaves"):
        dendrogram(clustered, n_leaves=3, letters=["a", "b"])


def test_missing_dataset_folder_says_how_to_point_elsewhere(clustered, tmp_path):
    moved = clustered.copy()
    moved.attrs["dataset_path"] = str(tmp_path / "moved-away")
    with pytest.raises(FileNotFoundError, match="no longer exists.*dataset_path="):
        dendrogram(moved, n_leaves=3)
    fig, _ = dendrogram(moved, n_leaves=3, n_examples=1, dataset_path=clustered.attrs["dataset_path"])
    assert len(fig.axes) == 4


# --- grid -------------------------------------------------------------------------------------
def test_grid_layout_ordering():
    rng = np.random.default_rng(0)
    xy = rng.random((100, 2))
    idx = grid_layout(xy, 4, 5)
    assert idx.shape == (4, 5) and len(np.unique(idx)) == 20
    assert (np.diff(xy[idx, 0], axis=1) > 0).all()  # left to right: increasing x
    assert (xy[idx[:-1], 1].min(axis=1) >= xy[idx[1:], 1].max(axis=1)).all()  # rows top to bottom: decreasing y
    with pytest.raises(ValueError, match="needs 120 tiles"):
        grid_layout(xy, 10, 12)


def test_grid_figure(clustered, tmp_path):
    fig, layout = grid(clustered, dims=(0, 1), n_rows=3, n_cols=4)
    assert layout.shape == (3, 4)
    assert len(fig.axes) == 12
    x = clustered.sel(tile_id=layout.values.ravel()).values[:, 0].reshape(3, 4)
    assert (np.diff(x, axis=1) >= 0).all()
    _saved_png(fig, tmp_path / "grid.png")
    with pytest.raises(ValueError, match="dimension 9 does not exist"):
        grid(clustered, dims=(9, 0))
    with pytest.raises(ValueError, match="tile_type dimension"):
        grid(clustered.expand_dims(tile_type=["anchor"]))
