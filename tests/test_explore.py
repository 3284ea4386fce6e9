"""Exploring embeddings: projections (PCA, Isomap, t-SNE, UMAP), the
interactive scatter page (checked in a real headless Chromium) and the
TensorBoard projector export (read back by TensorBoard's own plugin)."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from convml_tt.cli import main  # noqa: E402
from convml_tt.data.dataset.format import read_tile_array, tile_name  # noqa: E402
from convml_tt.interpretation.embeddings import save_embeddings  # noqa: E402
from convml_tt.interpretation.interactive import interactive_scatter  # noqa: E402
from convml_tt.interpretation.projections import project  # noqa: E402
from interp_fixtures import N_STUDY, clustered, embeddings, regime_dataset, tiny_model_file  # noqa: E402,F401


def _nearest_same(xy: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose nearest other point has the same label."""
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[np.argmin(d, axis=1)] == labels))


def _tile(root, tile_id: int) -> np.ndarray:
    return read_tile_array(root / "study" / tile_name(tile_id, "anchor"))


def _page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="scatter-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def _png(b64: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        return np.asarray(im)


# --- projections ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pca", "isomap", "tsne"])
def test_projections_keep_the_clusters_apart_and_repeat(clustered, method):
    x = clustered.values
    xy, labels = project(x, method, seed=0)
    assert xy.shape == (N_STUDY, 2) and np.isfinite(xy).all()
    assert _nearest_same(xy, clustered.regime.values) == 1.0
    np.testing.assert_array_equal(project(x, method, seed=0)[0], xy)
    assert labels[0].endswith(" 1") and labels[1].endswith(" 2")


@pytest.mark.slow  # umap-learn compiles its numba functions on first use: ~15 s of CPU
def test_umap_projection_keeps_the_clusters_apart_and_repeats(clustered):
    pytest.importorskip("umap")
    xy, labels = project(clustered.values, "umap", seed=3)
    assert labels == ("UMAP 1", "UMAP 2") and xy.shape == (N_STUDY, 2)
    assert _nearest_same(xy, clustered.regime.values) == 1.0
    np.testing.assert_allclose(project(clustered.values, "umap", seed=3)[0], xy)


def test_projection_refusals_name_what_would_do(clustered, monkeypatch):
    with pytest.raises(ValueError, match=r"'mds' is not one of \('pca', 'isomap', 'tsne', 'umap'\)"):
        project(clustered.values, "mds")
    with pytest.raises(ValueError, match="needs at least 5 tiles, got 3"):
        project(clustered.values[:3], "tsne")
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(ImportError, match=r"UMAP projection needs umap-learn .*pip install 'convml_tt\[explore\]'"):
        project(clustered.values, "umap")


def test_cli_scatter_takes_every_projection_and_says_what_is_missing(clustered, tmp_path, monkeypatch, capsys):
    nc = save_embeddings(clustered, tmp_path / "emb.nc")
    assert main(["plot", "scatter", str(nc), "--projection", "tsne", "--n-insets", "2", "--dpi", "30",
                 "--out", str(tmp_path / "tsne.png")]) == 0
    with Image.open(tmp_path / "tsne.png") as im:
        assert im.format == "PNG"
    assert main(["plot", "grid", str(nc), "--method", "isomap", "--rows", "2", "--cols", "2", "--dpi", "30",
                 "--out", str(tmp_path / "grid.png")]) == 0
    monkeypatch.setitem(sys.modules, "umap", None)
    capsys.readouterr()
    assert main(["plot", "scatter", str(nc), "--projection", "umap", "--out", str(tmp_path / "u.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'convml_tt[explore]'" in err
    assert not (tmp_path / "u.png").exists()


# --- the interactive page -------------------------------------------------------------------
def test_interactive_page_holds_every_tile_its_image_and_values(embeddings, regime_dataset, tmp_path):
    page = interactive_scatter(embeddings, method="pca")
    data = _page_data(page.html)
    assert page.n_points == N_STUDY and len(data["x"]) == N_STUDY and data["tile_id"] == list(range(N_STUDY))
    for k in (0, 7):
        np.testing.assert_array_equal(_png(data["images"][k]), _tile(regime_dataset, k))
    fields = {f["name"]: f for f in data["fields"]}
    assert fields["time"]["kind"] == "time" and fields["time"]["values"][0] == "2020-01-02T14:00:00"
    assert fields["lat"]["kind"] == "number" and fields["lat"]["units"] == "degrees_north"
    assert fields["lat"]["values"][4] == pytest.approx(11.0)
    assert fields["regime_name"]["kind"] == "category" and fields["regime"]["kind"] == "category"
    assert data["color_by"] == "regime_name"
    # nothing outside the page is referenced: it opens without a server or the internet
    assert "http://" not in page.html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page.html and "src=\"" not in page.html
    small = interactive_scatter(embeddings, thumb_px=16, images=True, dims=(0, 1))
    assert _png(_page_data(small.html)["images"][0]).shape[:2] == (16, 16)
    bare = interactive_scatter(embeddings, images=False, dataset_path=tmp_path / "nowhere")
    assert _page_data(bare.html)["images"] == [None] * N_STUDY
    frame = page._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and "<script" not in frame and "&lt;script" in frame
    with pytest.raises(ValueError, match="color_by coordinate 'cloud' is not a per-tile coordinate"):
        interactive_scatter(embeddings, color_by="cloud")
    with pytest.raises(FileNotFoundError, match="dataset_path"):
        interactive_scatter(embeddings, dataset_path=tmp_path / "nowhere")


def _chromium(tmp_path):
    """A headless Debian Chromium driven through its own chromedriver (no
    browser is downloaded). Without one the test is skipped with the reason,
    or fails where CONVML_TT_REQUIRE_BROWSER=1 (CI)."""
    def missing(why: str):
        if os.environ.get("CONVML_TT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{why}; CONVML_TT_REQUIRE_BROWSER=1 says the browser test must run")
        pytest.skip(why)

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install -e '.[test]')")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1100,800"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(executable_path=driver))


def test_interactive_scatter_in_a_headless_browser(embeddings, regime_dataset, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    nc = save_embeddings(embeddings, tmp_path / "emb.nc")
    html = tmp_path / "scatter.html"
    assert main(["plot", "interactive", str(nc), "--projection", "pca", "--out", str(html)]) == 0
    browser = _chromium(tmp_path)
    try:
        browser.get(html.as_uri())
        circles = browser.find_elements(By.CSS_SELECTOR, "circle.pt")
        assert len(circles) == N_STUDY and all(c.is_displayed() for c in circles[:3])
        assert browser.execute_script("return window.convmlScatter.n") == N_STUDY
        tip = browser.find_element(By.ID, "tooltip")
        assert not tip.is_displayed()
        # hover the two points farthest from any other (no neighbour covers them)
        xy = np.array([[float(c.get_attribute("cx")), float(c.get_attribute("cy"))] for c in circles])
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        for k in np.argsort(-d.min(axis=1))[:2]:
            circle = circles[int(k)]
            tile_id = int(circle.get_attribute("data-tile-id"))
            ActionChains(browser).move_to_element(circle).perform()
            assert tip.is_displayed()
            img = browser.find_element(By.ID, "tip-img")
            assert int(img.get_attribute("data-tile-id")) == tile_id
            assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 32
            src = img.get_attribute("src")
            assert src.startswith("data:image/png;base64,")
            np.testing.assert_array_equal(_png(src.split(",", 1)[1]), _tile(regime_dataset, tile_id))
            table = browser.find_element(By.ID, "tip-table").text
            lat = float(embeddings.lat.sel(tile_id=tile_id))
            assert f"tile_id {tile_id}" in table and "2020-01-02T14:00:00" in table and f"{lat:g}" in table
            assert str(embeddings.regime_name.sel(tile_id=tile_id).item()) in table
        # click selects, a second click deselects
        circle.click()
        assert browser.find_element(By.ID, "selected").get_attribute("value") == str(tile_id)
        assert browser.execute_script("return window.convmlScatter.selected()") == [tile_id]
        circle.click()
        assert browser.execute_script("return window.convmlScatter.selected()") == []
        # colour by a continuous coordinate: viridis from the lowest to the highest latitude
        Select(browser.find_element(By.ID, "color-by")).select_by_value("lat")
        by_id = {int(c.get_attribute("data-tile-id")): c.get_attribute("fill") for c in circles}
        lats = embeddings.lat.values
        assert by_id[int(embeddings.tile_id[np.argmin(lats)])] == "rgb(68,1,84)"
        assert by_id[int(embeddings.tile_id[np.argmax(lats)])] == "rgb(253,231,37)"
        assert browser.find_element(By.ID, "colorbar").is_displayed()
    finally:
        browser.quit()


# --- TensorBoard projector --------------------------------------------------------------------
def test_projector_export_loads_in_tensorboards_projector(embeddings, regime_dataset, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.base_plugin import TBContext
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    nc = save_embeddings(embeddings, tmp_path / "emb.nc")
    out = tmp_path / "projector"
    assert main(["plot", "projector", str(nc), "--out", str(out)]) == 0
    provider = MultiplexerDataProvider(EventMultiplexer(), str(out))
    apps = ProjectorPlugin(TBContext(logdir=str(out), data_provider=provider)).get_plugin_apps()
    client = Client(lambda env, start: apps[env["PATH_INFO"]](env, start))

    def get(route: str):
        r = client.get(route)
        assert r.status_code == 200, r.get_data(as_text=True)
        return r

    assert json.loads(get("/runs").get_data()) == ["."]
    config = json.loads(get("/info?run=.").get_data())
    (emb,) = config["embeddings"]
    n, e = embeddings.shape
    assert emb["tensorName"] == "embedding" and [int(v) for v in emb["tensorShape"]] == [n, e]
    assert [int(v) for v in emb["sprite"]["singleImageDim"]] == [32, 32]
    tensor = np.frombuffer(get("/tensor?run=.&name=embedding").get_data(), dtype=np.float32).reshape(n, e)
    np.testing.assert_allclose(tensor, embeddings.values, rtol=1e-6)
    rows = get("/metadata?run=.&name=embedding").get_data(as_text=True).splitlines()
    header = rows[0].split("\t")
    assert header[0] == "tile_id" and {"lat", "lon", "time", "regime_name", "stage"} <= set(header)
    assert len(rows) == n + 1
    cells = dict(zip(header, rows[6].split("\t")))
    assert cells["tile_id"] == "5" and cells["regime_name"] == "gravel" and cells["time"] == "2020-01-02T14:00:00"
    with Image.open(io.BytesIO(get("/sprite_image?run=.&name=embedding").get_data())) as im:
        sprite = np.asarray(im.convert("RGB"))
    assert sprite.shape == (5 * 32, 5 * 32, 3)  # 24 tiles in 5 columns
    np.testing.assert_array_equal(sprite[32:64, 64:96], _tile(regime_dataset, 7))  # row 1, column 2
    # a sprite too large for TensorBoard is refused before anything is written
    with pytest.raises(ValueError, match="sprite_px 2000 does not fit"):
        from convml_tt.interpretation.projector import export_projector

        export_projector(embeddings, tmp_path / "big", sprite_px=2000)
    assert not (tmp_path / "big").exists()
