"""Triplet encoder, loss, fastai Learner, model files and the train CLI.

Real training steps with resnet18 on tiny (32 px) toy tiles; see
``triplet_fixtures.py`` for the learnable toy set.
"""
from __future__ import annotations

import math
import os

import time

import pytest
import torch
import torchvision

from convml_tt.architectures import (
    MODEL_FORMAT,
    TripletEncoder,
    TripletLoss,
    embed_dataset,
    embed_tiles,
    load_model,
    make_dataloaders,
    make_learner,
    resume_from_checkpoint,
    save_model,
)
from convml_tt.architectures.losses import triplet_acc
from convml_tt.data.dataset.torch import TripletDataset
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)
FAST = dict(batch_size=8, seed=0, progress=False, emb_dim=16)


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("train") / "ds", n_train=36, n_study=6, size=32)


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _quiet_fit(learn, *args, **kwargs):
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(*args, **kwargs)


def test_batches_have_a_target_so_fastai_steps(toy_ds):
    """The n_inp trap: without a target fastai would skip loss and backward."""
    learn = make_learner(toy_ds, **FAST)
    b = learn.dls.one_batch()
    assert learn.dls.n_inp == 3 and len(b) == 4
    assert [t.shape for t in b[:3]] == [(8, 3, 32, 32)] * 3 and b[3].shape == (8,)
    before = _params(learn.model)
    _quiet_fit(learn, 1, 1e-3)
    after = _params(learn.model)
    changed = [k for k in before if k.endswith("weight") and not torch.equal(before[k], after[k])]
    assert "encoder.body.conv1.weight" in changed and "encoder.head.lin2.weight" in changed
    assert torch.isfinite(torch.tensor(learn.recorder.values[-1][:2])).all()


def test_loss_decreases_on_learnable_toy_set(toy_ds):
    # the toy set's distant tile is always of the other class, not a random tile, so only a
    # triplet's own distant tile is a sure negative: the classic loss
    learn = make_learner(toy_ds, negatives="own", **FAST)
    _quiet_fit(learn, 4, 3e-3)
    train_losses = [v[0] for v in learn.recorder.values]
    assert train_losses[-1] < 0.8 * train_losses[0], train_losses
    names = learn.recorder.metric_names[1:-1]
    assert names == ["train_loss", "valid_loss", "dist_an", "dist_ad", "triplet_acc", "emb_std", "emb_cos"]
    last = dict(zip(names, learn.recorder.values[-1]))
    assert last["triplet_acc"] >= 0.75 and last["dist_an"] < last["dist_ad"]


def test_bf16_autocast_on_cpu_trains_with_float32_loss_and_weights(toy_ds):
    """CPU bf16: the forward runs in bf16, the loss and every parameter stay float32."""
    from fastai.callback.core import Callback

    from convml_tt.architectures import CPUAutocast, cpu_has_native_bf16

    learn = make_learner(toy_ds, mixed_precision="bf16", device="cpu", negatives="own", **FAST)
    assert any(isinstance(cb, CPUAutocast) for cb in learn.cbs)
    seen = {}

    class Probe(torch.nn.Module):  # records the dtype inside the encoder's forward
        def forward(self, x):
            seen["inside"] = x.dtype
            return x

    class Dtypes(Callback):  # records what the loss sees
        def after_loss(self):
            seen["pred"], seen["loss"] = self.learn.pred.dtype, self.learn.loss.dtype

    learn.model.encoder.head.append(Probe())
    before = _params(learn.model)
    _quiet_fit(learn, 2, 3e-3, cbs=[Dtypes()])
    assert seen["inside"] == torch.bfloat16
    assert seen["pred"] == torch.float32 and seen["loss"] == torch.float32
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())
    assert not torch.is_autocast_enabled("cpu")  # left after every batch
    losses = [v[0] for v in learn.recorder.values]
    assert all(map(math.isfinite, losses)) and losses[-1] < losses[0], losses
    assert not torch.equal(before["encoder.body.conv1.weight"], _params(learn.model)["encoder.body.conv1.weight"])
    # auto picks bf16 on CPU exactly when the CPU has native bf16 instructions
    auto = make_learner(toy_ds, device="cpu", **FAST)
    assert any(isinstance(cb, CPUAutocast) for cb in auto.cbs) == cpu_has_native_bf16()
    off = make_learner(toy_ds, mixed_precision="no", device="cpu", **FAST)
    assert not any(isinstance(cb, CPUAutocast) for cb in off.cbs)


def test_same_seed_same_batches(toy_ds):
    def batches(seed):
        dls = make_dataloaders(toy_ds, batch_size=8, seed=seed, device="cpu", progress=False)
        return [t for _ in range(2) for b in dls.train for t in b] + [t for b in dls.valid for t in b]

    a, b, c = batches(1), batches(1), batches(2)
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_preloaded_pipeline_gives_same_batches(toy_ds):
    lazy = make_dataloaders(toy_ds, batch_size=8, seed=3, device="cpu", progress=False)
    pre = make_dataloaders(toy_ds, batch_size=8, seed=3, device="cpu", preload=True, progress=False)
    for x, y in zip(lazy.train.one_batch(), pre.train.one_batch()):
        assert torch.equal(x, y)


def test_model_file_round_trip_identical_embeddings(toy_ds, tmp_path):
    learn = make_learner(toy_ds, head="linear", **FAST)
    _quiet_fit(learn, 1, 1e-3)
    path = save_model(learn, tmp_path / "model.pt")
    assert not list(tmp_path.glob(".*tmp"))  # temp file renamed away
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == MODEL_FORMAT
    cfg = raw["config"]
    assert (cfg["arch"], cfg["emb_dim"], cfg["head"], cfg["n_input_channels"], cfg["tile_pixels"]) == (
        "resnet18", 16, "linear", 3, 32)
    assert len(cfg["normalization"]["mean"]) == 3 and cfg["training_data_path"].endswith("train")
    enc = load_model(path, device="cpu")
    assert isinstance(enc, TripletEncoder) and not enc.training and enc.config == cfg
    tiles = TripletDataset(toy_ds, stage="study").load_batch(range(6))[:, 0]
    # training keeps the model channels-last; compare in the loaded model's (contiguous) layout
    e1 = embed_tiles(learn.model.encoder.to(memory_format=torch.contiguous_format), tiles)
    e2 = embed_tiles(enc, tiles)
    assert e1.shape == (6, 16) and torch.equal(e1, e2)
    ids, emb = embed_dataset(enc, toy_ds, stage="study", progress=False)
    assert ids == list(range(6)) and emb.shape == (6, 16)
    assert torch.equal(torch.from_numpy(emb), e2)


class _Evil:
    """Unpickling this would create a folder (code execution)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_objects_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"format": MODEL_FORMAT, "config": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_model(tmp_path / "evil.pt", device="cpu")
    assert not marker.exists()


def test_files_that_are_not_convml_tt_models(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="not a convml_tt model file"):
        load_model(tmp_path / "junk.pt", device="cpu")
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a convml_tt model file"):
        load_model(tmp_path / "plain.pt", device="cpu")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt", device="cpu")


def test_model_of_another_architecture_or_embedding_size(tmp_path):
    enc = TripletEncoder("resnet18", 3, emb_dim=8, head="linear")
    path = save_model(enc, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"arch='resnet18' \(expected 'resnet34'\)"):
        load_model(path, device="cpu", arch="resnet34")
    with pytest.raises(ValueError, match=r"emb_dim=8 \(expected 32\)"):
        load_model(path, device="cpu", emb_dim=32)
    # a file whose config claims another size than its weights
    raw = torch.load(path, weights_only=True)
    raw["config"]["emb_dim"] = 32
    torch.save(raw, tmp_path / "lying.pt")
    with pytest.raises(ValueError, match="weights do not fit its config"):
        load_model(tmp_path / "lying.pt", device="cpu")
    raw["config"].update(emb_dim=8, arch="resnet34")
    torch.save(raw, tmp_path / "lying34.pt")
    with pytest.raises(ValueError, match="weights do not fit its config"):
        load_model(tmp_path / "lying34.pt", device="cpu")


def test_freezing_really_freezes(toy_ds):
    learn = make_learner(toy_ds, freeze_body=True, **FAST)
    body0, head0 = _params(learn.model.encoder.body), _params(learn.model.encoder.head)
    _quiet_fit(learn, 1, 1e-2)
    body1, head1 = _params(learn.model.encoder.body), _params(learn.model.encoder.head)
    assert all(torch.equal(body0[k], body1[k]) for k in body0)  # weights and BN statistics
    assert not torch.equal(head0["lin2.weight"], head1["lin2.weight"])
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())


def test_lr_find_runs(toy_ds):
    learn = make_learner(toy_ds, **FAST)
    before = _params(learn.model)
    with learn.no_bar():
        res = learn.lr_find(num_it=12, show_plot=False)
    assert res.valley > 0 and len(learn.recorder.losses) >= 6
    after = _params(learn.model)  # lr_find restores the weights
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_checkpoint_and_resume(toy_ds, tmp_path):
    ck = tmp_path / "ck"
    learn = make_learner(toy_ds, checkpoint_dir=ck, **FAST)
    _quiet_fit(learn, 2, 1e-3)
    assert sorted(p.name for p in ck.iterdir()) == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    saved1 = load_model(ck / "epoch_001.pt", device="cpu")

    again = make_learner(toy_ds, checkpoint_dir=ck / "again", **FAST)
    done = resume_from_checkpoint(again, ck / "epoch_001.pt")
    assert done == 1
    assert all(torch.equal(a, b) for a, b in zip(again.model.encoder.state_dict().values(),
                                                 saved1.state_dict().values()))
    assert again.opt is not None and len(again.opt.state) > 0
    _quiet_fit(again, 2, 1e-3, start_epoch=done)
    assert [p.name for p in (ck / "again").iterdir() if p.name.startswith("epoch")] == ["epoch_002.pt"]
    assert again.recorder.values[-1][1] is not None  # validated after the resumed epoch

    other = make_learner(toy_ds, **{**FAST, "emb_dim": 24})
    with pytest.raises(ValueError, match="made for another model"):
        resume_from_checkpoint(other, ck / "last.pt")


class _KillAfterFirstEpoch(Exception):
    """Stands for the process being killed once the first checkpoint is written."""


def test_resumed_run_continues_the_same_run(toy_ds, tmp_path):
    """3 epochs in one go == 1 epoch, killed, then a new learner resumed from last.pt to 3.

    Default head (dropout 0.5: the torch RNG matters), augmentation on: the
    optimiser, one-cycle position, python/numpy/torch RNGs and the loaders'
    shuffle/augmentation streams must all continue where they were."""
    from fastai.callback.core import Callback

    settings = dict(FAST, device="cpu", mixed_precision="no", augment=True, jitter=0.1)

    class Kill(Callback):
        order = 90  # after the CheckpointCallback wrote last.pt

        def after_epoch(self):
            if self.epoch == 0:
                raise _KillAfterFirstEpoch("killed after epoch 1")

    straight = make_learner(toy_ds, checkpoint_dir=tmp_path / "a", **settings)
    assert straight.model.encoder.config["dropout"] == 0.5
    _quiet_fit(straight, 3, 3e-3)

    killed = make_learner(toy_ds, checkpoint_dir=tmp_path / "b", **settings)
    with pytest.raises(_KillAfterFirstEpoch):
        _quiet_fit(killed, 3, 3e-3, cbs=[Kill()])
    raw = torch.load(tmp_path / "b" / "last.pt", weights_only=True)  # plain types only
    assert raw["epoch"] == 1 and raw["fit"]["n_epoch"] == 3 and "rng" in raw
    assert load_model(tmp_path / "b" / "last.pt", device="cpu").config["emb_dim"] == 16
    del killed

    resumed = make_learner(toy_ds, checkpoint_dir=tmp_path / "b", **settings)  # as a new process builds it
    done = resume_from_checkpoint(resumed, tmp_path / "b" / "last.pt")
    assert done == 1
    _quiet_fit(resumed, 3, 3e-3, start_epoch=done)

    a, b = _params(straight.model), _params(resumed.model)
    assert a.keys() == b.keys()
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert all(torch.allclose(a[k].double(), b[k].double(), atol=1e-6, rtol=0) for k in a), diff
    # the one-cycle schedule and the recorded losses/metrics continue too
    n = len(resumed.recorder.hps["lr"])
    assert n == 2 * len(straight.dls.train)
    assert resumed.recorder.hps["lr"] == pytest.approx(straight.recorder.hps["lr"][-n:])
    assert resumed.recorder.hps["mom"] == pytest.approx(straight.recorder.hps["mom"][-n:])
    for va, vb in zip(straight.recorder.values[1:], resumed.recorder.values[1:]):
        assert [float(v) for v in vb] == pytest.approx([float(v) for v in va], abs=1e-5)
    # and both runs wrote the same final checkpoint
    ca = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    cb = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert ca["epoch"] == cb["epoch"] == 3
    assert all(torch.allclose(ca["state_dict"][k].double(), cb["state_dict"][k].double(), atol=1e-6, rtol=0)
               for k in ca["state_dict"])


def test_old_checkpoint_without_rng_state_still_resumes(toy_ds, tmp_path):
    """Checkpoints written before the RNG/loader/recorder fields: weights and optimiser only."""
    ck = tmp_path / "ck"
    learn = make_learner(toy_ds, checkpoint_dir=ck, **FAST)
    _quiet_fit(learn, 1, 1e-3)
    raw = torch.load(ck / "last.pt", weights_only=True)
    old = {k: raw[k] for k in ("format", "format_version", "config", "state_dict", "optimizer", "epoch", "fit")}
    torch.save(old, tmp_path / "old.pt")
    again = make_learner(toy_ds, **FAST)
    assert resume_from_checkpoint(again, tmp_path / "old.pt") == 1
    assert again.opt is not None and len(again.opt.state) > 0
    _quiet_fit(again, 2, 1e-3, start_epoch=1)
    assert math.isfinite(again.recorder.values[-1][0])


def test_input_channels_and_local_pretrained_weights(tmp_path):
    root = write_toy_triplets(tmp_path / "grey", n_train=10, size=32, channels=1)
    sd = torchvision.models.resnet18().state_dict()
    torch.save(sd, tmp_path / "resnet18.pth")
    learn = make_learner(root, pretrained=tmp_path / "resnet18.pth", freeze_body=True, **FAST)
    enc = learn.model.encoder
    assert enc.body.conv1.weight.shape == (64, 1, 7, 7)
    torch.testing.assert_close(enc.body.conv1.weight.detach(), sd["conv1.weight"].mean(1, keepdim=True) * 3)
    torch.testing.assert_close(enc.body.layer1[0].conv1.weight.detach(), sd["layer1.0.conv1.weight"])
    assert enc.config["normalization"]["kind"] == "imagenet" and enc.config["pretrained"].endswith("resnet18.pth")
    _quiet_fit(learn, 1, 1e-3)
    # backbone weights of another architecture are refused
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(ValueError, match="do not fit a resnet18 body"):
        make_learner(root, pretrained=tmp_path / "resnet34.pth", **FAST)
    with pytest.raises(FileNotFoundError, match="pretrained weights file"):
        make_learner(root, pretrained=tmp_path / "nope.pth", **FAST)


def test_loss_values_and_metrics():
    a = torch.zeros(2, 4)
    n = torch.tensor([[3.0, 4, 0, 0], [0.5, 0, 0, 0]])  # |a-n| = 5, 0.5
    d = torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0]])  # |a-d| = 1, 2
    pred = torch.stack([a, n, d], dim=1)
    eu = TripletLoss(margin=1.0, l2=0.0)(pred, None)
    assert eu.item() == pytest.approx(((5 - 1 + 1) + 0) / 2)
    with_l2 = TripletLoss()(pred, None)  # l2 0.01 * (|a|+|n|+|d|)
    assert with_l2.item() == pytest.approx(2.5 + 0.01 * ((0 + 5 + 1) + (0 + 0.5 + 2)) / 2)
    sq = TripletLoss(distance="squared", margin=1.0)(pred, None)
    assert sq.item() == pytest.approx(((25 - 1 + 1) + 0) / 2)
    assert triplet_acc(pred).item() == 0.5
    # every anchor against every distant tile of the batch (|a_i - d_j| = 1, 2 for both anchors)
    batch = TripletLoss(margin=1.0, l2=0.0, negatives="batch")
    assert batch(pred, None).item() == pytest.approx(((5 + 4) / 2 + (0.5 + 0) / 2) / 2)
    per = TripletLoss(margin=1.0, l2=0.0, negatives="batch", reduction="none")(pred, None)
    assert per.tolist() == pytest.approx([4.5, 0.25])
    sq_batch = TripletLoss(distance="squared", negatives="batch")(pred, None)
    assert sq_batch.item() == pytest.approx(((25 + 22) / 2 + (0.25 + 0) / 2) / 2)
    assert batch.config["negatives"] == "batch" and TripletLoss().config["negatives"] == "own"
    with pytest.raises(ValueError, match="negatives='all'; use 'own'"):
        TripletLoss(negatives="all")


def test_bad_settings(toy_ds):
    with pytest.raises(ValueError, match="batch_size=64 is larger than the 32 training triplets"):
        make_learner(toy_ds, **{**FAST, "batch_size": 64})
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        make_learner(toy_ds, mixed_precision="fp16", device="cpu", **FAST)
    with pytest.raises(ValueError, match="use None \\(auto\\), 'bf16', 'fp16' or 'no'"):
        make_learner(toy_ds, mixed_precision="int8", device="cpu", **FAST)
    with pytest.raises(ValueError, match="unknown backbone 'resnet99'; registered: resnet18"):
        make_learner(toy_ds, arch="resnet99", **FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when no GPU is present")
def test_cuda_without_gpu_is_a_clear_error(toy_ds, capsys):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        make_learner(toy_ds, device="cuda", **FAST)
    from convml_tt.cli import main

    assert main(["train", str(toy_ds), "--device", "cuda", "--out", "m.pt"]) == 1
    assert "CUDA is not available" in capsys.readouterr().err


def test_cli_train_writes_model_and_prints_table(toy_ds, tmp_path, capsys):
    from convml_tt.cli import main

    out = tmp_path / "m.pt"
    rc = main(["train", str(toy_ds), "--epochs", "1", "--batch-size", "8", "--emb-dim", "8",
               "--head", "linear", "--out", str(out), "--device", "cpu"])
    text = capsys.readouterr().out
    assert rc == 0 and "train_loss" in text and "triplet_acc" in text and f"wrote {out}" in text
    enc = load_model(out, device="cpu", emb_dim=8)
    assert enc.config["epochs_trained"] == 1
    assert enc.config["loss"]["negatives"] == "batch" and enc.config["dropout"] == 0.5
    assert (tmp_path / "m.pt.checkpoints" / "last.pt").exists()
    own = tmp_path / "own.pt"
    assert main(["train", str(toy_ds), "--epochs", "1", "--batch-size", "8", "--emb-dim", "8", "--quiet",
                 "--negatives", "own", "--dropout", "0", "--out", str(own), "--no-checkpoints", "--shared-cpu"]) == 0
    cfg = load_model(own, device="cpu").config
    assert cfg["loss"]["negatives"] == "own" and cfg["dropout"] == 0.0
    rc = main(["train", str(toy_ds), "--batch-size", "500", "--out", str(tmp_path / "x.pt"), "--quiet"])
    assert rc == 1 and "batch_size=500 is larger" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_time_training_step_times_a_real_step():
    from convml_tt.architectures import time_training_step

    state = torch.random.get_rng_state()
    small = time_training_step(tile_pixels=16, batch_size=2, emb_dim=8, device="cpu", mixed_precision="no", steps=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is untouched
    large = time_training_step(tile_pixels=64, batch_size=4, emb_dim=8, device="cpu", mixed_precision="no", steps=1)
    assert 0 < small < large < 60  # 16x the pixels, 2x the tiles
    with pytest.raises(ValueError, match="steps=0 must be at least 1"):
        time_training_step(steps=0)



def test_wall_clock_budget_judges_each_epoch():
    from types import SimpleNamespace

    from fastai.callback.core import CancelFitException

    from convml_tt.architectures.training.budget import WallClockBudget

    def epochs(deadline_in_s, reserve=None, n_epoch=3):
        cb = WallClockBudget(time.monotonic() + deadline_in_s, reserve=reserve)
        cb.learn = SimpleNamespace(epoch=0, n_epoch=n_epoch)
        cb.before_fit()
        for e in range(n_epoch):
            cb.learn.epoch = e
            cb.before_epoch()
            try:
                cb.after_epoch()
            except CancelFitException:
                break
        return cb.epochs_done, cb.stopped, len(cb.epoch_s)

    assert epochs(3600) == (3, False, 3)  # time enough: every epoch
    assert epochs(-1) == (1, True, 1)  # past the deadline: the first epoch, whole, then stop
    assert epochs(3600, reserve=lambda epoch_s: 5400.0) == (1, True, 1)  # the reserve is kept
    assert epochs(-1, n_epoch=1) == (1, False, 1)  # nothing left to cut


def test_wall_clock_budget_replans_the_schedule_to_the_epochs_that_fit():
    """With ``replan``, the epochs that fit (judged after each) become the schedule's end: ``n_epoch``
    shrinks, never grows, and training ends there; without it, training stops at the last that fits."""
    from types import SimpleNamespace

    from fastai.callback.core import CancelFitException

    from convml_tt.architectures.training.budget import WallClockBudget

    def run(epoch_s, budget_s, replan, n_epoch=12, speeds=None):
        clock = [0.0]
        told = []
        cb = WallClockBudget(budget_s, replan=replan, on_replan=told.append)
        cb.learn = SimpleNamespace(epoch=0, n_epoch=n_epoch)
        import convml_tt.architectures.training.budget as mod
        real = mod.time.monotonic
        mod.time.monotonic = lambda: clock[0]
        try:
            cb.before_fit()
            for e in range(n_epoch):  # fastai's loop: range(n_epoch) taken once, at the start
                cb.learn.epoch = e
                cb.before_epoch()
                clock[0] += (speeds or {}).get(e, epoch_s)
                try:
                    cb.after_epoch()
                except CancelFitException:
                    break
        finally:
            mod.time.monotonic = real
        return cb.epochs_done, cb.learn.n_epoch, cb.stopped, told

    # 100 s epochs, 650 s: after the first, 5 more fit -> the schedule ends after epoch 6
    assert run(100.0, 650.0, replan=True) == (6, 6, True, [6])
    assert run(100.0, 650.0, replan=False) == (6, 12, True, [])  # stops at the same epoch, schedule unchanged
    assert run(100.0, 5000.0, replan=True) == (12, 12, False, [])  # time enough
    # slower after the third epoch: the plan shrinks again (6 -> 4), and never grows back
    assert run(100.0, 650.0, replan=True, speeds={2: 200.0}) == (4, 4, True, [6, 4])
    assert run(100.0, 650.0, replan=True, speeds={1: 10.0}) == (6, 6, True, [6])


def test_wall_clock_budget_stops_a_real_fit_after_a_checkpointed_epoch(toy_ds, tmp_path):
    from convml_tt.architectures.model_file import read_model_file
    from convml_tt.architectures.training import learner as train_mod
    from convml_tt.architectures.training.budget import WallClockBudget

    budget = WallClockBudget(time.monotonic())  # already past: one whole epoch, then stop
    train_mod.train(toy_ds, tmp_path / "m.pt", epochs=2, lr=1e-3, checkpoint_dir=tmp_path / "ck", quiet=True,
                    budget=budget, **{k: v for k, v in FAST.items() if k != "progress"})
    assert budget.stopped and budget.epochs_done == 1 and budget.epoch_s[0] > 0
    assert read_model_file(tmp_path / "m.pt")["config"]["epochs_trained"] == 1
    assert (tmp_path / "ck" / "epoch_001.pt").exists() and not (tmp_path / "ck" / "epoch_002.pt").exists()


def test_replanned_fit_ends_its_one_cycle(toy_ds, tmp_path):
    """A real fit whose budget leaves 2 of 4 epochs: the one-cycle schedule is re-planned to end after the
    second, so the last learning rate is near the annealed end, not near the peak."""
    from convml_tt.architectures.training import learner as train_mod
    from convml_tt.architectures.training.budget import WallClockBudget

    lrs = []

    class Deadline(WallClockBudget):  # the deadline set after the first epoch: exactly one more fits
        def after_epoch(self):
            if self.learn.epoch == 0:
                took = time.monotonic() - self._t0
                self.__dict__["deadline"] = time.monotonic() + 1.5 * took  # (fastai warns of setattr)
            super().after_epoch()

        def after_batch(self):
            lrs.append(self.opt.hypers[0]["lr"])

    budget = Deadline(time.monotonic() + 3600, replan=True)
    train_mod.train(toy_ds, tmp_path / "m.pt", epochs=4, lr=1e-3, quiet=True, budget=budget,
                    **{k: v for k, v in FAST.items() if k != "progress"})
    assert budget.stopped and budget.epochs_done == 2 and budget.replanned == 2
    # the cycle ran up to its peak and its last step is near the annealed end (without re-planning the
    # second of 4 epochs would end at ~0.8 of the peak)
    assert max(lrs) > 0.5e-3 and lrs[-1] < 0.1 * max(lrs)


def test_cpu_threads_timed_per_epoch_when_the_machine_is_shared(toy_ds, tmp_path):
    """CPUThreads times real steps with 1 thread and torch's count and keeps the faster for the epoch
    when other tasks run (forced here with min_others=-1); on an idle machine it leaves torch alone; the
    count torch started with comes back after the fit."""
    from convml_tt.architectures.training import learner as train_mod
    from convml_tt.architectures.training.threads import CPUThreads, _others_running

    assert _others_running() >= -1.0
    start = torch.get_num_threads()
    seen = []

    class Spy(CPUThreads):
        def after_batch(self):
            if self.training:
                seen.append(torch.get_num_threads())
            super().after_batch()

    shared = Spy(trial=1, min_others=-1.0)
    train_mod.train(toy_ds, tmp_path / "a.pt", epochs=2, lr=1e-3, quiet=True, cbs=[shared],
                    **{k: v for k, v in FAST.items() if k != "progress"})
    assert torch.get_num_threads() == start
    if start > 1:
        assert len(shared.chosen) == 2 and all(c in (1, start) for c in shared.chosen)
        assert seen[:2] == [1, start]  # the trial steps of the first epoch, then the chosen count
    idle = CPUThreads(min_others=1e9)
    train_mod.train(toy_ds, tmp_path / "b.pt", epochs=1, lr=1e-3, quiet=True, cbs=[idle],
                    **{k: v for k, v in FAST.items() if k != "progress"})
    assert idle.chosen == [None] and torch.get_num_threads() == start
