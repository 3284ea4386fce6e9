"""Model files: the encoder's weights and config in one ``torch.save`` file.

One file of plain types only (no pickled classes), read with
``torch.load(..., weights_only=True)``::

    {"format": "convml_tt.triplet_encoder", "format_version": 1,
     "config": {arch, n_input_channels, emb_dim, head, dropout, normalization:
                {kind, mean, std}, tile_pixels, pretrained, training_data_path,
                loss, convml_tt_version, recipe, channels},
     "state_dict": {...}}

``method`` is the training method (``{"name": "triplet", "sample":
"triplet"}``, or a view method with its hyper-parameters; absent in files
written before methods existed: triplet); only the encoder is stored,
whatever the method (:mod:`.methods`). ``recipe`` is the composite recipe of the training tiles (e.g.
``"truecolor"``, ``"C13"``, ``"C13+C14+C15"``) and ``channels`` what each
input channel holds (name, units, display stretch), both from the training
dataset's ``meta.yaml`` (None when it has none; absent in older files).

Epoch checkpoints (:mod:`.training.checkpoints`) have the same fields plus
``optimizer``, ``epoch`` (epochs completed) and ``fit`` (``n_epoch``);
:func:`load_model` reads both. Files are written atomically
(:func:`convml_tt._io.atomic_path`).
"""
from __future__ import annotations

import pickle
import re
import warnings

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from fastcore.foundation import L

from .. import __version__
from .._io import atomic_path, remove_temps_of, resolve_device
from .encoder import TripletEncoder

__all__ = [
    "MODEL_FORMAT",
    "CHECKPOINT_FORMAT",
    "FORMAT_VERSION",
    "save_model",
    "load_model",
    "read_model_file",
    "read_weights_file",
    "write_model_file",
]

MODEL_FORMAT = "convml_tt.triplet_encoder"
CHECKPOINT_FORMAT = "convml_tt.triplet_checkpoint"
FORMAT_VERSION = 1


#: first bytes of files that are not torch files, and what they are
_MAGIC = (
    ((b"CDF\x01", b"CDF\x02", b"CDF\x05"), "a netCDF file (embeddings, a map or a composite?)"),
    ((b"\x89HDF\r\n\x1a\n",), "a netCDF-4/HDF5 file (embeddings, a map or a composite?)"),
    ((b"\x89PNG\r\n\x1a\n",), "a PNG image"),
    ((b"\x1f\x8b",), "a gzip-compressed file"),
    ((b"%PDF",), "a PDF document"),
)


def _not_torch(head: bytes) -> str | None:
    """What a file that starts with ``head`` is when it cannot be a torch file
    (which is a zip archive or, from older torch, a pickle), else None."""
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04",
                                                                                b"\x05")):
        return None  # a zip archive or a pickle: torch.load(weights_only=True) decides
    for magics, name in _MAGIC:
        if head.startswith(magics):
            return name
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"neither a zip archive nor a pickle, as torch files are (it starts with bytes {head[:8].hex(' ')})"
    first = text.lstrip()[:1]
    return "a JSON text file" if first in "{[" and first else "a text file"


def read_weights_file(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with errors that name ``what`` and ``path``."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder, not a file")
    with open(path, "rb") as fh:
        kind = _not_torch(fh.read(64))
    if kind is not None:
        raise ValueError(f"{what} {str(path)!r} is not a convml_tt model file: it is {kind}; give the model file "
                         f"(.pt) that `convml_tt train` wrote")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's remarks on pickle protocols: the error below says it
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        if isinstance(err, pickle.UnpicklingError) and re.search(r"\bGLOBAL\b", str(err), re.IGNORECASE):
            # torch's own message suggests weights_only=False: that is exactly what is refused here
            raise ValueError(
                f"{what} {str(path)!r} is not a convml_tt model file: torch.load(weights_only=True) could not "
                f"read it (it holds pickled Python objects besides tensors and plain types). Model files hold "
                f"only tensors and plain types; files with pickled Python objects are refused, never unpickled."
            ) from None
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
        detail = ("its pickled data does not load" if isinstance(err, pickle.UnpicklingError)
                  else f"torch.load: {type(err).__name__}{': ' + first if first else ''}")
        raise ValueError(
            f"{what} {str(path)!r} is not a convml_tt model file: it is damaged or not a torch file ({detail}); "
            f"give the model file (.pt) that `convml_tt train` wrote"
        ) from None


def read_model_file(path: str | Path, kinds: Sequence[str] = (MODEL_FORMAT, CHECKPOINT_FORMAT)) -> dict:
    """Read and check a model file or checkpoint; return its plain dict (tensors on CPU)."""
    path = Path(path)
    obj = read_weights_file(path, "model file")
    if not isinstance(obj, dict) or obj.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"{str(path)!r} is not a convml_tt model file: expected a dict with format "
            f"{MODEL_FORMAT!r} (written by convml_tt's save_model), found {keys}"
        )
    if obj["format"] not in kinds:
        raise ValueError(f"{str(path)!r} is a {obj['format']!r} file; expected one of {list(kinds)}")
    if int(obj.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {obj.get('format_version')}, newer than "
                         f"this convml_tt ({__version__}) reads ({FORMAT_VERSION}); upgrade convml_tt")
    cfg = obj.get("config")
    missing = [k for k in ("arch", "n_input_channels", "emb_dim", "head") if not isinstance(cfg, dict) or k not in cfg]
    if missing or not isinstance(obj.get("state_dict"), dict):
        raise ValueError(f"{str(path)!r} is not a complete convml_tt model file: config lacks {missing} "
                         f"or the state_dict is missing")
    # files written before the rename call the training tile side in pixels ``tile_size``
    for d in (cfg, obj.get("training")):
        if isinstance(d, dict) and "tile_size" in d and "tile_pixels" not in d:
            d["tile_pixels"] = d.pop("tile_size")
    return obj


def _encoder_from_file_dict(obj: dict, path: Path) -> TripletEncoder:
    cfg = obj["config"]
    try:
        enc = TripletEncoder.from_config(cfg)
    except ValueError as err:
        raise ValueError(f"model file {str(path)!r} has an unusable config: {err}") from None
    try:
        enc.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[0]
        raise ValueError(
            f"model file {str(path)!r}: its weights do not fit its config (arch={cfg['arch']}, "
            f"n_input_channels={cfg['n_input_channels']}, emb_dim={cfg['emb_dim']}, "
            f"head={cfg['head']}): {detail}"
        ) from None
    return enc


def _check_expected(cfg: dict, path: Path, **expected: Any) -> None:
    bad = [f"{k}={cfg.get(k)!r} (expected {v!r})" for k, v in expected.items()
           if v is not None and cfg.get(k) != v]
    if bad:
        raise ValueError(f"model file {str(path)!r} does not match: " + ", ".join(bad))


def plain(obj: Any) -> Any:
    """``obj`` converted, recursively, to types ``torch.load(weights_only=True)`` accepts
    (tensors on CPU, plain numbers, strings, lists, dicts; anything else as its ``str``)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {(k if isinstance(k, (str, int)) else str(k)): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, L)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def encoder_of(learn_or_model: Any) -> TripletEncoder:
    """The :class:`TripletEncoder` of a fastai Learner, a TripletModel (compiled or not) or an encoder."""
    m = getattr(learn_or_model, "model", learn_or_model)
    if isinstance(m, torch.nn.parallel.DistributedDataParallel):  # during a data-parallel fit
        m = m.module
    m = getattr(m, "encoder", m)
    m = getattr(m, "_orig_mod", m)  # torch.compile wrapper
    if not isinstance(m, TripletEncoder):
        raise TypeError(f"expected a fastai Learner, TripletModel or TripletEncoder, got {type(learn_or_model).__name__}")
    return m


def write_model_file(obj: dict, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically (temporary file + rename); the
    temporary files a killed earlier write of ``path`` left are removed first."""
    remove_temps_of(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def file_dict(enc: TripletEncoder, fmt: str) -> dict:
    """The plain dict of a model file (``fmt`` :data:`MODEL_FORMAT`) or checkpoint of ``enc``."""
    sd = {k: v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}
    return {"format": fmt, "format_version": FORMAT_VERSION, "config": plain(enc.config), "state_dict": sd}


def save_model(learn_or_model: Any, path: str | Path, **extra_config: Any) -> Path:
    """Write the encoder's weights and config to ``path`` (atomic: temp file + rename).

    ``learn_or_model`` is a fastai Learner from
    :func:`~convml_tt.architectures.training.learner.make_learner`, a
    :class:`~convml_tt.architectures.encoder.TripletModel` or a :class:`TripletEncoder`. ``extra_config``
    (plain values) is added to the stored config.
    """
    enc = encoder_of(learn_or_model)
    obj = file_dict(enc, MODEL_FORMAT)
    obj["config"].update(plain(extra_config))
    return write_model_file(obj, path)


def load_model(
    path: str | Path,
    device: str | torch.device | None = None,
    arch: str | None = None,
    emb_dim: int | None = None,
    n_input_channels: int | None = None,
) -> TripletEncoder:
    """Rebuild the encoder from a model file (or checkpoint) without a Learner.

    Reads with ``torch.load(weights_only=True)``: files holding pickled
    Python objects are refused. ``arch``/``emb_dim``/``n_input_channels``,
    when given, must match the file. Returns a :class:`TripletEncoder` in
    eval mode on ``device`` (``None``: CUDA when available), with ``.config``.
    """
    path = Path(path)
    obj = read_model_file(path)
    _check_expected(obj["config"], path, arch=arch, emb_dim=emb_dim, n_input_channels=n_input_channels)
    enc = _encoder_from_file_dict(obj, path)
    return enc.to(resolve_device(device)).eval()
