"""Old names keep working after ``tile_size`` became ``tile_size_m`` (metres:
triplet settings, samplers, maps, datasets) and ``tile_pixels`` (pixels:
training settings, model configs): keywords, CLI flags and files written
before the rename."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from convml_tt.cli import build_parser
from convml_tt.config import TrainingSettings, TripletSettings, settings_from
from convml_tt.data.dataset.format import read_dataset_meta, write_dataset_meta
from convml_tt.data.sampling.grid import GridSampler

DOMAIN = (-50.0, 14.0, -49.0, 15.0)


def test_settings_accept_old_keywords_and_write_new_names():
    s = TripletSettings(DOMAIN, tile_size=50e3, tile_pixels=32, n_train=1)
    assert s.tile_size_m == 50e3 and s.tile_size == 50e3  # the old name reads the new field
    assert "tile_size_m" in s.to_yaml_dict() and "tile_size" not in s.to_yaml_dict()
    assert settings_from(TripletSettings, {"domain": DOMAIN, "tile_size": 60e3, "n_train": 1}).tile_size_m == 60e3
    t = TrainingSettings(tile_size=64)
    assert t.tile_pixels == 64 and t.tile_size == 64
    with pytest.raises(TypeError, match="give tile_size_m= .or its old name tile_size=., not both"):
        TripletSettings(DOMAIN, tile_size=50e3, tile_size_m=60e3, n_train=1)
    with pytest.raises(ValueError, match="tile_pixels=4 is too small"):
        TrainingSettings(tile_size=4)
    assert GridSampler(DOMAIN, tile_size=40e3, tile_pixels=16, stride=20e3, scenes={"map": []}).tile_size_m == 40e3


def test_cli_old_flags_are_aliases():
    p = build_parser()
    new = p.parse_args(["triplets", "--domain", *map(str, DOMAIN), "--tile-size-m", "30e3", "--n-train", "1",
                        "--out", "x"])
    old = p.parse_args(["triplets", "--domain", *map(str, DOMAIN), "--tile-size", "30e3", "--n-train", "1",
                        "--out", "x"])
    assert new.tile_size_m == old.tile_size_m == 30e3
    train = p.parse_args(["train", "data", "--out", "m.pt", "--tile-size", "48"])
    assert train.tile_pixels == 48 and settings_from(TrainingSettings, train).tile_pixels == 48


def test_files_written_before_the_rename_read_with_new_names(tmp_path):
    import torch

    from convml_tt.architectures.encoder import TripletEncoder
    from convml_tt.architectures.model_file import MODEL_FORMAT, file_dict, read_model_file
    from convml_tt.interpretation._map_io import renamed_attrs

    # a dataset meta.yaml of before: params.tile_size in metres
    write_dataset_meta(tmp_path, {"params": {"tile_size": 50e3, "tile_pixels": 24}})
    assert read_dataset_meta(tmp_path)["params"] == {"tile_size_m": 50e3, "tile_pixels": 24}
    # a model file of before: config.tile_size in pixels (and a checkpoint's training settings)
    enc = TripletEncoder("resnet18", 1, 4, config={"tile_pixels": 32})
    obj = file_dict(enc, MODEL_FORMAT)
    obj["config"]["tile_size"] = obj["config"].pop("tile_pixels")
    torch.save(obj, tmp_path / "old.pt")
    cfg = read_model_file(tmp_path / "old.pt")["config"]
    assert cfg["tile_pixels"] == 32 and "tile_size" not in cfg
    # a map of before: attribute tile_size in metres
    ds = renamed_attrs(xr.Dataset({"v": ("x", np.zeros(2))}, attrs={"tile_size": 40e3}))
    assert ds.attrs == {"tile_size_m": 40e3}
