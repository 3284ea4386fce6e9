"""Human classifications as a labeler (issue 22, #7): ``--labels human:FILE``
on ``map`` and ``triplets`` over the synthetic scenes (14, 15, 16 h UTC),
with label files written in the producers' layouts (a plain box CSV, the
Zooniverse flattened export). The class each cell or tile should carry is
worked out here from the boxes' degrees and the times; a file whose times
match no scan is refused in one line."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import xarray as xr

from convml_tt.cli import main
from synthetic_fixtures import DOMAIN, composited_root  # noqa: F401

TILES = ["--domain", *map(str, DOMAIN), "--tile-size-m", "40e3", "--tile-pixels", "32", "--quiet"]
#: plain boxes: at 14:05 Sugar over the west, Fish over the south-east (the north-east unseen);
#: at 15:10 the whole domain seen and left unclassified; nothing near 16 h
PLAIN = [("2020-01-02T14:05:00Z", -51.0, -50.05, 14.0, 16.0, "Sugar"),
         ("2020-01-02T14:05:00Z", -50.05, -49.0, 14.0, 15.0, "Fish"),
         ("2020-01-02T15:10:00Z", -51.0, -49.0, 14.0, 16.0, "")]


def _plain(path, rows=PLAIN):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "lon_min", "lon_max", "lat_min", "lat_max", "label"])
        w.writerows(rows)
    return path


def _plain_class(hour: int, lat: float, lon: float) -> str | None:
    """The class the plain boxes give a point of the scan at ``hour`` (each label time goes to its nearest scan)."""
    if hour == 14:
        if -51.0 <= lon < -50.05 and 14.0 <= lat <= 16.0:
            return "Sugar"
        if -50.05 < lon <= -49.0 and 14.0 <= lat <= 15.0:
            return "Fish"
        return None
    return "unclassified" if hour == 15 else None


def test_labeler_specs(tmp_path):
    from convml_tt.data.human_labels import HumanLabeler
    from convml_tt.data.labels import LABELERS, labeler_spec, make_labeler

    path = _plain(tmp_path / "boxes.csv")
    assert "human" in LABELERS.names() and labeler_spec(f"HUMAN:{path}") == ("human", str(path))
    lab = make_labeler(f"human:{path}")
    assert isinstance(lab, HumanLabeler) and lab.value_names == {"human_class": ["Fish", "Sugar", "unclassified"]}
    with pytest.raises(ValueError, match=r"labeler 'human' needs FILE: give --labels human:FILE"):
        make_labeler("human")
    with pytest.raises(ValueError, match=r"labeler 'synthetic' takes no argument"):
        make_labeler("synthetic:x")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        make_labeler(f"human:{tmp_path / 'nope.csv'}")
    # the scenes' check, also through a chain: a scan at 16 h is within 3 h of the labels, one a day later is not
    from convml_tt.data.labels import ChainLabeler

    scan = "OR_ABI-L1b-RadM1-M6C01_G16_s2020002{}00000_e2020002{}09000_c2020002{}09300.nc"
    ChainLabeler(lab).check_scenes([[str(tmp_path / scan.format(16, 16, 16))]], "scene")
    assert lab.scans and lab.scans[0].hour == 16
    with pytest.raises(ValueError, match=r"boxes.csv' \(plain, 2 label time\(s\) 2020-01-02T14:05 to "
                                         r"2020-01-02T15:10\) have no label time within 3 h"):
        ChainLabeler(lab).check_scenes([[str(tmp_path / scan.format(16, 16, 16).replace("2020002", "2020003"))]],
                                       "scene")


def test_map_cells_carry_the_human_class(composited_root, tmp_path, capsys):
    boxes = _plain(tmp_path / "boxes.csv")
    out = tmp_path / "map.nc"
    assert main(["map", "tile_statistics", "--data-root", str(composited_root), *TILES, "--stride", "40e3",
                 "--labels", f"human:{boxes}", "--out", str(out)]) == 0
    names = ["Fish", "Sugar", "unclassified"]
    with xr.open_dataset(out, mask_and_scale=False) as m:
        got = m["true_human_class"].values
        assert m["true_human_class"].attrs["flag_meanings"] == " ".join(names)
        assert json.loads(m.attrs["human_class_names"]) == names and "regime_names" not in m.attrs
        hours = [int(str(t)[11:13]) for t in m["time"].values.astype("datetime64[s]")]
        lat, lon, valid = m["lat"].values, m["lon"].values, m["valid"].values
    assert hours == [14, 15, 16]
    want = np.full(got.shape, -1)
    for t, h in enumerate(hours):
        for i, j in np.ndindex(lat.shape):
            c = _plain_class(h, lat[i, j], lon[i, j])
            if valid[t, i, j] and c is not None:
                want[t, i, j] = names.index(c)
    np.testing.assert_array_equal(got, want)
    assert {0, 1, -1} <= set(want[0].ravel().tolist()) and (want[1][valid[1] == 1] == 2).all()

    # labels of another day: refused before any tile is cut, one line naming the file and its times
    other = _plain(tmp_path / "june.csv", [("2021-06-01T12:00:00Z", -51.0, -49.0, 14.0, 16.0, "Fish")])
    capsys.readouterr()
    rc = main(["map", "tile_statistics", "--data-root", str(composited_root), *TILES, "--stride", "40e3",
               "--labels", f"human:{other}", "--out", str(tmp_path / "never.nc")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "Traceback" not in err and not (tmp_path / "never.nc").exists()
    assert "june.csv" in err and "2021-06-01T12:00 to 2021-06-01T12:00" in err
    assert "scans 2020-01-02T14:00 to 2020-01-02T16:00" in err and "within 3 h" in err
    # no file named: argparse says what to give
    with pytest.raises(SystemExit):
        main(["map", "tile_statistics", "--data-root", str(composited_root), *TILES, "--labels", "human",
              "--out", str(tmp_path / "never.nc")])
    assert "give --labels human:FILE" in capsys.readouterr().err


def _zooniverse(path):
    """The flattened Zooniverse export: a Terra image of 2020-01-02 over 51..49 W, 14..16 N (overpass
    13:50 UTC at 50 W: the 14 h scan) with a Sugar box over its west half and a Fish box over its
    south-east quarter (pixels at 100 per degree, row 0 at 16 N); an Aqua image of the same day
    (16:50 UTC: the 16 h scan) classified as nothing."""
    terra = "Region1_DJF_Terra/Terra_CorrectedReflectance20200102_-51--49_14-16.jpeg"
    aqua = "Region1_DJF_Aqua/Aqua_CorrectedReflectance20200102_-51--49_14-16.jpeg"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "subject_ids", "fn", "user_name", "x", "y", "width", "height", "tool_label"])
        w.writerow([0, 27000000, terra, "fixture", 0, 0, 95, 200, "Sugar"])
        w.writerow([1, 27000000, terra, "fixture", 105, 100, 95, 100, "Fish"])
        w.writerow([2, 27000001, aqua, "fixture", "", "", "", "", ""])
    return path


def _zooniverse_class(hour: int, lat: float, lon: float) -> str | None:
    if hour == 14:
        if -51.0 <= lon <= -50.05:
            return "Sugar"
        if -49.95 <= lon <= -49.0 and lat <= 15.0:
            return "Fish"
        return "unclassified"  # inside the image, in no box
    return "unclassified" if hour == 16 else None


def test_triplet_tiles_carry_the_human_class(composited_root, tmp_path):
    from convml_tt.data.dataset.format import read_triplet_meta

    labels = _zooniverse(tmp_path / "classifications.csv")
    out = tmp_path / "ds"
    assert main(["triplets", "--data-root", str(composited_root), *TILES, "--n-train", "8", "--seed", "0",
                 "--labels", f"human:{labels}", "--out", str(out)]) == 0
    names = ["Fish", "Sugar", "unclassified"]
    seen = set()
    for i in range(8):
        meta = read_triplet_meta(out, "train", i)
        for kind in ("anchor", "neighbor", "distant"):
            tile = meta.tile(kind)
            hour = int(str(tile.time)[11:13])
            want = _zooniverse_class(hour, float(tile.lat), float(tile.lon))
            got = tile.labels.get("human_label")
            assert got == want, (i, kind, hour, tile.lat, tile.lon)
            assert tile.labels.get("human_class") == (None if want is None else names.index(want))
            seen.add((hour, want))
    # tiles in both boxes and outside them at 14 h, and in the Aqua image at 16 h, were checked
    assert {(14, "Sugar"), (14, "Fish"), (14, "unclassified"), (16, "unclassified")} <= seen
