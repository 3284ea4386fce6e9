"""Bad input gets one clear line, before any work: CLI option ranges, empty or
impossible requests, files that are not what they should be."""
from __future__ import annotations

import pickle

import pytest
import torch

from convml_tt.cli import main
from convml_tt.config import TripletSettings
from interp_fixtures import embeddings, regime_dataset, tiny_model_file  # noqa: F401

DOMAIN = (-51.0, 14.0, -49.0, 16.0)


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, says", [
    (["plot", "dendrogram", "e.nc", "--out", "d.png", "--n-examples", "-1"], "-1 is out of range: use a whole number >= 0"),
    (["plot", "grid", "e.nc", "--out", "g.png", "--rows", "0"], "0 is out of range: use a whole number >= 1"),
    (["plot", "scatter", "e.nc", "--out", "s.png", "--tile-type", "anchors"], "invalid choice: 'anchors'"),
    (["evaluate", "e.nc", "--n-clusters", "0"], "0 is out of range: use a whole number >= 2"),
    (["evaluate", "e.nc", "-k", "0"], "0 is out of range: use a whole number >= 1"),
    (["embed", "m.pt", "ds", "--out", "e.nc", "--batch-size", "0"], "use a whole number >= 1"),
    (["demo", "--workers", "0"], "0 is out of range: use a whole number >= 1"),
    (["demo", "--epochs", "two"], "'two' is not a whole number"),
    (["triplets", "--domain", "0", "0", "1", "1", "--n-train", "3", "--out", "x", "--workers", "-1"],
     "-1 is out of range: use a whole number >= 1"),
    (["triplets", "--domain", "0", "0", "1", "1", "--n-train", "-2", "--out", "x"], "use a whole number >= 0"),
    (["train", "ds", "--out", "m.pt", "--epochs", "0"], "0 is out of range: use a whole number >= 1"),
    (["train", "ds", "--out", "m.pt", "--batch-size", "0"], "use a whole number >= 1"),
    (["synthetic", "--count", "0"], "0 is out of range: use a whole number >= 1"),
    (["fetch", "--start", "2020-01-01", "--end", "2020-01-02", "--workers", "0"], "use a whole number >= 1"),
])
def test_cli_options_are_checked_where_they_are_parsed(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and says in _err(capsys)


def test_empty_and_impossible_triplet_requests_are_refused():
    with pytest.raises(ValueError, match="ask for an empty dataset"):
        TripletSettings(domain=DOMAIN, n_train=0, n_study=0)
    with pytest.raises(ValueError, match="tile_pixels=100000 is too large.*GiB.*at most 4096"):
        TripletSettings(domain=DOMAIN, tile_pixels=100000)
    TripletSettings(domain=DOMAIN, n_train=0, n_study=1, tile_pixels=4096)  # the limits themselves are fine


def test_cli_empty_triplet_request(tmp_path, capsys):
    rc = main(["triplets", "--data-root", str(tmp_path), "--domain", *map(str, DOMAIN), "--n-train", "0",
               "--out", str(tmp_path / "ds"), "--quiet"])
    assert rc == 1 and "empty dataset" in _err(capsys)
    assert not (tmp_path / "ds").exists()  # refused before anything was written


def test_files_that_are_not_embeddings(tmp_path, capsys):
    text = tmp_path / "notes.nc"
    text.write_text("not a netCDF file\n")
    for argv in (["evaluate", str(text)], ["plot", "dendrogram", str(text), "--out", str(tmp_path / "d.png")]):
        assert main(argv) == 1
        err = _err(capsys)
        assert f"{str(text)!r} is not an embeddings netCDF file" in err and len(err.splitlines()) == 1
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is a folder" in _err(capsys)


def test_embed_out_folder_refused_before_embedding(tiny_model_file, regime_dataset, tmp_path, capsys):
    out = tmp_path / "emb"
    out.mkdir()
    assert main(["embed", str(tiny_model_file), str(regime_dataset), "--out", str(out), "--quiet"]) == 1
    assert "is a folder; give a file name such as embeddings.nc" in _err(capsys)


def test_k_and_clusters_beyond_the_tiles_are_errors_not_clamped(embeddings, capsys, tmp_path):
    from convml_tt.interpretation.embeddings import save_embeddings
    from convml_tt.interpretation.evaluate import quality_table

    n = embeddings.sizes["tile_id"]
    with pytest.raises(ValueError, match=f"k=100 neighbours: use 1 <= k <= {n - 1}"):
        quality_table(embeddings, k=100, baselines=False)
    with pytest.raises(ValueError, match=f"n_clusters=100: use 2 <= n_clusters <= {n}"):
        quality_table(embeddings, n_clusters=100, baselines=False)
    path = save_embeddings(embeddings, tmp_path / "e.nc")
    assert main(["evaluate", str(path), "-k", "100", "--no-baselines", "--quiet"]) == 1
    assert "k=100 neighbours" in _err(capsys)


def test_pickled_model_files_are_refused_without_torch_advice(tmp_path, capsys):
    from convml_tt.architectures import load_model

    path = tmp_path / "model.pt"
    torch.save({"format": "convml_tt.triplet_encoder", "payload": pickle.PickleError("x")}, path)
    with pytest.raises(ValueError) as info:
        load_model(path)
    msg = str(info.value)
    assert "refused, never unpickled" in msg and "pickled Python objects" in msg
    assert "weights_only=False" not in msg and "trust the source" not in msg


def test_os_errors_are_one_line_naming_the_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["synthetic", "--data-root", str(blocker / "data"), "--count", "1", "--size-km", "200", "--quiet"])
    err = _err(capsys)
    assert rc == 1 and len(err.splitlines()) == 1 and str(blocker) in err


def test_a_file_that_is_not_what_its_name_says(synthetic_scenes, tmp_path):
    """A regime-label map (or another band) copied over a band file's name is
    refused by both readers, not composited as if it were radiance."""
    import shutil

    from convml_tt.data.sources import goes_abi as abi
    from convml_tt.data.composites import make_composite

    scene = synthetic_scenes[0]
    files = {b: tmp_path / p.name for b, p in scene.files.items()}
    for b, p in scene.files.items():
        shutil.copy(p, files[b])
    shutil.copy(scene.labels, files[2])  # a label map under the band-2 name
    for read in (lambda p: abi.open_abi(p), lambda p: abi.WindowReader(p).close()):
        with pytest.raises(abi.ABIFileError, match="its name says ABI Rad band 2 but it holds no 'Rad' variable"):
            read(files[2])
    with pytest.raises(abi.ABIFileError, match="not the file its name says"):
        make_composite(files, DOMAIN)
    shutil.copy(scene.files[1], files[2])  # band 1 under the band-2 name
    for read in (lambda p: abi.open_abi(p), lambda p: abi.WindowReader(p).close()):
        with pytest.raises(abi.ABIFileError, match="its name says ABI Rad band 2 but it holds band 1"):
            read(files[2])
    shutil.copy(scene.files[2], files[2])
    abi.open_abi(files[2]).close()  # the right file reads again
