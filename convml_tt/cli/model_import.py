"""``convml_tt model import``: weights trained elsewhere as a model file of this library."""
from __future__ import annotations

from pathlib import Path


def _add_model(sub) -> None:
    p = sub.add_parser("model", help="model files: import weights trained with upstream convml_tt",
                       description="Work on model files. `model import` converts weights trained with "
                                   "upstream convml_tt (github.com/leifdenby/convml_tt) into a model file "
                                   "that `embed` and `map` use.")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    imp = msub.add_parser(
        "import", help="upstream convml_tt weights (fastai v1 ResNet, Lightning checkpoint) -> model file",
        description="Read a ResNet encoder trained with upstream convml_tt: the fastai v1 layout "
                    "(Denby 2020; a state_dict of nn.Sequential(body, head), or learn.save's {'model': ...}) "
                    "or a pytorch-lightning checkpoint of TripletTrainerModel (.ckpt), with "
                    "torch.load(weights_only=True), and write a model file (method triplet, ImageNet "
                    "normalisation as upstream). Weights that do not fit are refused, naming the keys.")
    imp.add_argument("weights", type=Path, metavar="FILE", help="the upstream weights (.pth, .pt, .ckpt)")
    imp.add_argument("--out", type=Path, required=True, metavar="MODEL", help="model file to write")
    imp.add_argument("--layout", choices=["fastai1", "lightning"], default=None,
                     help="the file's layout (default: recognised from its keys)")
    imp.add_argument("--tile-pixels", "--tile-size", dest="tile_pixels", type=int, default=256, metavar="PIXELS",
                     help="the tile size the model was trained on (default 256, upstream's)")
    imp.set_defaults(func=_run_import)


def _run_import(args) -> int:
    from .._io import check_writable_folder
    from ..architectures.model_file import read_model_file
    from ..architectures.upstream import import_upstream

    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give a file name such as model.pt")
    check_writable_folder(args.out.parent, "the model file", "choose a writable --out")
    out = import_upstream(args.weights, args.out, layout=args.layout, tile_pixels=args.tile_pixels)
    cfg = read_model_file(out)["config"]
    print(f"wrote {out} ({cfg['arch']}, {cfg['head']} head, emb_dim {cfg['emb_dim']}, "
          f"{cfg['n_input_channels']} channels; from {cfg['imported_from']})")
    return 0
