"""Data-parallel training (torch DDP, gloo on CPU) with 2 real processes.

Each rank is a real process (``tests/ddp_worker.py``) started with the
variables torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), on a
tiny backbone with batch norm and 16 px toy tiles. The one-process
reference runs in the test process with the same seed and twice the batch.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convml_tt.architectures import TripletLoss, load_model, make_dataloaders, make_learner, train
from convml_tt.architectures.model_file import encoder_of
from convml_tt.cli import main
from ddp_worker import fixed_embeddings, register_tiny
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)
HERE = Path(__file__).resolve().parent
WORKER = HERE / "ddp_worker.py"
B = 4  # triplets per rank
SETTINGS = dict(arch="tiny", batch_size=B, epochs=2, seed=0, emb_dim=8, dropout=0.0, mixed_precision="no",
                jitter=0.05, lr=3e-3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ranks(cfg: dict, folder: Path, world: int = 2) -> list[subprocess.Popen]:
    cfg_file = folder / f"cfg_{len(list(folder.glob('cfg_*.json')))}.json"
    cfg_file.write_text(json.dumps(cfg))
    port = _free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), CUDA_VISIBLE_DEVICES="")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(cfg_file)], env=env, cwd=HERE.parent,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("ddp") / "ds", n_train=36, size=16)


@pytest.fixture(scope="module")
def tiny_registered():
    from convml_tt.architectures import backbones

    register_tiny()
    yield
    backbones.BACKBONES.unregister("tiny")


FAULT_TIMEOUT = 8.0  # --ddp-timeout of the fault runs (s)


@pytest.fixture(scope="module")
def ddp_api(toy_ds, tiny_registered, tmp_path_factory):
    """Two ranks through the Python API (process group set up by the caller),
    the command line resuming a checkpoint in that group, then the command line
    in its own group with rank 1 frozen (SIGSTOP) mid-training; and the
    one-process reference with batch 2B."""
    out = tmp_path_factory.mktemp("ddp_api")
    resume = _cli_argv(toy_ds, out / "resumed.pt", SETTINGS["epochs"], 60, "--resume", str(out / "ckpt" / "epoch_001.pt"),
                       "--checkpoint-dir", str(out / "ckpt2"), "--lr", str(SETTINGS["lr"]), "--jitter",
                       str(SETTINGS["jitter"]), "--dropout", "0")
    fault = _cli_argv(toy_ds, out / "fault" / "m.pt", 40, FAULT_TIMEOUT)
    (out / "fault").mkdir()
    cfg = dict(mode="api", out=str(out), dataset=str(toy_ds), batch_size=B, settings=SETTINGS, resume_argv=resume,
               fault_argv=fault, fault_port=_free_port())
    procs = _start_ranks(cfg, out)
    # meanwhile (the ranks are busy importing): the one-process reference
    ref = train(toy_ds, out / "ref.pt", quiet=True, **{**SETTINGS, "batch_size": 2 * B})
    ref_state = {k: v.detach().clone() for k, v in encoder_of(ref).state_dict().items()}
    faulted = _freeze_rank1_after(out / "fault" / "m.pt.checkpoints" / "epoch_002.pt", procs, signal.SIGSTOP)
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]
    return ranks, ref_state, out, faulted


def _freeze_rank1_after(ckpt: Path, procs, sig) -> dict:
    """Once ``ckpt`` exists, send ``sig`` to rank 1; wait for rank 0 to exit.
    Returns rank 0's ``rc``, ``stdout``, ``stderr`` and ``took`` (s from the signal)."""
    try:
        _wait_for(ckpt, procs)
        procs[1].send_signal(sig)
        t0 = time.monotonic()
        o, e = procs[0].communicate(timeout=FAULT_TIMEOUT + 60)
        return dict(rc=procs[0].returncode, stdout=o, stderr=e, took=time.monotonic() - t0, ckpt=ckpt.parent)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()  # reaps it and closes its pipes


def test_a_rank_reads_its_share_of_each_global_batch_with_its_augmentations(toy_ds):
    """Shares (0, 2) and (1, 2) of batch B, concatenated, are the batches of 2B,
    augmented tiles included (flips, turns and jitter drawn for the global batch)."""
    def batches(bs, shard):
        dls = make_dataloaders(toy_ds, batch_size=bs, seed=3, device="cpu", progress=False, jitter=0.05)
        dls.train.set_shard(*shard)
        return [b for _ in range(2) for b in dls.train], len(dls.train), dls

    full, n_full, _ = batches(2 * B, (0, 1))
    r0, n0, dls = batches(B, (0, 2))
    r1, n1, _ = batches(B, (1, 2))
    assert n_full == n0 == n1 == 32 // (2 * B) and len(r0) == len(full) == 2 * n_full
    for f, a, b in zip(full, r0, r1):
        for i in range(4):
            assert torch.equal(f[i], torch.cat([a[i], b[i]]))
    assert not torch.equal(r0[0][0], r1[0][0])  # the ranks' shares differ
    with pytest.raises(ValueError, match="drops its last incomplete batch"):
        dls.valid.set_shard(0, 2)
    with pytest.raises(ValueError, match="at most 3 per rank, or fewer ranks"):
        dls.train.set_shard(0, 9)


def test_batch_norm_swap_shares_tensors_skips_frozen_layers_and_undoes():
    """The global-batch batch norm shares weights and running statistics with the
    layer it stands in for (the optimiser keeps working); frozen layers (freeze_body)
    are left for fastai's BnFreeze; outside a process group it is plain batch norm."""
    from convml_tt.architectures.training.distributed import CPUSyncBatchNorm, _swap_batchnorms

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(4 * 6 * 6)),
                                torch.nn.BatchNorm2d(4))
    model[3].weight.requires_grad_(False)
    model[3].bias.requires_grad_(False)
    plain = [model[1], model[2][1]]
    x = torch.randn(5, 3, 8, 8)
    ref_bn = copy.deepcopy(model[1])
    expected = ref_bn(model[0](x))
    swapped = _swap_batchnorms(model, CPUSyncBatchNorm)
    assert [type(model[1]), type(model[2][1]), type(model[3])] == [CPUSyncBatchNorm, CPUSyncBatchNorm,
                                                                   torch.nn.BatchNorm2d]
    assert model[1].weight is plain[0].weight and model[1].running_var is plain[0].running_var
    torch.testing.assert_close(model[1](model[0](x)), expected)
    torch.testing.assert_close(plain[0].running_var, ref_bn.running_var)  # updated through the swap
    assert not torch.equal(plain[0].running_var, torch.ones(4))
    for parent, name, original in reversed(swapped):
        setattr(parent, name, original)
    assert model[1] is plain[0] and model[2][1] is plain[1]


def test_the_ranks_end_with_identical_parameters(ddp_api):
    ranks = ddp_api[0]
    a, b = ranks[0]["trained"], ranks[1]["trained"]
    assert set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["body.1.num_batches_tracked"].item() == 2 * 32 // (2 * B)  # 2 epochs of 4 steps


def test_two_ranks_of_b_train_like_one_process_of_2b(ddp_api, toy_ds):
    """Same triplets, seed and augmentations: global batch-norm statistics and
    gathered negatives make 2 ranks x B equal to 1 process x 2B, to float rounding."""
    ranks, ref = ddp_api[:2]
    got = ranks[0]["trained"]
    for k, v in ref.items():
        torch.testing.assert_close(got[k].float(), v.float(), rtol=1e-4, atol=2e-5, msg=k)
    # training moved the weights far beyond that tolerance
    init = encoder_of(make_learner(toy_ds, progress=False, **SETTINGS)).state_dict()
    for k in ("body.0.weight", "head.lin2.weight", "head.bn1.running_var"):
        assert (init[k] - ref[k]).abs().max().item() > 1e-2, k
    # the batch-norm layers are plain again after the fit
    assert ranks[0]["bn_type"] == "BatchNorm2d"


def test_in_batch_negatives_are_those_of_the_global_batch(ddp_api):
    """Each rank's anchors meet the distant tiles of both ranks: the mean of the
    rank losses is the one-process loss of the global batch, and each rank's
    gradient (summed over ranks by the gather's backward) is twice its share of
    the one-process gradient (DDP then divides by 2)."""
    ranks = ddp_api[0]
    pred = fixed_embeddings(2 * B).requires_grad_(True)
    loss = TripletLoss(negatives="batch")(pred)
    loss.backward()
    mean_rank_loss = (ranks[0]["loss"] + ranks[1]["loss"]) / 2
    torch.testing.assert_close(mean_rank_loss, loss.detach(), rtol=1e-6, atol=1e-6)
    grads = torch.cat([ranks[0]["loss_grad"], ranks[1]["loss_grad"]]) / 2
    torch.testing.assert_close(grads, pred.grad, rtol=1e-5, atol=1e-7)
    # a rank-local batch would have given another loss
    local = TripletLoss(negatives="batch")(fixed_embeddings(2 * B)[:B])
    assert abs(local.item() - ranks[0]["loss"].item()) > 1e-3


def test_only_rank0_writes_and_a_resumed_run_ends_like_the_uninterrupted_one(ddp_api):
    """train(): rank 0 writes checkpoints and the model; the command line, resuming
    the first epoch's checkpoint on both ranks, ends with the uninterrupted weights."""
    ranks, _, out, faulted = ddp_api
    stdout = faulted["stdout"]
    assert ranks[0]["checkpoints"] == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    assert ranks[1]["checkpoints"] == ranks[0]["checkpoints"]  # the same folder: rank 0's files
    assert ranks[1]["model_exists"]  # train() returned on rank 1 after rank 0 wrote it
    enc = load_model(out / "model.pt", device="cpu")
    for k, v in enc.state_dict().items():
        assert torch.equal(v, ranks[0]["trained"][k])
    resumed = load_model(out / "resumed.pt", device="cpu").state_dict()
    for k, v in ranks[0]["trained"].items():
        torch.testing.assert_close(resumed[k], v, rtol=1e-6, atol=1e-7, msg=k)
    # rank 0 reports (rank 1 prints nothing: its stdout is checked in the killed-rank test)
    assert stdout.count("wrote") == 1 and "2 processes (DDP, batch 2 x 4)" in stdout


def _cli_argv(ds: Path, out: Path, epochs: int, timeout: float, *extra: str) -> list[str]:
    return ["train", str(ds), "--out", str(out), "--arch", "tiny", "--batch-size", str(B), "--epochs",
            str(epochs), "--emb-dim", "8", "--precision", "no", "--quiet", "--seed", "0",
            "--ddp-timeout", str(timeout), *extra]


def _wait_for(path: Path, procs, limit: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a rank ended early ({p.returncode}): {p.communicate()[1][-2000:]}")
        if time.monotonic() - t0 > limit:
            raise AssertionError(f"{path} did not appear within {limit} s")
        time.sleep(0.05)


def _check_lost_rank_line(faulted: dict) -> None:
    err = faulted["stderr"]
    assert faulted["rc"] == 1, err[-2000:]
    assert faulted["took"] < FAULT_TIMEOUT + 10, faulted["took"]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith("convml_tt train: error: rank 0 of 2: another rank died or stopped answering")
    assert f"--resume {faulted['ckpt'] / 'last.pt'}" in lines[0]
    assert not (faulted["ckpt"].parent / "m.pt").exists()


def test_a_frozen_rank_makes_rank0_exit_within_the_timeout_with_one_line(ddp_api):
    """Rank 1 stopped (SIGSTOP) mid-training: rank 0's collectives time out after
    --ddp-timeout and it exits with status 1 and one line naming the last checkpoint."""
    faulted = ddp_api[3]
    _check_lost_rank_line(faulted)
    assert faulted["took"] >= FAULT_TIMEOUT - 1  # it waited for the timeout, not less


def test_a_killed_rank_makes_rank0_exit_with_one_line_and_the_checkpoint_resumes(toy_ds, tiny_registered, tmp_path):
    """Rank 1 killed (SIGKILL) mid-training: rank 0 exits with status 1 and one line
    (at once: gloo sees the connection reset; NCCL would wait for the timeout);
    the checkpoint it names resumes."""
    model = tmp_path / "m.pt"
    procs = _start_ranks(dict(mode="cli", argv=_cli_argv(toy_ds, model, 40, FAULT_TIMEOUT)), tmp_path)
    ckpt = tmp_path / "m.pt.checkpoints"
    faulted = _freeze_rank1_after(ckpt / "epoch_002.pt", procs, signal.SIGKILL)
    _check_lost_rank_line(faulted)
    assert faulted["stdout"].strip() == ""
    done = torch.load(ckpt / "last.pt", weights_only=False)["epoch"]
    assert 2 <= done < 40
    # the checkpoint resumes (here on one process with the same global batch; resuming on
    # 2 ranks is test_only_rank0_writes_and_a_resumed_run_ends_like_the_uninterrupted_one)
    argv = _cli_argv(toy_ds, tmp_path / "r.pt", done + 1, 60, "--resume", str(ckpt / "last.pt"),
                     "--resume-with-changes")  # fewer epochs than the run of 40 that was cut short
    argv[argv.index("--batch-size") + 1] = str(2 * B)
    assert main(argv) == 0
    from convml_tt.architectures import read_model_file

    assert read_model_file(tmp_path / "r.pt")["config"]["epochs_trained"] == done + 1


def test_bad_distributed_input_is_refused_in_one_line(toy_ds, tmp_path, capsys, monkeypatch):
    from convml_tt.architectures.training.distributed import init_distributed

    assert main(_cli_argv(toy_ds, tmp_path / "m.pt", 1, 0)) == 1
    assert "--ddp-timeout 0.0 must be a positive number" in capsys.readouterr().err
    with pytest.raises(ValueError, match="distributed=True needs an initialised"):
        make_learner(toy_ds, distributed=True, progress=False, batch_size=4)
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ValueError, match="launch with torchrun"):
        init_distributed("cpu")
    with pytest.raises(ValueError, match="timeout=-1"):
        init_distributed("cpu", timeout=-1)
