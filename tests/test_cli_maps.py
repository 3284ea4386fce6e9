"""The regime-map subcommands end to end on real composites: map -> regimes
fit -> regimes assign -> plot map / plot fractions -> evaluate, and their
refusals (one line each)."""
from __future__ import annotations

import json

import pytest
import xarray as xr

from convml_tt.cli import main
from interp_fixtures import embeddings, regime_dataset, tiny_model_file  # noqa: F401
from synthetic_fixtures import DOMAIN, composited_root  # noqa: F401


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def flow(composited_root, tiny_model_file, embeddings, tmp_path_factory):
    from convml_tt.interpretation.embeddings import save_embeddings

    d = tmp_path_factory.mktemp("cli_maps")
    emb = save_embeddings(embeddings, d / "emb.nc")
    argv = ["map", str(tiny_model_file), "--data-root", str(composited_root), "--domain", *map(str, DOMAIN),
            "--tile-size-m", "40e3", "--tile-pixels", "32", "--stride", "20e3", "--out", str(d / "map.nc"),
            "--device", "cpu", "--quiet", "--labels", "synthetic"]
    assert main(argv) == 0
    assert main(["regimes", "fit", str(emb), "--n", "3", "--out", str(d / "regimes.json")]) == 0
    assert main(["regimes", "assign", str(d / "map.nc"), str(d / "regimes.json"), "--out",
                 str(d / "regime_map.nc"), "--quiet"]) == 0
    return d, argv


def test_map_regimes_plots_and_evaluate(flow, capsys):
    d, _ = flow
    with xr.open_dataset(d / "regime_map.nc") as ds:
        assert {"regime", "regime_distance", "true_regime", "lat", "lon"} <= set(ds.variables)
        assert ds["regime"].dims == ("time", "y", "x") and ds.sizes["time"] >= 2
    regimes = json.loads((d / "regimes.json").read_text())
    assert regimes["format"] == "convml_tt-regimes" and len(regimes["centroids"]) == 3
    capsys.readouterr()
    assert main(["plot", "map", str(d / "regime_map.nc"), "--regimes", str(d / "regimes.json"),
                 "--time", "1", "--out", str(d / "map.png")]) == 0
    assert main(["plot", "fractions", str(d / "regime_map.nc"), "--out", str(d / "fractions.png")]) == 0
    assert (d / "map.png").stat().st_size > 10_000 and (d / "fractions.png").stat().st_size > 10_000
    assert main(["evaluate", str(d / "regime_map.nc"), "--markdown", str(d / "q.md")]) == 0
    out = capsys.readouterr().out
    assert "map_accuracy" in out and "fraction_mae" in out and (d / "q.md").read_text().startswith("|")


def test_map_refusals_are_one_line(flow, tiny_model_file, tmp_path, capsys):
    d, argv = flow
    out_at = argv.index("--out") + 1
    bad_stride = argv[:out_at] + [str(tmp_path / "m.nc")] + argv[out_at + 1:]
    bad_stride[bad_stride.index("--stride") + 1] = "5e6"
    cases = [
        (bad_stride, "stride 5000 km is larger than the domain"),
        (argv[:out_at] + [str(tmp_path)] + argv[out_at + 1:], "is a folder"),
        (argv + ["--start", "2031-01-01"], "no cached scenes"),
        (["plot", "map", str(d / "regime_map.nc"), "--time", "99", "--out", str(tmp_path / "x.png")],
         "outside the map's"),
        (["plot", "map", str(d / "regimes.json"), "--out", str(tmp_path / "x.png")], "regimes.json"),
    ]
    for args, says in cases:
        assert main(args) == 1, args
        err = _err(capsys)
        assert len(err.splitlines()) == 1 and says in err, (args, err)
    with pytest.raises(SystemExit):
        main(argv[:1] + ["--stride", "-3"] + argv[1:])
    assert "use a number > 0" in _err(capsys)


def test_regimes_of_another_model_are_refused(flow, tmp_path, capsys):
    d, _ = flow
    other = json.loads((d / "regimes.json").read_text())
    other["model_sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["regimes", "assign", str(d / "map.nc"), str(tmp_path / "other.json"),
                 "--out", str(tmp_path / "rm.nc"), "--quiet"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "model" in err and not (tmp_path / "rm.nc").exists()
