"""Subcommands of the model steps: train, embed."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..config import TrainingSettings
from ._common import RegistryChoices, add_common, add_plugin, registered, whole


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the triplet encoder on a triplet dataset folder and write a model file",
        description=(
            "Train an encoder (a registered backbone, by default a ResNet) with a triplet loss "
            "(fastai, one-cycle schedule) on the train/ stage of DATASET, print the per-epoch table, "
            "checkpoint every epoch and write the model file (weights + config) to --out. "
            "Under `torchrun --nproc_per_node N -m convml_tt train ...` one model is trained on N "
            "processes (DDP; NCCL on GPUs, gloo on CPU; --batch-size is per process; rank 0 writes "
            "checkpoints and the model). Settings: convml_tt.config.TrainingSettings."
        ),
    )
    p.add_argument("dataset", type=Path, metavar="DATASET", help="triplet dataset folder (with train/)")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL", help="model file to write, e.g. model.pt")
    p.add_argument("--arch", default="resnet18", metavar="NAME", type=registered("backbones"),
                   choices=RegistryChoices("backbones"),
                   help="backbone of the registry: %(choices)s (default resnet18); a --plugin or a package's "
                        "entry point adds more")
    p.add_argument("--method", default="triplet", metavar="NAME", type=registered("methods"),
                   choices=RegistryChoices("methods"),
                   help="training method of the registry: %(choices)s (default triplet: anchor, neighbour and "
                        "distant tiles; the others train on augmented views of every tile)")
    add_plugin(p, "registers a backbone (convml_tt.architectures.register_backbone(name, factory)), head, loss "
                  "or method")
    p.add_argument("--epochs", type=whole(1), default=10, help="epochs of one-cycle training (default 10)")
    p.add_argument("--batch-size", type=whole(1), default=TrainingSettings.batch_size,
                   help=f"triplets per batch (default {TrainingSettings.batch_size}, TrainingSettings')")
    p.add_argument("--lr", type=float, default=1e-3, help="maximum learning rate (default 1e-3)")
    p.add_argument("--emb-dim", type=whole(1), default=100, help="embedding size (default 100)")
    p.add_argument("--head", default="fastai", metavar="NAME", type=registered("heads"),
                   choices=RegistryChoices("heads"),
                   help="embedding head of the registry: %(choices)s (default fastai, the 2019 head)")
    p.add_argument("--pretrained", default=None, metavar="PATH",
                   help="backbone weights: a state_dict of the backbone (e.g. a torchvision ResNet .pth), "
                        "a convml_tt model, or 'imagenet' (the weights the backbone is registered with)")
    p.add_argument("--freeze-body", action="store_true", help="train the head only")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--precision", default=None, choices=["auto", "bf16", "fp16", "no"],
                   help="autocast precision (default auto: bf16 on CUDA where supported, else fp16; "
                        "bf16 on CPUs with native bf16 instructions, else none)")
    p.add_argument("--preload", action="store_true", help="decode all tiles into memory once (uint8)")
    p.add_argument("--tile-pixels", "--tile-size", dest="tile_pixels", type=int, default=None, metavar="PIXELS",
                   help="resize tiles to PIXELS x PIXELS for training (default: as stored; --tile-size is "
                        "its old name)")
    p.add_argument("--valid-pct", type=float, default=0.1, help="fraction held out for validation")
    p.add_argument("--loss", default="euclidean", metavar="NAME", type=registered("losses"),
                   choices=RegistryChoices("losses"),
                   help="loss of the registry: %(choices)s (default euclidean: triplet loss, margin 1 + l2 0.01 "
                        "penalty; squared: squared distances)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout of the head (default 0.5)")
    p.add_argument("--negatives", default=None, choices=["batch", "own"],
                   help="compare each anchor with every distant tile of the batch (batch, the default) "
                        "or only with its own (own, the classic Tile2Vec loss)")
    p.add_argument("--jitter", type=float, default=0.0, help="brightness/contrast jitter, e.g. 0.05")
    p.add_argument("--no-augment", action="store_true", help="no flips/rotations")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=whole(0), default=None, help="data loading processes")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="folder for per-epoch checkpoints (default: MODEL.checkpoints/)")
    p.add_argument("--no-checkpoints", action="store_true", help="do not write epoch checkpoints")
    p.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                   help="continue training from an epoch checkpoint")
    p.add_argument("--resume-with-changes", action="store_true",
                   help="with --resume: continue the checkpoint's run with other settings than it was made "
                        "with (--epochs, --lr, --batch-size...), which is refused otherwise")
    p.add_argument("--skip-incomplete", action="store_true", help="skip triplets missing a tile")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch table")
    p.add_argument("--log", action="append", default=[], choices=["tensorboard", "wandb"],
                   help="also log the training curves to TensorBoard (needs the explore extra) or W&B (needs "
                        "wandb); may be given twice")
    p.add_argument("--log-dir", type=Path, default=None, help="where --log writes (default: MODEL.logs/)")
    p.add_argument("--shared-cpu", action="store_true",
                   help="on a CPU shared with other work: each epoch times its first steps with 1 thread and with "
                        "torch's count and keeps the faster (nothing changes while the machine is otherwise idle)")
    p.add_argument("--ddp-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="data-parallel training under torchrun: how long a rank waits for the others in a "
                        "collective before it gives up with an error naming the last checkpoint (default 300)")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from ..architectures import get_backbone, resolve_device, train
    from ..architectures.training.distributed import LostRankError, ddp_device, launched_distributed
    from ..config import TrainingSettings, settings_from

    if not (args.ddp_timeout > 0 and args.ddp_timeout < float("inf")):
        raise ValueError(f"--ddp-timeout {args.ddp_timeout} must be a positive number of seconds, e.g. 300")
    distributed = launched_distributed()
    # clear error for --device cuda without a GPU; under torchrun: cuda:LOCAL_RANK or cpu
    device = ddp_device(args.device) if distributed else resolve_device(args.device)
    # flags named as the settings fields are taken as they are; these three are named otherwise
    s = settings_from(TrainingSettings, args, device=device, mixed_precision=args.precision,
                      num_workers=args.workers, augment=not args.no_augment)
    get_backbone(s.arch)  # an unknown --arch fails here, listing the registered backbones
    ckpt = None
    if not args.no_checkpoints:
        ckpt = args.checkpoint_dir or args.out.with_name(args.out.name + ".checkpoints")
    cbs = None
    if args.log:
        from ..architectures.training.tracking import tracking_callbacks

        cbs = tracking_callbacks(args.log, args.log_dir or args.out.with_name(args.out.name + ".logs"),
                                 config={k: str(v) for k, v in vars(s).items()})
    if args.shared_cpu and str(device).startswith("cpu"):
        from ..architectures.training.threads import CPUThreads

        cbs = (cbs or []) + [CPUThreads()]
    try:
        learn = train(args.dataset, args.out, s, checkpoint_dir=ckpt, resume=args.resume, quiet=args.quiet,
                      ddp_timeout=args.ddp_timeout, resume_with_changes=args.resume_with_changes, cbs=cbs)
    except LostRankError as err:
        if not distributed:
            raise
        # this rank's job is over, and tearing down a process group with a dead peer can abort
        # the interpreter at exit ("terminate called ..."): print the one line and leave now
        print(f"convml_tt train: error: {' '.join(str(err).split())}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)
    # the process group is gone by now (train tears down the one it set up): the launcher's rank
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if distributed and rank != 0:
        return 0  # rank 0 reports
    names = list(learn.recorder.metric_names[1:-1])
    last = learn.recorder.values[-1] if learn.recorder.values else []
    summary = ", ".join(f"{n} {v:.4f}" for n, v in zip(names, last) if v is not None)
    on = f"{world} processes (DDP, batch {world} x {s.batch_size})" if distributed else str(device)
    print(f"wrote {args.out} ({s.method}, {s.arch}, emb_dim {s.emb_dim}, {s.epochs} epochs on {on}"
          + (f"; {summary}" if summary else "") + ")")
    return 0


def _add_embed(sub) -> None:
    p = sub.add_parser(
        "embed",
        help="embed the tiles of a triplet dataset with a trained model (netCDF output)",
        description=(
            "Run the encoder in MODEL over the tiles of one stage of DATASET and write the "
            "embeddings (tile_id x emb_dim, with lat/lon/time/regime coordinates from the tile "
            "metadata) to a netCDF file. CUDA when available."
        ),
    )
    p.add_argument("model", type=Path, help="model file written by `convml_tt train`")
    p.add_argument("dataset", type=Path, help="triplet dataset folder (holding train/ and study/)")
    p.add_argument("--out", type=Path, required=True, help="embeddings netCDF file to write")
    p.add_argument("--stage", default="study", choices=["study", "train"], help="stage (default study)")
    p.add_argument("--tile-type", default="anchor", choices=["anchor", "neighbor", "distant", "all"],
                   help="tiles to embed; 'all' embeds the three of each triplet (default anchor)")
    p.add_argument("--batch-size", type=whole(1), default=64, help="tiles per forward pass (default 64)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    p.add_argument("--num-workers", type=whole(0), default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--skip-incomplete", action="store_true",
                   help="leave out triplets missing a file (default: refuse the stage, as train does)")
    add_plugin(p, "registers the model's backbone or head")
    add_common(p, data_root=False)
    p.set_defaults(func=_run_embed)


def _check_stage(dataset: Path, stage: str) -> None:
    """Refuse ``--stage`` of a dataset folder without tiles of that stage, naming the stage(s) it has."""
    from ..data.dataset.format import STAGES

    if not dataset.is_dir() or not (dataset / "train").is_dir() and not (dataset / "study").is_dir():
        return  # a stage folder itself, or no dataset: the reader's own message
    has = [s for s in STAGES if any((dataset / s).glob("*_anchor.png"))]
    if stage not in has and has:
        raise ValueError(f"dataset {str(dataset)!r} has no {stage!r} tiles; it has the {' and '.join(has)} "
                         f"stage{'s' if len(has) > 1 else ''}: use --stage {has[0]}")


def _run_embed(args) -> int:
    from .._io import check_writable_folder
    from ..interpretation.embeddings import get_embeddings, save_embeddings

    if args.out.is_dir():  # before the work, not after it
        raise ValueError(f"--out {str(args.out)!r} is a folder; give a file name such as embeddings.nc")
    check_writable_folder(args.out.parent, "the embeddings", "choose a writable --out")
    _check_stage(args.dataset, args.stage)
    da = get_embeddings(args.model, args.dataset, stage=args.stage, tile_type=args.tile_type,
                        batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                        num_workers=args.num_workers, skip_incomplete=args.skip_incomplete)
    save_embeddings(da, args.out)
    shape = " x ".join(f"{d}={n}" for d, n in da.sizes.items())
    print(f"wrote embeddings ({shape}) to {args.out}")
    return 0
