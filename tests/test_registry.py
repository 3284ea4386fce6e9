"""convml_tt.registry: the generic registry, plugin files and modules, entry points.

Plugin faults are run through the real command line in a subprocess (one
line, exit status 2, the file named); entry points through a real package
built and installed (offline) into a private folder.
"""
from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from convml_tt import registry as REG
from convml_tt.data.composites import recipes as R
from convml_tt.registry import PluginError, Registry, load_plugin
from interp_fixtures import regime_dataset  # noqa: F401
from synthetic_fixtures import DOMAIN

# --- the registry ---------------------------------------------------------------------------


def _widgets(make=None) -> Registry:
    return Registry("test_widgets", "widget", "register_widget(name, w)", make)


def test_names_aliases_case_and_the_unknown_name_error():
    w = _widgets()
    w.register("Alpha", 1, aliases=("a1",))
    w.register("beta", 2)
    assert w.get("ALPHA") == 1 and w.get("A1") == 1 and w.canonical("alpha") == "Alpha"
    assert w.names() == ["Alpha", "beta"] and list(w) == ["Alpha", "beta"] and len(w) == 2
    assert "BETA" in w and "a1" in w and "gamma" not in w and 3 not in w
    assert w.items() == [("Alpha", 1), ("beta", 2)] and w.name_of(2) == "beta" and w.name_of(9) is None
    with pytest.raises(ValueError) as err:
        w.get("gamma")
    assert str(err.value) == ("unknown widget 'gamma'; registered: Alpha, beta (add one with "
                              "register_widget(name, w) or a plugin)")
    assert "\n" not in str(err.value)


def test_a_taken_name_or_alias_is_refused_unless_overwrite():
    w = _widgets()
    w.register("alpha", 1, aliases=("first",))
    for name in ("alpha", "ALPHA", "First"):
        with pytest.raises(ValueError, match=rf"widget '{name}' is already registered \(registered: alpha\); "
                                             r"pick another name or pass overwrite=True"):
            w.register(name, 2)
    with pytest.raises(ValueError, match="already registered"):
        w.register("other", 2, aliases=("alpha",))
    assert w.items() == [("alpha", 1)]
    w.register("Alpha", 3, overwrite=True)  # replaced: its alias names the new entry
    assert w.names() == ["Alpha"] and w.get("first") == 3
    w.register("first", 4, overwrite=True)  # an alias taken over by a new entry
    assert w.get("first") == 4 and w.get("alpha") == 3
    with pytest.raises(ValueError, match="non-empty string"):
        w.register(" spaced ", 5)


def test_decorator_unregister_scoped_and_the_entry_check():
    def make(name, obj):
        if not callable(obj):
            raise TypeError(f"widget {name!r} must be callable")
        return obj

    w = _widgets(make)

    @w.register("double")
    def double(x):
        return 2 * x

    assert double(2) == 4 and w.get("double") is double  # the decorator returns the function
    with pytest.raises(TypeError, match="widget 'three' must be callable"):
        w.register("three", 3)
    with w.scoped():
        w.register("half", lambda x: x / 2)
        w.unregister("double")
        assert w.names() == ["half"]
    assert w.names() == ["double"] and w.unregister("nope") is None


def test_registry_by_kind_and_every_kind_has_its_builtins():
    builtins = {"recipes": "truecolor", "labelers": "synthetic", "samplers": "triplet", "backbones": "resnet18",
                "heads": "fastai", "losses": "euclidean", "methods": "triplet", "featurizers": "tile_statistics", "plots": "dendrogram",
                "sources": "goes_abi", "fields": "EIS"}
    assert set(builtins) == set(REG.HOMES)
    for kind, name in builtins.items():
        reg = REG.registry(kind)
        assert reg.kind == kind and reg.group == f"convml_tt.{kind}" and name in reg and reg.origin(name) is None
    with pytest.raises(ValueError, match="unknown registry kind 'nope'; kinds: sources, recipes, labelers"):
        REG.registry("nope")


def test_samplers_labelers_heads_and_losses_are_looked_up_by_name():
    from convml_tt.architectures.heads import make_head
    from convml_tt.architectures.losses import TripletLoss, default_loss
    from convml_tt.config import TrainingSettings
    from convml_tt.data.labels import make_labeler
    from convml_tt.data.sampling import GridSampler, TripletSampler, get_sampler
    from convml_tt.data.synthetic import RegimeLabeler

    assert get_sampler("triplet") is TripletSampler and get_sampler("Grid") is GridSampler
    assert isinstance(make_labeler("synthetic"), RegimeLabeler) and make_labeler("none") is None
    assert make_head("linear", 16, 4, 0.0)(__import__("torch").zeros(2, 16, 3, 3)).shape == (2, 4)
    loss = default_loss(TrainingSettings(loss="squared"))
    assert isinstance(loss, TripletLoss) and loss.distance == "squared"
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; registered: euclidean, squared \(add one with "):
        default_loss(TrainingSettings(loss="hinge"))
    with pytest.raises(ValueError, match=r"unknown head 'mlp'; registered: fastai, linear"):
        make_head("mlp", 16, 4, 0.0)


# --- plugin files and modules ---------------------------------------------------------------
@pytest.fixture
def fresh_plugins(monkeypatch):
    """No plugin loaded yet; the recipe, backbone and plot registries restored after the test."""
    from convml_tt.architectures.backbones import BACKBONES
    from convml_tt.interpretation.plots.kinds import PLOTS

    monkeypatch.setattr(REG, "_PLUGINS", {})
    with R.RECIPES.scoped(), BACKBONES.scoped(), PLOTS.scoped():
        yield


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_plugin_once_records_where_entries_came_from(fresh_plugins, tmp_path):
    plugin = _write(tmp_path / "my_recipes.py", """
        from convml_tt.data.composites import Recipe, register_recipe
        COUNT = globals().get("COUNT", 0) + 1
        register_recipe(Recipe(name="red_minus_blue", bands=(2, 1), combine=lambda b: {0: b[2] - b[1]}))
    """)
    mod = load_plugin(str(plugin))
    assert load_plugin(plugin) is mod and mod.COUNT == 1  # not run again
    assert REG.loaded_plugins() == (str(plugin.resolve()),)
    assert R.RECIPES.origin("RED_MINUS_BLUE") == f"plugin {plugin.resolve()}"
    assert R.RECIPES.origin("truecolor") is None


@pytest.mark.parametrize("combine, words", [
    ("lambda b: {0: b[2], 1: b[1]}", "returned plane 1, but the recipe declares 1 plane(s) (0)"),
    ("lambda b: {'green': b[2]}", "returned plane 'green', but the recipe declares 1 plane(s) (0)"),
    ("lambda b: {0: b[2][:-1]}", "returned an array of shape"),
    ("lambda b: {0: b[2].astype(complex)}", "returned complex128 values for plane 0"),
    ("lambda b: b[2]", "returned a ndarray; it must return a dict of output planes"),
    ("lambda b: {0: b[7]}", "raised KeyError: 7"),
])
def test_a_recipes_combine_is_checked_against_its_declaration(fresh_plugins, synthetic_scenes, tmp_path, combine,
                                                                 words):
    plugin = _write(tmp_path / "bad_recipe.py", f"""
        from convml_tt.data.composites import Recipe, register_recipe
        register_recipe(Recipe(name="bad", bands=(2, 1), combine={combine}))
    """)
    from convml_tt.data.composites import make_composite

    load_plugin(plugin)
    with pytest.raises(PluginError) as err:
        make_composite(synthetic_scenes[0].files, DOMAIN, kind="bad")
    assert str(err.value).startswith(f"plugin {plugin.resolve()}: recipe 'bad': its combine function ")
    assert words in str(err.value)


def test_a_library_users_recipe_is_checked_too(synthetic_scenes):
    from convml_tt.data.composites import make_composite

    mine = R.Recipe(name="mine", bands=(2,), combine=lambda b: {3: b[2]})  # not registered, no plugin
    with pytest.raises(ValueError, match=r"^recipe 'mine': its combine function returned plane 3, but the recipe "
                                         r"declares 1 plane\(s\) \(0\)$") as err:
        make_composite(synthetic_scenes[0].files, DOMAIN, kind=mine)
    assert not isinstance(err.value, PluginError)


def _cli(*argv, path=(), timeout=180):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "convml_tt", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _one_line_error(res, *words):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and lines[0].startswith("convml_tt ")
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


PLUGIN_FAULTS = {
    "syntax.py": ("x = (\n", "syntax error at line 1"),
    "name_error.py": ("import os\nregister_nothing()\n", "NameError at line 2: name 'register_nothing' is not defined"),
    "notes.txt": ("register these recipes\n", "is not a Python file"),
    "scene.nc": ("CDF\x01\x00\x00\x00\x00", "is not a Python file"),
    "exits.py": ("import sys\nsys.exit(3)\n", "it called sys.exit(3) while being imported"),
    "signature.py": ("from convml_tt.architectures import register_backbone\n"
                     "def two(a, b):\n    return None\n"
                     "register_backbone('two', two)\n",
                     "TypeError at line 4: backbone 'two': the factory must be callable as factory(in_channels)"),
}


@pytest.mark.parametrize("name", sorted(PLUGIN_FAULTS))
def test_a_faulty_plugin_is_one_line_naming_the_file(name, tmp_path):
    text, words = PLUGIN_FAULTS[name]
    plugin = tmp_path / name
    plugin.write_text(text, encoding="utf-8")
    res = _cli("composite", "--list-recipes", "--plugin", plugin)
    line = _one_line_error(res, words, str(plugin.name))
    assert res.stdout == ""  # refused before the listing
    assert line.startswith("convml_tt composite: error: plugin ")


def test_a_missing_plugin_is_one_line(tmp_path):
    _one_line_error(_cli("composite", "--list-recipes", "--plugin", tmp_path / "gone.py"), "gone.py",
                    "does not exist")
    _one_line_error(_cli("composite", "--list-recipes", "--plugin", "no_such_module_here"),
                    "plugin 'no_such_module_here' could not be imported")


def test_a_plugins_recipe_listed_after_the_flag_order(tmp_path):
    plugin = _write(tmp_path / "listed.py", """
        from convml_tt.data.composites import Recipe, register_recipe
        register_recipe(Recipe(name="listed_rb", bands=(2, 1), combine=lambda b: {0: b[2] - b[1]},
                               description="red minus blue"))
    """)
    for argv in (["--list-recipes", "--plugin", plugin], ["--plugin", plugin, "--list-recipes"]):
        res = _cli("composite", *argv)
        assert res.returncode == 0 and res.stderr == ""
        assert res.stdout.splitlines()[-1].split() == ["listed_rb", "2,1", "1", "red", "minus", "blue"]


@pytest.fixture
def data_root(synthetic_data_root, synthetic_scenes, tmp_path):
    """A data root whose sources are the (read-only) synthetic scenes."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "sources").symlink_to(synthetic_data_root / "sources", target_is_directory=True)
    return root


LAMBDA_RECIPE = """
    from convml_tt.data.composites import Recipe, register_recipe
    register_recipe(Recipe(name="red_minus_blue", bands=(2, 1), units="1",
                           combine=lambda b: {0: b[2] - b[1]}))
"""


def test_a_recipes_extra_planes_through_the_cli(data_root, tmp_path):
    plugin = _write(tmp_path / "more_planes.py", """
        from convml_tt.data.composites import Recipe, register_recipe
        register_recipe(Recipe(name="too_many", bands=(2, 1), combine=lambda b: {0: b[2], 1: b[1]}))
    """)
    res = _cli("composite", "--data-root", data_root, "--domain", *DOMAIN, "--recipe", "too_many", "--quiet",
               "--plugin", plugin)
    _one_line_error(res, f"plugin {plugin.resolve()}: recipe 'too_many': its combine function returned plane 1, "
                         f"but the recipe declares 1 plane(s) (0)")
    assert not list((data_root / "composites").rglob("*.nc"))  # nothing half-written


def test_a_plugin_recipe_with_worker_processes(data_root, synthetic_scenes, tmp_path):
    from convml_tt.data.composites import load_composite, make_composite

    plugin = _write(tmp_path / "lambda_recipe.py", LAMBDA_RECIPE)
    res = _cli("composite", "--data-root", data_root, "--domain", *DOMAIN, "--recipe", "red_minus_blue", "--quiet",
               "--plugin", plugin, "--workers", "2")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    paths = [Path(p) for p in res.stdout.split()]
    assert len(paths) == 3
    rgb = make_composite(synthetic_scenes[0].files, DOMAIN, sunz=False).rgb
    v = load_composite(paths[0], load=True).red_minus_blue.values
    np.testing.assert_array_equal(v, rgb.sel(channel="red").values - rgb.sel(channel="blue").values)
    res = _cli("triplets", "--data-root", data_root, "--domain", *DOMAIN, "--recipe", "red_minus_blue", "--quiet",
               "--plugin", plugin, "--workers", "2", "--tile-size-m", 20e3, "--tile-pixels", 16, "--n-train", 4,
               "--distant", "same_scene", "--out", tmp_path / "ds", "--labels", "none")
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "ds" / "train").glob("*_anchor.png"))) == 4


def test_settings_that_cannot_reach_workers_are_refused_before_work(data_root, synthetic_scenes):
    from convml_tt.data.composites import make_composites

    mine = R.Recipe(name="unregistered", bands=(2, 1), combine=lambda b: {0: b[2] - b[1]})
    with pytest.raises(ValueError, match=r"cannot be sent to worker processes \(.*lambda.*\); register what they "
                                         r"use \(a recipe, sampler, labeler\)"):
        make_composites(data_root, DOMAIN, kind=mine, workers=2, progress=False)
    assert not (data_root / "composites").exists() or not list((data_root / "composites").rglob("*.nc"))


def test_a_backbone_factory_returning_the_wrong_type(regime_dataset, tmp_path):
    plugin = _write(tmp_path / "bad_backbone.py", """
        from convml_tt.architectures import register_backbone
        register_backbone("not_a_module", lambda in_channels: [in_channels])
    """)
    res = _cli("train", regime_dataset, "--plugin", plugin, "--arch", "not_a_module", "--epochs", 1,
               "--batch-size", 4, "--out", tmp_path / "m.pt", "--device", "cpu", "--quiet", "--no-checkpoints")
    _one_line_error(res, f"plugin {plugin.resolve()}: backbone 'not_a_module': its factory(3) returned a list, "
                         f"not a torch.nn.Module")
    assert not (tmp_path / "m.pt").exists()


def test_a_plugin_plot_kind_from_the_cli(fresh_plugins, tmp_path, capsys):
    from convml_tt.cli import main
    from convml_tt.interpretation.embeddings import save_embeddings

    plugin = _write(tmp_path / "norms.py", """
        import matplotlib.pyplot as plt
        import numpy as np
        from convml_tt.interpretation.plots.kinds import PlotKind, register_plot

        def norms(da, args):
            fig, ax = plt.subplots()
            ax.hist(np.linalg.norm(da.values, axis=1), bins=args.bins)
            return fig

        register_plot("norms", PlotKind("histogram of embedding norms", "embeddings", norms,
                                        lambda p: p.add_argument("--bins", type=int, default=5)))
    """)
    rng = np.random.default_rng(0)
    da = xr.DataArray(rng.normal(size=(6, 4)).astype(np.float32), dims=("tile_id", "emb_dim"),
                      coords={"tile_id": np.arange(6)}, name="embeddings")
    save_embeddings(da, tmp_path / "emb.nc")
    fig = tmp_path / "norms.png"
    assert main(["plot", "norms", str(tmp_path / "emb.nc"), "--out", str(fig), "--bins", "3",
                 "--plugin", str(plugin)]) == 0
    assert fig.read_bytes()[:4] == b"\x89PNG" and "wrote norms to" in capsys.readouterr().out


# --- entry points: a package that declares them needs no flag ------------------------------
def _package(root: Path, dist: str, module: str, files: dict[str, str], entry_points: dict) -> Path:
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text("")
    for name, text in files.items():
        (pkg / module / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (pkg / "setup.py").write_text(f"from setuptools import setup\nsetup(name={dist!r}, version='0.1', "
                                  f"packages=[{module!r}], entry_points={entry_points!r})\n")
    return pkg


def _install(pkg: Path, target: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "--target", str(target), str(pkg)],
                   check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def plugin_packages(tmp_path_factory):
    """``(good, broken)``: folders each holding one installed package: ``cmlt-demo-plugin`` (a
    recipe ``demo_rb`` defined with a lambda, a backbone ``demo_net``) and ``cmlt-broken-plugin``
    (a recipe entry point whose module fails to import, a backbone entry point that is no factory)."""
    root = tmp_path_factory.mktemp("plugin_packages")
    good = _package(root / "src", "cmlt-demo-plugin", "cmlt_demo", {
        "recipes.py": """
            from convml_tt.data.composites import Recipe
            DEMO_RB = Recipe(name="demo_rb", bands=(2, 1), combine=lambda b: {0: b[2] - b[1]},
                             description="demo: red minus blue")
        """,
        "nets.py": """
            import torch.nn as nn
            def demo_net(in_channels):
                return nn.Sequential(nn.Conv2d(in_channels, 8, 3, stride=2), nn.ReLU())
        """}, {"convml_tt.recipes": ["demo_rb = cmlt_demo.recipes:DEMO_RB"],
               "convml_tt.backbones": ["demo_net = cmlt_demo.nets:demo_net"]})
    broken = _package(root / "src", "cmlt-broken-plugin", "cmlt_broken", {
        "recipes.py": "import no_such_dependency_of_cmlt\n",
    }, {"convml_tt.recipes": ["broken = cmlt_broken.recipes:X"],
        "convml_tt.backbones": ["not_a_net = cmlt_broken:__name__"]})
    targets = root / "good", root / "broken"
    _install(good, targets[0])
    _install(broken, targets[1])
    return targets


def test_entry_points_add_a_recipe_and_a_backbone_without_a_flag(plugin_packages):
    good, _ = plugin_packages
    res = _cli("composite", "--list-recipes", path=[good])
    assert res.returncode == 0 and res.stderr == ""
    assert res.stdout.splitlines()[-1].split() == ["demo_rb", "2,1", "1", "demo:", "red", "minus", "blue"]
    assert "demo_rb" not in _cli("composite", "--list-recipes").stdout  # not installed: not there
    res = _cli("train", "--help", path=[good])
    assert res.returncode == 0 and res.stderr == ""
    assert ", demo_net (default resnet18)" in " ".join(res.stdout.split())  # after the built-in backbones


def test_a_broken_entry_point_is_one_warning_naming_its_package(plugin_packages, data_root):
    good, broken = plugin_packages
    res = _cli("composite", "--list-recipes", path=[good, broken])
    assert res.returncode == 0 and "demo_rb" in res.stdout
    (line,) = res.stderr.splitlines()
    assert line.startswith("convml_tt composite: warning: plugin package 'cmlt-broken-plugin' (entry point broken = "
                           "cmlt_broken.recipes:X in group convml_tt.recipes) is left out: ModuleNotFoundError: No "
                           "module named 'no_such_dependency_of_cmlt'")
    res = _cli("train", "--help", path=[good, broken])
    assert res.returncode == 0 and "demo_net" in res.stdout
    (line,) = res.stderr.splitlines()
    assert "plugin package 'cmlt-broken-plugin' (entry point not_a_net" in line and "is left out: TypeError" in line
    # a command that works: with worker processes, which find the entry points themselves (one warning in all)
    res = _cli("composite", "--data-root", data_root, "--domain", *DOMAIN, "--recipe", "demo_rb", "--quiet",
               "--workers", "2", path=[good, broken])
    assert res.returncode == 0 and len(res.stdout.split()) == 3, res.stderr
    assert len(res.stderr.splitlines()) == 1 and "cmlt-broken-plugin" in res.stderr


def test_embed_a_model_whose_backbone_is_a_plugin(plugin_packages, regime_dataset, fresh_plugins, tmp_path,
                                                  capsys):
    import torch

    from convml_tt.architectures import TripletEncoder, register_backbone, save_model
    from convml_tt.architectures.backbones import BACKBONES
    from convml_tt.cli import main

    good, _ = plugin_packages
    plugin = _write(tmp_path / "demo_backbone.py", f"""
        import sys
        sys.path.insert(0, {str(good)!r})
        from cmlt_demo.nets import demo_net
        sys.path.remove({str(good)!r})
        from convml_tt.architectures import register_backbone
        register_backbone("demo_net", demo_net)
    """)
    with BACKBONES.scoped():
        register_backbone("demo_net", load_plugin(plugin).demo_net, overwrite=True)
        torch.manual_seed(0)
        enc = TripletEncoder("demo_net", n_input_channels=3, emb_dim=4, head="linear", dropout=0.0,
                             config={"normalization": {"kind": "dataset", "mean": [0.4] * 3, "std": [0.25] * 3}})
        model = save_model(enc, tmp_path / "demo.pt")
    REG._PLUGINS.clear()
    argv = ["embed", str(model), str(regime_dataset), "--device", "cpu", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "none.nc")]) == 1  # the backbone is not registered
    assert "unknown backbone 'demo_net'; registered: resnet18" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "file.nc"), "--plugin", str(plugin)]) == 0
    res = _cli(*argv, "--out", tmp_path / "entry_point.nc", path=[good])  # no flag: the package's entry point
    assert res.returncode == 0, res.stderr
    with xr.open_dataarray(tmp_path / "file.nc") as a, xr.open_dataarray(tmp_path / "entry_point.nc") as b:
        assert a.sizes["emb_dim"] == 4
        np.testing.assert_array_equal(a.values, b.values)


def test_entry_points_are_read_once_per_process(monkeypatch):
    calls = []

    def fake(group):
        calls.append(group)
        return []

    monkeypatch.setattr(REG, "_entry_points", fake)
    w = Registry("test_once", "thing")
    assert w.names() == [] and w.names() == [] and "x" not in w
    assert calls == ["convml_tt.test_once"]


def test_entry_points_name_an_entry_a_module_or_a_hook(monkeypatch, tmp_path, caplog):
    """The rules of an entry point's object, with modules on sys.path (no installation)."""
    (tmp_path / "ep_things.py").write_text(textwrap.dedent("""
        from convml_tt.registry import registry
        import test_registry_w as W
        ENTRY = ("an", "entry")
        def hook():
            W.REG.register("from_hook", 1)
        W.REG.register("from_module", 2)
        NOT_AN_ENTRY = 5
    """))
    (tmp_path / "test_registry_w.py").write_text(textwrap.dedent("""
        from convml_tt.registry import Registry
        def make(name, obj):
            if not isinstance(obj, (tuple, int)):
                raise TypeError("not a thing")
            return obj
        REG = Registry("test_ep", "thing", "", make)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(REG._WARNED_ENV, raising=False)
    import test_registry_w as W

    eps = [importlib.metadata.EntryPoint(n, v, "convml_tt.test_ep") for n, v in (
        ("named", "ep_things:ENTRY"), ("mod", "ep_things"), ("hooked", "ep_things:hook"),
        ("wrong", "ep_things:__name__"), ("gone", "ep_things_missing:X"), ("named", "ep_things:ENTRY"))]
    monkeypatch.setattr(REG, "_entry_points", lambda group: eps if group == "convml_tt.test_ep" else [])
    with caplog.at_level(logging.WARNING, logger="convml_tt.registry"):
        assert W.REG.names() == ["from_module", "named", "from_hook"]
        W.REG.names()
    assert W.REG.get("named") == ("an", "entry") and W.REG.origin("named").startswith("package 'ep_things' (entry")
    assert [r.getMessage().split(" is left out: ")[1] for r in caplog.records] == [
        "TypeError: 'ep_things' is neither a thing nor a module or function (of no arguments) that registers some",
        "ModuleNotFoundError: No module named 'ep_things_missing'"]
