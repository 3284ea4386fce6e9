"""One rank of the data-parallel tests (tests/test_ddp.py); not a test module.

Run as ``python tests/ddp_worker.py CONFIG.json`` with ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` in the environment (what
torchrun sets). ``CONFIG["mode"]``:

``"api"``
    set up the gloo process group here, then with it already initialised:
    the in-batch loss of a fixed embedding batch (value, gradient of this
    rank's share), ``train()`` for ``epochs`` with checkpoints, and the
    command line (``CONFIG["resume_argv"]``) resuming from the first epoch's
    checkpoint; writes ``{out}/rank{R}.pt`` with what each produced. Then,
    when ``CONFIG["fault_argv"]`` is given, the process group is torn down
    and the command line trains again, setting up its own group from the
    environment (on ``CONFIG["fault_port"]``), for the test to freeze rank 1
    in; the exit status is the command line's.
``"cli"``
    ``convml_tt.cli.main(CONFIG["argv"])``: the command line, which sets up
    the process group from the environment itself; exits with its status.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

torch.set_num_threads(1)


def tiny(in_channels: int) -> nn.Module:
    """A small backbone with batch norm (the statistics that DDP must get right)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
    )


def register_tiny() -> None:
    from convml_tt.architectures import register_backbone

    register_backbone("tiny", tiny, overwrite=True)


def fixed_embeddings(batch: int, emb_dim: int = 6) -> torch.Tensor:
    """A fixed embedding batch ``(batch, 3, emb_dim)`` for the loss check."""
    return torch.randn(batch, 3, emb_dim, generator=torch.Generator().manual_seed(7), dtype=torch.float64).float()


def _state(learn) -> dict:
    from convml_tt.architectures.model_file import encoder_of

    return {k: v.detach().clone() for k, v in encoder_of(learn).state_dict().items()}


def run_api(cfg: dict) -> None:
    import datetime

    import torch.distributed as dist

    from convml_tt.architectures import TripletLoss, train

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    out = Path(cfg["out"])
    res: dict = {}
    # the loss on this rank's share of a fixed global batch
    b = cfg["batch_size"]
    pred = fixed_embeddings(world * b)[rank * b:(rank + 1) * b].clone().requires_grad_(True)
    loss = TripletLoss(negatives="batch")(pred)
    loss.backward()
    res["loss"], res["loss_grad"] = loss.detach(), pred.grad.detach()
    # training, with the process group already there
    kw = dict(cfg["settings"])
    ck = out / "ckpt"
    learn = train(cfg["dataset"], out / "model.pt", checkpoint_dir=ck, quiet=True, **kw)
    res["trained"] = _state(learn)
    res["checkpoints"] = sorted(p.name for p in ck.glob("*.pt"))
    res["model_exists"] = (out / "model.pt").exists()
    res["bn_type"] = type(learn.model.encoder.body[1]).__name__
    torch.save(res, out / f"rank{rank}.pt")
    dist.barrier()
    from convml_tt.cli import main as cli_main

    if cli_main(cfg["resume_argv"]) != 0:
        raise SystemExit(1)
    dist.barrier()
    dist.destroy_process_group()
    if cfg.get("fault_argv"):
        import os

        os.environ["MASTER_PORT"] = str(cfg["fault_port"])
        raise SystemExit(cli_main(cfg["fault_argv"]))
    dist.barrier()
    dist.destroy_process_group()


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    register_tiny()
    if cfg["mode"] == "api":
        run_api(cfg)
        return 0
    from convml_tt.cli import main as cli_main

    return cli_main(cfg["argv"])


if __name__ == "__main__":
    raise SystemExit(main())
