"""Training methods (issue 24): the method seam, the view methods' losses, timm backbones through
the CLI, the collapse guard, and weights from upstream convml_tt.

Tiny sizes: the toy triplets of ``triplet_fixtures.py`` (32 px), a small conv backbone in
process, one epoch.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from convml_tt.architectures import (embed_tiles, load_model, make_learner, read_model_file,
                                     register_backbone, save_model)
from convml_tt.architectures import backbones
from convml_tt.architectures.methods import list_methods
from convml_tt.architectures.methods import losses as L
from convml_tt.architectures.training.collapse import TrainingCollapsed, embedding_spread
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)
FAST = dict(batch_size=8, seed=0, progress=False, emb_dim=8, device="cpu", head="linear", dropout=0.0)
VIEW_METHODS = ("simclr", "vicreg", "byol", "barlow")


def tiny(in_channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())


class _Constant(nn.Module):
    """A body that ignores its input: every tile gets the same features (a collapsed encoder)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 0 + 1


@pytest.fixture
def tiny_arch():
    register_backbone("tiny_m", tiny, overwrite=True)
    register_backbone("constant_m", _Constant, overwrite=True)
    yield "tiny_m"
    backbones.BACKBONES.unregister("tiny_m")
    backbones.BACKBONES.unregister("constant_m")


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("methods") / "ds", n_train=18, n_study=4, size=32)


def _fit(learn, epochs=1, lr=1e-3):
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr)


# --- losses --------------------------------------------------------------------------------------
def test_losses_match_their_definitions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    # NT-Xent, written out: row i of the 2B projections against the other 2B - 1
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / 0.5
    sim.fill_diagonal_(float("-inf"))
    pos = torch.cat([torch.arange(6, 12), torch.arange(6)])
    assert L.nt_xent(a, b, temperature=0.5).item() == pytest.approx(F.cross_entropy(sim, pos).item(), rel=1e-5)
    # VICReg of identical, decorrelated unit-variance views is 0; Barlow Twins of whitened twins is 0
    w = torch.linalg.qr(torch.randn(40, 4, generator=g))[0] * (39 ** 0.5)
    w = w - w.mean(0)
    assert L.vicreg(w, w).item() < 0.3 and L.barlow_twins(w, w).item() < 0.2
    assert L.vicreg(a, a + 1).item() > 25 * 0.99  # invariance term: MSE 1, weight 25
    assert L.negative_cosine(a, a).item() == pytest.approx(0.0, abs=1e-6)
    assert L.negative_cosine(a, -a).item() == pytest.approx(4.0, abs=1e-5)


# --- the seam ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", VIEW_METHODS)
def test_view_method_trains_and_its_model_embeds_like_a_triplet_model(method, toy_ds, tiny_arch, tmp_path):
    learn = make_learner(toy_ds, method=method, arch=tiny_arch, **FAST)
    b = learn.dls.one_batch()
    assert learn.dls.n_inp == 2 and len(b) == 3
    assert b[0].shape == (24, 3, 24, 24) and b[1].shape == (24, 3, 24, 24)  # 3 tiles a triplet, 0.75 crops
    assert not torch.equal(b[0], b[1])  # two different views
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    _fit(learn)
    after = learn.model.state_dict()
    assert not torch.equal(before["encoder.body.0.weight"], after["encoder.body.0.weight"])
    names = learn.recorder.metric_names[1:-1]
    assert names == ["train_loss", "valid_loss", "pos_cos", "view_acc", "emb_std", "emb_cos"]
    assert all(np.isfinite(v) for v in learn.recorder.values[-1])
    if method == "byol":  # the momentum target follows the online encoder, by the callback only
        t0, t1 = before["target_encoder.body.0.weight"], after["target_encoder.body.0.weight"]
        assert not torch.equal(t0, t1) and not torch.equal(t1, after["encoder.body.0.weight"])
        assert not any(p.requires_grad for p in learn.model.target_encoder.parameters())
    path = save_model(learn, tmp_path / "m.pt")
    cfg = read_model_file(path)["config"]
    assert cfg["method"]["name"] == method and cfg["method"]["sample"] == "views"
    assert not any(k.startswith(("projector", "target")) for k in read_model_file(path)["state_dict"])
    enc = load_model(path, device="cpu")
    tiles = torch.randint(0, 255, (5, 3, 32, 32), dtype=torch.uint8)
    assert embed_tiles(enc, tiles, device="cpu").shape == (5, 8)


def test_triplet_method_is_the_default_and_unchanged(toy_ds, tiny_arch):
    a = make_learner(toy_ds, arch=tiny_arch, **FAST)
    b = make_learner(toy_ds, method="triplet", arch=tiny_arch, **FAST)
    assert a.dls.n_inp == 3 and type(a.model).__name__ == "TripletModel"
    _fit(a), _fit(b)
    assert a.recorder.values[-1] == b.recorder.values[-1]
    assert a.model.encoder.config["method"] == {"name": "triplet", "sample": "triplet"}


def test_unknown_method_and_mismatched_folder_say_what_exists(toy_ds, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown method 'dino'; registered: triplet, simclr, vicreg, byol, barlow"):
        make_learner(toy_ds, method="dino", **FAST)
    from convml_tt.cli import main

    with pytest.raises(SystemExit):
        main(["train", str(toy_ds), "--method", "dino", "--out", str(tmp_path / "m.pt")])
    assert "unknown method 'dino'; registered: triplet, simclr" in capsys.readouterr().err
    # a folder of single tiles: fine for a view method, refused for the triplet method
    singles = tmp_path / "singles" / "train"
    singles.mkdir(parents=True)
    for p in sorted((toy_ds / "train").glob("*_anchor.png"))[:10]:
        (singles / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ValueError, match=r"method 'triplet' trains on triplets .* holds single tiles only "
                                         r"\(10 \*_anchor.png.*convml_tt triplets.*--method simclr"):
        make_learner(singles.parent, **FAST)
    learn = make_learner(singles.parent, method="simclr", valid_pct=0.2, **FAST)
    assert learn.dls.one_batch()[0].shape == (8, 3, 24, 24)


def test_checkpoint_of_another_method_is_refused(toy_ds, tiny_arch, tmp_path):
    from convml_tt.architectures import resume_from_checkpoint

    learn = make_learner(toy_ds, method="simclr", arch=tiny_arch, checkpoint_dir=tmp_path / "ck", **FAST)
    _fit(learn)
    again = make_learner(toy_ds, method="simclr", arch=tiny_arch, **FAST)
    assert resume_from_checkpoint(again, tmp_path / "ck" / "last.pt") == 1
    assert torch.equal(again.model.projector[0].weight, learn.model.projector[0].weight)
    other = make_learner(toy_ds, method="byol", arch=tiny_arch, **FAST)
    with pytest.raises(ValueError, match=r"was made for another model \(method: file 'simclr' vs learner 'byol'\)"):
        resume_from_checkpoint(other, tmp_path / "ck" / "last.pt")


# --- collapse guard ------------------------------------------------------------------------------
def test_collapsed_run_is_reported_not_saved(toy_ds, tiny_arch, tmp_path, caplog):
    from convml_tt.architectures import train

    assert embedding_spread(torch.ones(5, 3))["relative"] == 0.0
    out = tmp_path / "collapsed.pt"
    with pytest.raises(TrainingCollapsed, match=r"training collapsed: after epoch 1 every probe tile gets the same "
                                                r"embedding .* was not written"):
        train(toy_ds, out, arch="constant_m", epochs=1, quiet=True, **{k: v for k, v in FAST.items()
                                                                      if k != "progress"})
    assert not out.exists()
    assert "the embeddings have collapsed" in caplog.text
    # a healthy run logs spread and cosine per epoch in the table
    learn = make_learner(toy_ds, arch=tiny_arch, **FAST)
    _fit(learn)
    h = learn.collapse_guard.history
    assert len(h) == 1 and h[0]["relative"] > 0.01 and -1 <= h[0]["cos"] <= 1 and not learn.collapse_guard.collapsed


# --- timm backbones ------------------------------------------------------------------------------
def test_timm_convnext_trains_one_epoch_through_the_cli(toy_ds, tmp_path, capsys):
    from convml_tt.cli import main

    out = tmp_path / "convnext.pt"
    rc = main(["train", str(toy_ds), "--arch", "convnext_atto", "--method", "triplet", "--epochs", "1",
               "--batch-size", "8", "--emb-dim", "8", "--head", "linear", "--out", str(out), "--device", "cpu",
               "--no-checkpoints", "--quiet"])
    assert rc == 0 and f"wrote {out} (triplet, convnext_atto" in capsys.readouterr().out
    enc = load_model(out, device="cpu")
    assert enc.config["arch"] == "convnext_atto" and type(enc.body).__name__ == "TimmBody"
    assert embed_tiles(enc, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), device="cpu").shape == (2, 8)
    # pretrained weights come from the local cache or a file, never a download
    with pytest.raises(ValueError, match="no pretrained weights of timm's 'convnext_atto' in the Hugging Face cache"):
        backbones.get_backbone("convnext_atto").pretrained_weights(progress=False)


# --- upstream models -----------------------------------------------------------------------------
class _ConcatPool(nn.Module):
    def forward(self, x):
        return torch.cat([F.adaptive_max_pool2d(x, 1), F.adaptive_avg_pool2d(x, 1)], 1)


def _upstream_parts(emb_dim=10, channels=3, pooling_in_head=True):
    """Upstream's modules, built as upstream builds them: torchvision's resnet18 children but
    avgpool and fc, and the fastai v1 / ``orig_fastai`` head."""
    torch.manual_seed(3)
    net = torchvision.models.resnet18(weights=None)
    if channels != 3:
        net.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    body = nn.Sequential(*list(net.children())[:-2])
    layers = [nn.BatchNorm1d(1024), nn.Dropout(0.25), nn.Linear(1024, 512), nn.ReLU(inplace=True),
              nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, emb_dim)]
    head = nn.Sequential(*(([_ConcatPool(), nn.Flatten()] if pooling_in_head else []) + layers))
    for m in head.modules():  # non-trivial batchnorm statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return body, head


def _upstream_embed(body, head, x, pooling_in_head=True):
    body.eval(), head.eval()
    with torch.no_grad():
        f = body(x)
        return head(f) if pooling_in_head else head(torch.flatten(_ConcatPool()(f), 1))


def test_upstream_fastai1_and_lightning_weights_import(tmp_path, capsys):
    from convml_tt.architectures.upstream import import_upstream
    from convml_tt.cli import main

    x = torch.rand(2, 3, 64, 64)
    # fastai v1: learn.save's {"model": state_dict} of Sequential(body, head) without the pooling layers
    body, head = _upstream_parts(pooling_in_head=False)
    torch.save({"model": nn.Sequential(body, head).state_dict()}, tmp_path / "fastai1.pth")
    assert main(["model", "import", str(tmp_path / "fastai1.pth"), "--out", str(tmp_path / "a.pt")]) == 0
    assert "resnet18, fastai head, emb_dim 10, 3 channels; from fastai1:fastai1.pth" in capsys.readouterr().out
    enc = load_model(tmp_path / "a.pt", device="cpu")
    with torch.no_grad():
        assert torch.allclose(enc(x), _upstream_embed(body, head, x, pooling_in_head=False), atol=1e-5)
    assert enc.config["method"]["name"] == "triplet" and enc.config["normalization"]["kind"] == "imagenet"
    # Lightning: a TripletTrainerModel checkpoint, 2-channel tiles
    body, head = _upstream_parts(emb_dim=6, channels=2)
    sd = OrderedDict([*((f"backbone.{k}", v) for k, v in body.state_dict().items()),
                      *((f"head.{k}", v) for k, v in head.state_dict().items())])
    ckpt = {"state_dict": sd, "epoch": 4, "global_step": 100, "pytorch-lightning_version": "1.5.10",
            "hyper_parameters": {"base_arch": "resnet18", "n_input_channels": 2, "n_embedding_dims": 6,
                                 "head_type": "orig_fastai", "margin": 1.0, "lr": 1e-5}}
    torch.save(ckpt, tmp_path / "light.ckpt")
    enc = load_model(import_upstream(tmp_path / "light.ckpt", tmp_path / "b.pt"), device="cpu")
    x2 = torch.rand(2, 2, 64, 64)
    with torch.no_grad():
        assert torch.allclose(enc(x2), _upstream_embed(body, head, x2), atol=1e-5)
    assert enc.config["n_input_channels"] == 2 and enc.config["emb_dim"] == 6
    # weights that do not fit are refused, naming the keys that differ
    sd.pop("backbone.7.1.bn2.running_var")
    sd["backbone.7.1.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": sd, "hyper_parameters": ckpt["hyper_parameters"]}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match=r"does not fit a resnet18 encoder with the fastai head: keys missing "
                                         r"body.layer4.1.bn2.running_var; unexpected body.layer4.1.extra.weight"):
        import_upstream(tmp_path / "bad.ckpt", tmp_path / "c.pt")
    torch.save({"encoder.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    assert main(["model", "import", str(tmp_path / "foreign.pth"), "--out", str(tmp_path / "d.pt")]) == 1
    assert "are in neither upstream layout" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "d.pt").exists()


def test_methods_registry_lists_the_shipped_methods():
    assert list_methods()[:5] == ["triplet", "simclr", "vicreg", "byol", "barlow"]
    from convml_tt.registry import registry

    assert "barlow_twins" in registry("methods")
