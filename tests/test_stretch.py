"""Per-dataset display stretches of brightness temperatures (convml_tt.data.composites.stretch).

The datasets, models and maps that record and apply them are tested on the
real GOES-17 scans in tests/test_recipe_tiles.py; here the stretch itself.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from convml_tt.config import TripletSettings
from convml_tt.data.composites.enhance import display_stretch, from_display, to_display
from convml_tt.data.composites.stretch import (check_same_stretch, check_stretch, grey_levels, linear_stretch,
                                               model_stretches)

DOMAIN = (-125.5, 33.0, -122.0, 36.5)


def test_a_recorded_range_replaces_200_320_k_for_k_channels_only():
    bt = np.array([240.0, 250.0, 270.0, 290.0, 300.0, np.nan], np.float32)
    s = linear_stretch(250.0, 290.0, "given")
    assert list(to_display(bt, "K", stretches=[s])) == [255, 255, 128, 0, 0, 0]
    # the fixed record (and None) give the bytes of no record
    fixed = {**display_stretch("K"), "chosen": "fixed"}
    np.testing.assert_array_equal(to_display(bt, "K", stretches=[fixed]), to_display(bt, "K"))
    np.testing.assert_array_equal(to_display(bt, "K", stretches=[None]), to_display(bt, "K"))
    # per channel: a reflectance channel keeps its gamma stretch, each K channel its own range
    r = np.array([0.0, 0.1, 0.25, 0.5, 1.0, np.nan], np.float32)
    img = np.stack([r, bt, bt], -1)
    out = to_display(img, ("1", "K", "K"), 2.2, stretches=[s, s, None])
    np.testing.assert_array_equal(out[:, 0], to_display(r, "1", 2.2))
    np.testing.assert_array_equal(out[:, 1], to_display(bt, "K", stretches=[s]))
    np.testing.assert_array_equal(out[:, 2], to_display(bt, "K"))
    b = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_display(from_display(b, s), "K", stretches=[s]), b)
    with pytest.raises(ValueError, match="2 stretches given for 3 channels"):
        to_display(img, ("1", "K", "K"), stretches=[s, s])
    # a 4 K range of low cloud (280-284 K): 255 * 4 / 40 + 1 levels over 40 K, 255 * 4 / 120 + 1 over 120 K
    low = np.linspace(280.0, 284.0, 1000)
    assert grey_levels(low, s) == 27 and grey_levels(low, display_stretch("K")) == 10


def test_stretch_requests_and_their_yaml_forms():
    assert check_stretch(None) == check_stretch(["auto"]) == "auto"
    assert check_stretch(["fixed"]) == "fixed" and check_stretch(["230", "300"]) == (230.0, 300.0)
    per = check_stretch(["C14=fixed", "C13=230,300"])
    assert per == (("C13", (230.0, 300.0)), ("C14", "fixed")) == check_stretch({"C13": [230, 300], "C14": "fixed"})
    t = TripletSettings(domain=DOMAIN, recipe="C13+C14", stretch=["C13=230,300", "C14=fixed"])
    d = t.to_yaml_dict()
    assert d["stretch"] == {"C13": [230.0, 300.0], "C14": "fixed"} and TripletSettings(**d) == t
    assert "stretch" not in TripletSettings(domain=DOMAIN, recipe="C13").to_yaml_dict()  # auto: as before
    for value, msg in (((300, 230), "LO 300 K is not below HI 230 K"), (("x", 300), "LO 'x' is not a number"),
                       ((230, 400), "HI 400 is outside 150-350 K"), ((1, 2, 3), "neither 'auto', 'fixed' nor"),
                       ((230, float("nan")), "HI nan is outside")):
        with pytest.raises(ValueError, match=msg):
            check_stretch(value)
    with pytest.raises(ValueError, match=r"channels are \['C13'\], not 'C07'"):
        TripletSettings(domain=DOMAIN, recipe="C13", stretch={"C07": (230, 300)})
    with pytest.raises(ValueError, match="reflectance keeps its gamma stretch"):
        TripletSettings(domain=DOMAIN, stretch=(230, 300))


def test_the_models_record_decides_and_mismatches_are_refused(caplog):
    k = {"name": "C13", "units": "K", "stretch": linear_stretch(260.0, 295.0, "dataset")}
    fixed = {"name": "C13", "units": "K", "stretch": display_stretch("K")}
    assert model_stretches({"channels": [k]}, ("K",)) == [k["stretch"]]
    # no record, the fixed record, other units, another channel count: the fixed stretch (None)
    for cfg, units in (({}, ("K",)), ({"channels": None}, ("K",)), ({"channels": [fixed]}, ("K",)),
                       ({"channels": [k]}, ("1",)), ({"channels": [k, k]}, ("K",))):
        assert model_stretches(cfg, units) is None
    check_same_stretch([k], [k], "m.pt", "ds")
    check_same_stretch(None, [fixed], "m.pt", "ds")  # both fixed
    check_same_stretch([k], None, "m.pt", "ds")  # a dataset without a record: nothing to compare
    with caplog.at_level(logging.WARNING, logger="convml_tt"):  # a model of earlier versions: no error
        check_same_stretch(None, [k], "old.pt", "ds")
    assert "'old.pt' records no tile stretch" in caplog.text and "stretched 260-295 K" in caplog.text
    with pytest.raises(ValueError, match=r"'ds' has C13 tiles stretched 200-320 K but the model 'm.pt' was trained "
                                         r"on tiles stretched 260-295 K.*--stretch 260 295\)"):
        check_same_stretch([k], [{"name": "C13", "units": "K"}], "m.pt", "ds")


def test_a_resumed_dataset_keeps_its_record_and_older_ones_the_fixed_range():
    from convml_tt.data.composites.stretch import dataset_stretches, recorded_channels

    ch = [{"name": "C13", "units": "K", "stretch": display_stretch("K")}]
    mine = [{**ch[0], "stretch": linear_stretch(250.0, 290.0, "dataset")}]
    meta = {"format": 1, "params": {"recipe": "C13"}, "scenes": {"train": ["a.nc"]}, "channels": ch}
    assert recorded_channels({**meta, "channels": mine}, meta) == mine
    assert recorded_channels({**meta, "params": {"recipe": "C13", "stretch": "fixed"}}, meta) is None  # another dataset
    # a dataset written before channels were recorded: its tiles have the fixed range
    older = {k: v for k, v in meta.items() if k != "channels"}
    assert recorded_channels(older, meta) == ch
    # the record is used as it is, never chosen again (the composites here do not even exist)
    assert dataset_stretches(ch, "auto", ["missing.nc"], mine) == mine
