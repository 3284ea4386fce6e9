"""The backbone registry, user backbones and losses, and the general embedding loop.

Tiny custom backbones (two convolutions) on 32 px toy tiles; see
``triplet_fixtures.py`` for the toy set.
"""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn

from convml_tt.architectures import (
    TripletLoss,
    default_loss,
    embed_tiles,
    get_backbone,
    list_backbones,
    load_model,
    make_learner,
    register_backbone,
    save_model,
    time_training_step,
)
from convml_tt.architectures import backbones
from convml_tt.architectures.backbones import feature_count, first_conv
from convml_tt.data.dataset.torch import TileDataset
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)
FAST = dict(batch_size=8, seed=0, progress=False, emb_dim=8, device="cpu")


def tiny(in_channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
    )


@pytest.fixture
def tiny_arch():
    """``tiny`` registered for one test (without pretrained weights)."""
    register_backbone("tiny", tiny, overwrite=True)
    yield "tiny"
    backbones.BACKBONES.unregister("tiny")


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("backbones") / "ds", n_train=18, n_study=4, size=32)


def _params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _quiet_fit(learn, *args, **kwargs):
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(*args, **kwargs)


def test_registry_lists_the_resnets_and_refuses_a_taken_name():
    assert {"resnet18", "resnet34", "resnet50"} <= set(list_backbones())
    with pytest.raises(ValueError, match=r"backbone 'resnet18' is already registered \(registered: .*resnet50"):
        register_backbone("resnet18", tiny)
    assert get_backbone("resnet18").factory is not tiny  # unchanged
    with pytest.raises(ValueError, match=r"unknown backbone .resnet99.; registered: resnet18, resnet34, resnet50, convnext_atto, .*vit_small_patch16_224 \(add one with "
                       r"convml_tt.architectures.register_backbone\(name, factory\) or a plugin\)"):
        get_backbone("resnet99")


def test_feature_count_leaves_rng_batchnorm_and_mode_alone():
    body = get_backbone("resnet50").build(3)
    body.train()
    before, rng = _params(body), torch.random.get_rng_state()
    assert feature_count(body, 3) == 2048
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in _params(body).items())
    assert body.training and all(m.training for m in body.modules())
    assert first_conv(body, 3) == "conv1" and first_conv(tiny(1), 1) == "0"
    assert feature_count(get_backbone("resnet18").build(1), 1) == 512


def test_custom_backbone_trains_through_make_learner_and_round_trips(toy_ds, tiny_arch, tmp_path):
    learn = make_learner(toy_ds, arch=tiny_arch, **FAST)
    enc = learn.model.encoder
    assert enc.head.bn1.num_features == 2 * 16  # F found from the backbone: concat pooling of 16 maps
    before = _params(learn.model)
    _quiet_fit(learn, 1, 1e-3)
    after = _params(learn.model)
    assert not torch.equal(before["encoder.body.0.weight"], after["encoder.body.0.weight"])
    assert not torch.equal(before["encoder.head.lin2.weight"], after["encoder.head.lin2.weight"])
    assert all(math.isfinite(v) for v in learn.recorder.values[-1][:2])
    path = save_model(learn, tmp_path / "tiny.pt")
    loaded = load_model(path, device="cpu", arch="tiny")
    tiles = TileDataset(toy_ds, stage="study", progress=False).load_batch(range(4))
    enc = enc.to(memory_format=torch.contiguous_format)
    assert torch.equal(embed_tiles(enc, tiles), embed_tiles(loaded, tiles))


def test_custom_backbone_through_the_cli_plugin(toy_ds, tmp_path, capsys):
    from convml_tt.cli import main

    plugin = tmp_path / "my_backbones.py"
    plugin.write_text(textwrap.dedent("""
        import torch.nn as nn
        from convml_tt.architectures import register_backbone

        def small(in_channels):
            return nn.Sequential(nn.Conv2d(in_channels, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 12, 3))

        register_backbone("small_cli", small, overwrite=True)
    """), encoding="utf-8")
    out = tmp_path / "m.pt"
    try:
        rc = main(["train", str(toy_ds), "--plugin", str(plugin), "--arch", "small_cli", "--epochs", "1",
                   "--batch-size", "8", "--emb-dim", "8", "--out", str(out), "--device", "cpu", "--quiet",
                   "--no-checkpoints"])
        assert rc == 0 and "wrote" in capsys.readouterr().out
        cfg = load_model(out, device="cpu").config
        assert cfg["arch"] == "small_cli" and cfg["epochs_trained"] == 1
        with pytest.raises(SystemExit) as exit_:  # refused while parsing, listing the registered backbones
            main(["train", str(toy_ds), "--arch", "nope", "--out", str(tmp_path / "x.pt"), "--device", "cpu"])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "argument --arch: unknown backbone 'nope'; registered: " in err
        assert "small_cli" in err
        rc = main(["train", str(toy_ds), "--plugin", "no_such_module_here", "--out", str(tmp_path / "x.pt")])
        assert rc == 2 and "plugin 'no_such_module_here' could not be imported" in capsys.readouterr().err
    finally:
        backbones.BACKBONES.unregister("small_cli")


class CountingLoss(nn.Module):
    """A hinge on squared distances that counts its calls (no ``config``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls, self.reduction = 0, "mean"

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        a, n, d = pred.float().unbind(1)
        loss = torch.relu((a - n).pow(2).sum(1) - (a - d).pow(2).sum(1) + 1.0)
        return loss.mean() if self.reduction == "mean" else loss


def test_custom_loss_module_through_make_learner(toy_ds, tiny_arch):
    loss = CountingLoss()
    learn = make_learner(toy_ds, arch=tiny_arch, loss_func=loss, **FAST)
    assert learn.loss_func is loss and learn.model.encoder.config["loss"] == {"class": "CountingLoss"}
    before = _params(learn.model)
    _quiet_fit(learn, 1, 1e-3)
    assert loss.calls >= 2  # every training and validation batch
    assert not torch.equal(before["encoder.body.0.weight"], _params(learn.model)["encoder.body.0.weight"])
    # a loss with a config dict has it stored; time_training_step takes a loss too
    own = TripletLoss(margin=0.5, negatives="own")
    assert make_learner(toy_ds, arch=tiny_arch, loss_func=own, **FAST).model.encoder.config["loss"] == own.config
    timed = CountingLoss()
    assert time_training_step(arch=tiny_arch, tile_pixels=16, batch_size=2, emb_dim=8, device="cpu",
                              mixed_precision="no", steps=1, loss_func=timed) > 0
    assert timed.calls == 2  # warm-up + one timed step


def test_default_loss_is_the_batch_loss_of_the_settings():
    assert default_loss().config == {"distance": "euclidean", "margin": 1.0, "l2": 0.01, "negatives": "batch"}
    assert default_loss(negatives="own", loss="squared").config == {
        "distance": "squared", "margin": 1.0, "l2": 0.0, "negatives": "own"}
    with pytest.raises(TypeError, match="default_loss has no setting"):
        default_loss(batch_size=3)


def test_pretrained_weights_of_a_user_backbone(tmp_path, tiny_arch):
    grey = write_toy_triplets(tmp_path / "grey", n_train=10, size=32, channels=1)
    with pytest.raises(ValueError, match="backbone 'tiny' has no pretrained weights registered"):
        make_learner(grey, arch=tiny_arch, pretrained=True, **FAST)
    sd = tiny(3).state_dict()  # a local file still works; the first convolution is adapted to 1 channel
    torch.save(sd, tmp_path / "tiny.pth")
    learn = make_learner(grey, arch=tiny_arch, pretrained=tmp_path / "tiny.pth", **FAST)
    body = learn.model.encoder.body
    torch.testing.assert_close(body[0].weight.detach(), sd["0.weight"].mean(1, keepdim=True) * 3)
    torch.testing.assert_close(body[3].weight.detach(), sd["3.weight"])
    assert learn.model.encoder.config["pretrained"].endswith("tiny.pth")


def test_embed_tiles_takes_any_module_and_dataset(toy_ds):
    ds = TileDataset(toy_ds, stage="study", progress=False)
    subset = torch.utils.data.Subset(ds, [3, 1])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4))  # no config: mean 0, std 1, no resize
    expected = model(ds.load_batch([3, 1]).float() / 255.0).detach()
    torch.testing.assert_close(embed_tiles(model, subset), expected)
    emb = embed_tiles(model, subset, batch_size=1, num_workers=1)
    assert emb.dtype == torch.float32 and emb.device.type == "cpu"
    torch.testing.assert_close(emb, expected)
    with pytest.raises(ValueError, match=r"tiles have shape \(2, 3, 32\); the encoder expects"):
        embed_tiles(model, torch.zeros(2, 3, 32, dtype=torch.uint8))


def test_import_does_not_load_torch():
    code = "import sys, convml_tt.architectures as a; assert 'torch' not in sys.modules; print(len(a.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 20
