"""What is known about a tile beyond its pixels: the labeler protocol.

A *labeler* is handed each tile a sampler draws, with the source files of
its scene, and returns the facts it knows about that tile as plain values
(numbers and strings). They are stored in the tile's entry of the triplet
metadata (``{id:05d}_meta.yaml``) and become coordinates of the tile
embeddings (:func:`convml_tt.interpretation.get_embeddings`).

Samplers and the dataset writer take an optional labeler (``labeler=None``:
tiles carry place and time only) and know nothing of where the labels come
from. Implementations:

- :class:`convml_tt.data.synthetic.RegimeLabeler` (registered as
  ``"synthetic"``): the true regime of synthetic scenes (``regime``,
  ``regime_name``, ``regime_fraction``), read from the label map written
  beside each scene;
- :class:`convml_tt.data.human_labels.HumanLabeler` (registered as
  ``"human"``, ``--labels human:FILE``): human classifications (plain
  boxes, Zooniverse, C3ONTEXT) at the tile's centre and scan time;
- anything with a ``label(tile, source_paths)`` method, e.g. a product that
  classifies a tile, or :class:`ChainLabeler` of several.

Named labelers (CLI ``--labels NAME``) are classes in :data:`LABELERS`
(:func:`register_labeler`, entry-point group ``convml_tt.labelers``),
made by :func:`make_labeler` from a spec ``NAME`` (no arguments) or
``NAME:ARG`` (one string argument, for a class whose ``argument``
attribute names it, e.g. ``human:labels.csv``).

A labeler must be picklable (the triplet writer sends it to its worker
processes) and deterministic (a dataset must not depend on the number of
workers).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from .tiles import Tile

from ..registry import Registry

__all__ = ["Labeler", "ChainLabeler", "LABELERS", "check_labels", "check_labeler_sources", "labeler_spec",
           "make_labeler", "register_labeler"]


@runtime_checkable
class Labeler(Protocol):
    """Protocol of tile labelers.

    ``label(tile, source_paths)`` gets a :class:`~convml_tt.data.tiles.Tile`
    (centre, size, pixels) and the paths of the source files of the tile's
    scene; it returns a mapping of metadata keys to plain values (``int``,
    ``float``, ``str``, ``bool``), or ``None`` when it knows nothing about
    this tile (e.g. a real scene without a label map). Keys must not clash
    with the keys the writer sets itself (:data:`RESERVED_KEYS`). An optional
    ``regimes`` attribute (a sequence of names) names the integer values of
    its ``regime`` key; regime maps record it. An optional
    ``check_sources(source_paths, what)`` method refuses (``ValueError``) the
    scenes it cannot label at all (e.g. the synthetic labeler on real
    scenes), and an optional ``check_scenes(scenes, what)`` (``scenes``: the
    source paths of every scene) refuses a set of scenes of which it could
    label none (e.g. human labels of other days):
    :func:`check_labeler_sources` calls them before any tile is cut.
    """

    def label(self, tile: "Tile", source_paths: Sequence[str]) -> Mapping[str, Any] | None:
        ...


#: keys of a tile's metadata entry that the triplet writer owns
RESERVED_KEYS = ("lat", "lon", "time", "satellite", "composite", "source_files")


class ChainLabeler:
    """Several labelers in turn; later ones may add keys but not overwrite
    earlier ones' (a clash is an error naming both)."""

    def __init__(self, *labelers: Labeler) -> None:
        for lab in labelers:
            if not isinstance(lab, Labeler):
                raise TypeError(f"{lab!r} is not a labeler: it needs a label(tile, source_paths) method")
        self.labelers = tuple(labelers)

    def check_sources(self, source_paths: Sequence[str], what: str) -> None:
        """Each labeler's ``check_sources`` (those that have one)."""
        for lab in self.labelers:
            if callable(getattr(lab, "check_sources", None)):
                lab.check_sources(source_paths, what)

    def check_scenes(self, scenes: Sequence[Sequence[str]], what: str) -> None:
        """Each labeler's ``check_scenes`` (those that have one)."""
        for lab in self.labelers:
            if callable(getattr(lab, "check_scenes", None)):
                lab.check_scenes(scenes, what)

    def label(self, tile: "Tile", source_paths: Sequence[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        owner: dict[str, Any] = {}
        for lab in self.labelers:
            got = lab.label(tile, source_paths)
            for k, v in (got or {}).items():
                if k in out:
                    raise ValueError(f"labelers {owner[k]!r} and {lab!r} both set {k!r}")
                out[k], owner[k] = v, lab
        return out or None


def check_labels(labels: Mapping[str, Any] | None, labeler: Any) -> dict[str, Any]:
    """Validate what a labeler returned: a dict of plain values whose keys do
    not clash with the writer's own (raises ``ValueError`` naming the labeler)."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ValueError(f"labeler {labeler!r} returned a {type(labels).__name__}; it must return a "
                         f"mapping of metadata keys to plain values, or None")
    out = {}
    for k, v in labels.items():
        if not isinstance(k, str) or k in RESERVED_KEYS:
            raise ValueError(f"labeler {labeler!r} returned the key {k!r}; keys must be strings other "
                             f"than {RESERVED_KEYS}")
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()  # numpy scalars
        if not isinstance(v, (int, float, str, bool)) and v is not None:
            raise ValueError(f"labeler {labeler!r} returned {k}={v!r} ({type(v).__name__}); values must "
                             f"be int, float, str or bool")
        out[k] = v
    return out


def check_labeler_sources(labeler: Any, composites: Sequence[Any]) -> None:
    """Refuse, before any work, composites whose scenes ``labeler`` cannot
    label (its ``check_sources(source_paths, what)`` raises a one-line
    ``ValueError``, e.g. ``--labels synthetic`` on real scenes) and a set of
    scenes it could label none of (its ``check_scenes(scenes, what)``, e.g.
    human labels of other days); nothing for ``None`` or a labeler without
    those methods. ``composites``: paths of composite files (their
    ``source_paths`` attribute names the scene's files)."""
    check = getattr(labeler, "check_sources", None)
    check_all = getattr(labeler, "check_scenes", None)
    if labeler is None or not (callable(check) or callable(check_all)):
        return
    from .composites.reader import open_composite, release_composite

    paths = list(dict.fromkeys(str(p) for p in composites))
    scenes = []
    for path in paths:
        reader = open_composite(path)
        try:
            scenes.append([p for p in reader.source_paths if p])
        finally:
            release_composite(path)
        if callable(check):
            check(scenes[-1], f"composite {path!r}")
    if callable(check_all) and paths:
        check_all(scenes, f"the {len(paths)} composite(s) {paths[0]!r}" + (" ..." if len(paths) > 1 else ""))


def _labeler_entry(name: str, cls: Any) -> type:
    if not isinstance(cls, type) or not callable(getattr(cls, "label", None)):
        raise TypeError(f"labeler {name!r} must be a class with a label(tile, source_paths) method, made with no "
                        f"arguments (or one, named by its `argument` attribute); got {cls!r}")
    return cls


#: named labelers: name -> a class with a ``label(tile, source_paths)`` method, made with no arguments (or,
#: when its ``argument`` attribute names one, e.g. ``"FILE"``, with that one string: ``--labels NAME:ARG``)
LABELERS = Registry("labelers", "labeler", "convml_tt.data.labels.register_labeler(name, cls)", _labeler_entry,
                    builtins=("convml_tt.data.synthetic", "convml_tt.data.human_labels"))


def register_labeler(name: str, cls: type, overwrite: bool = False) -> type:
    """Register the labeler class ``cls`` (made with no arguments, or with
    the one string its ``argument`` attribute names; picklable: a
    module-level class) as ``name`` (CLI ``--labels NAME`` / ``NAME:ARG``); returns it."""
    return LABELERS.register(name, cls, overwrite=overwrite)


def labeler_spec(spec: str) -> tuple[str, str | None]:
    """``(registered name, argument or None)`` of a labeler spec ``NAME`` or
    ``NAME:ARG`` (the argument is everything after the first colon); a
    one-line ValueError for an unknown name, a missing argument or one given
    to a labeler that takes none."""
    name, colon, arg = str(spec).partition(":")
    name = LABELERS.canonical(name)
    wants = getattr(LABELERS.get(name), "argument", None)
    if wants and not (colon and arg.strip()):
        raise ValueError(f"labeler {name!r} needs {wants}: give --labels {name}:{wants}")
    if colon and not wants:
        raise ValueError(f"labeler {name!r} takes no argument (got {spec!r}); give --labels {name}")
    return name, (arg if colon else None)


def make_labeler(spec: str | None) -> Labeler | None:
    """A new labeler of the registered name of ``spec`` (``NAME``, or
    ``NAME:ARG`` for a labeler taking an argument, see :func:`labeler_spec`;
    None or ``"none"``: None)."""
    if spec is None or spec == "none":
        return None
    name, arg = labeler_spec(spec)
    args = () if arg is None else (arg,)
    return LABELERS.call(name, LABELERS.get(name), *args, what="its class", returns=Labeler, returns_name="labeler")
