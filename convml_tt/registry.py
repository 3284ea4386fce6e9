"""One generic registry of named parts, and the plugins that add to it.

A :class:`Registry` holds the entries of one *kind* (``"recipes"``,
``"backbones"``, ``"methods"``, ``"heads"``, ``"losses"``, ``"samplers"``,
``"labelers"``, ``"featurizers"``, ``"plots"``, ``"fields"``; :data:`HOMES` says which
module owns each). Names compare case-insensitively, an entry may have
aliases, a taken name is refused unless ``overwrite=True``, and an unknown
name is a ``ValueError`` of one line that lists what exists::

    unknown backbone 'x'; registered: resnet18, resnet34, resnet50 (add one with
    convml_tt.architectures.register_backbone(name, factory) or a plugin)

Plugins come two ways:

* **entry points**, as xarray finds its backends: a package declaring, e.g.
  ``entry_points={"convml_tt.recipes": ["my_ir = my_pkg.recipes:MY_IR"]}``
  is found on the first lookup or listing of that kind in every process
  (the CLI, its worker processes, dask workers), with no flag. An entry
  point names an entry (registered under the entry point's name), or a
  module or a function of no arguments that registers entries itself
  (imported / called). A broken one (an import error, an object of the
  wrong type, a taken name) is one warning naming its package, and is left
  out: it never breaks a command.
* **files and modules**: :func:`load_plugin` (CLI ``--plugin FILE|MODULE``)
  imports a ``.py`` file or a module by name once per process; any fault
  in it (a syntax error, an exception or ``sys.exit`` while importing, a
  file that is not Python) is a :class:`PluginError` of one line naming the
  file. :func:`loaded_plugins` lists what was loaded, so that
  :mod:`convml_tt.compute` loads the same plugins in its worker processes
  before their first task.

Each entry remembers where it came from (:meth:`Registry.origin`), so a
fault found later (a backbone factory returning the wrong type, a recipe
whose ``combine`` returns other planes than it declares) names the plugin.

This module imports nothing heavy; a registry's entries are registered by
the module that owns it (torch things in ``architectures``).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Registry", "PluginError", "HOMES", "registry", "load_plugin", "load_plugins", "loaded_plugins",
           "current_plugin", "check_signature"]

log = logging.getLogger(__name__)

#: the module owning each kind's registry (imported by :func:`registry`)
HOMES = {
    "sources": "convml_tt.data.sources",
    "recipes": "convml_tt.data.composites.recipes",
    "labelers": "convml_tt.data.labels",
    "samplers": "convml_tt.data.sampling.base",
    "backbones": "convml_tt.architectures.backbones",
    "methods": "convml_tt.architectures.methods",
    "heads": "convml_tt.architectures.heads",
    "losses": "convml_tt.architectures.losses",
    "featurizers": "convml_tt.interpretation.featurizers",
    "plots": "convml_tt.interpretation.plots.kinds",
    "fields": "convml_tt.data.fields.base",
}
_REGISTRIES: dict[str, "Registry"] = {}
#: entry points already warned about, in this process and the processes it starts (environment)
_WARNED_ENV = "CONVML_TT_WARNED_PLUGINS"
_MISSING = object()


class PluginError(ValueError):
    """A fault of a plugin (a file, module or package adding entries), in one
    line naming it; the CLI prints it and exits with status 2."""


def registry(kind: str) -> "Registry":
    """The registry of ``kind`` (e.g. ``"backbones"``), importing the module that owns it."""
    if kind not in _REGISTRIES:
        if kind not in HOMES:
            raise ValueError(f"unknown registry kind {kind!r}; kinds: {', '.join(HOMES)}")
        importlib.import_module(HOMES[kind])
    return _REGISTRIES[kind]


class Registry:
    """Named entries of one kind.

    Parameters
    ----------
    kind:
        plural name, e.g. ``"backbones"``; entry-point group ``convml_tt.<kind>``.
    noun:
        one entry in messages, e.g. ``"backbone"``.
    how:
        how to add one, for messages, e.g. ``"convml_tt.architectures.register_backbone(name, factory)"``.
    make:
        ``make(name, obj) -> entry``: checks an object given to :meth:`register`
        (or named by an entry point) and makes the stored entry of it; raises
        ``TypeError`` when ``obj`` is not one (default: stored as given).
    builtins:
        modules imported on first use that register the built-in entries
        (when they are not defined in the module owning the registry).
    """

    def __init__(self, kind: str, noun: str, how: str = "", make: Callable[[str, Any], Any] | None = None,
                 builtins: Iterable[str] = ()) -> None:
        self.kind, self.noun, self.how = kind, noun, how
        self.group = f"convml_tt.{kind}"
        self._make = make or (lambda name, obj: obj)
        self._builtins = tuple(builtins)
        self._entries: dict[str, Any] = {}
        self._given: dict[str, Any] = {}  # name -> the object it was made from
        self._origins: dict[str, str | None] = {}
        self._aliases: dict[str, str] = {}  # lower-case alias -> name
        self._builtins_done = not self._builtins
        self._discovered = False
        _REGISTRIES[kind] = self

    # --- lookups -------------------------------------------------------------
    def _find(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        low = name.strip().lower()
        low = self._aliases.get(low, low).lower()
        return next((n for n in self._entries if n.lower() == low), None)

    def _load_builtins(self) -> None:
        if not self._builtins_done:
            self._builtins_done = True
            for module in self._builtins:
                importlib.import_module(module)

    def _ready(self) -> None:
        """The built-in entries, then the entry points (once per process)."""
        self._load_builtins()
        if not self._discovered:
            self._discovered = True
            _discover(self)

    def canonical(self, name: Any) -> str:
        """The registered name of ``name`` (any case, or an alias); a
        ``ValueError`` listing the registered names if there is none."""
        self._ready()
        found = self._find(name)
        if found is None:
            raise self.unknown(name)
        return found

    def get(self, name: Any) -> Any:
        """The entry of ``name`` (any case, or an alias); a ``ValueError``
        listing the registered names if there is none."""
        return self._entries[self.canonical(name)]

    def unknown(self, name: Any, also: str = "") -> ValueError:
        """The error of a name that is not registered (``also``: other forms
        the caller accepts, added to the message)."""
        how = f"add one with {self.how} or a plugin" if self.how else "add one with a plugin"
        return ValueError(f"unknown {self.noun} {name!r}; registered: {', '.join(self.names()) or 'none'} "
                          f"({how}){'; ' + also if also else ''}")

    def names(self) -> list[str]:
        """The registered names, in the order they were registered."""
        self._ready()
        return list(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, entry)`` pairs, in the order they were registered."""
        self._ready()
        return list(self._entries.items())

    def origin(self, name: Any) -> str | None:
        """Where the entry of ``name`` came from (``"plugin FILE"``, ``"package
        P (entry point ...)"``), or None for the library's own and a caller's."""
        found = self._find(name)
        return None if found is None else self._origins.get(found)

    def name_of(self, entry: Any) -> str | None:
        """The name ``entry`` (or the object it was made from) is registered under, or None."""
        self._ready()
        return next((n for n, e in self._entries.items() if e is entry or self._given[n] is entry), None)

    def call(self, name: str, fn: Callable, *args: Any, what: str = "its factory", returns: type | None = None,
             returns_name: str = "") -> Any:
        """``fn(*args)`` for the entry ``name`` (e.g. its factory), checked:
        when the entry came from a plugin, an exception in ``fn``, or a result
        that is not a ``returns``, is a :class:`PluginError` of one line naming
        the plugin; for the library's own entries and a caller's, the
        exception as it is or a ``TypeError``."""
        origin = self.origin(name)
        try:
            out = fn(*args)
        except Exception as err:
            if origin is None:
                raise
            raise PluginError(f"{origin}: {self.noun} {name!r}: {what} raised {_describe(err)}") from None
        if returns is not None and not isinstance(out, returns):
            text = (f"{self.noun} {name!r}: {what} returned a {type(out).__name__}, not a "
                    f"{returns_name or returns.__name__}")
            raise PluginError(f"{origin}: {text}") if origin else TypeError(text)
        return out

    def __contains__(self, name: Any) -> bool:
        self._ready()
        return self._find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    # --- changes -------------------------------------------------------------
    def register(self, name: str, obj: Any = _MISSING, *, overwrite: bool = False, aliases: Iterable[str] = ()):
        """Register ``obj`` as ``name`` (and ``aliases``); returns the stored
        entry. Without ``obj``, a decorator registering what it decorates
        (and returning it unchanged)::

            @HEADS.register("mine")
            def mine(n_features, emb_dim, dropout): ...

        A name (or alias) that is taken, in any case, is a ``ValueError``
        unless ``overwrite``.
        """
        if obj is _MISSING:
            def decorate(thing: Any) -> Any:
                self.register(name, thing, overwrite=overwrite, aliases=aliases)
                return thing
            return decorate
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"{self.noun} name {name!r} must be a non-empty string without surrounding spaces")
        self._load_builtins()
        entry = self._make(name, obj)
        aliases = [str(a) for a in aliases]
        for key in [name, *aliases]:
            taken = self._find(key)
            if taken is not None and not overwrite:
                raise ValueError(f"{self.noun} {key!r} is already registered (registered: "
                                 f"{', '.join(self._entries)}); pick another name or pass overwrite=True "
                                 f"to replace it")
            if key.lower() in self._aliases:
                del self._aliases[key.lower()]
            elif taken is not None:  # replaced: its aliases name the new entry
                aliases += [a for a, n in self._aliases.items() if n == taken and a not in aliases]
                self.unregister(taken)
        self._entries[name], self._given[name] = entry, obj
        self._origins[name] = current_plugin()
        for a in aliases:
            self._aliases[a.lower()] = name
        return entry

    def add_alias(self, alias: str, name: str) -> None:
        """Another name of the registered ``name`` (refused when taken)."""
        target = self._find(name)
        if target is None:
            raise self.unknown(name)
        if self._find(alias) is not None:
            raise ValueError(f"{self.noun} {alias!r} is already registered; pick another alias")
        self._aliases[alias.lower()] = target

    def unregister(self, name: str) -> Any:
        """Remove ``name`` and its aliases; returns its entry (None when it was not registered)."""
        found = self._find(name)
        if found is None:
            return None
        self._aliases = {a: n for a, n in self._aliases.items() if n != found}
        self._given.pop(found)
        self._origins.pop(found)
        return self._entries.pop(found)

    @contextlib.contextmanager
    def scoped(self) -> Iterator["Registry"]:
        """Undo every change made to the registry inside the block (tests)."""
        self._ready()
        saved = (dict(self._entries), dict(self._given), dict(self._origins), dict(self._aliases))
        try:
            yield self
        finally:
            for mine, old in zip((self._entries, self._given, self._origins, self._aliases), saved):
                mine.clear()
                mine.update(old)


def check_signature(obj: Any, args: tuple, what: str) -> None:
    """A ``TypeError`` when ``obj`` cannot be called as ``what`` (with ``args``);
    callables whose signature Python cannot tell pass."""
    if not callable(obj):
        raise TypeError(f"{what}: got a {type(obj).__name__}, which is not callable")
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args)
    except TypeError:
        raise TypeError(f"{what}: {getattr(obj, '__name__', obj)!s}{sig} cannot be called so") from None


# -----------------------------------------------------------------------------
# entry points
# -----------------------------------------------------------------------------
def _entry_points(group: str) -> list:
    from importlib.metadata import entry_points

    seen, out = set(), []
    for ep in entry_points(group=group):
        if (ep.name, ep.value) not in seen:  # a package found twice on the path
            seen.add((ep.name, ep.value))
            out.append(ep)
    return out


def _discover(reg: Registry) -> None:
    for ep in _entry_points(reg.group):
        dist = getattr(ep, "dist", None)
        package = getattr(dist, "name", None) or ep.value.split(".")[0].split(":")[0]
        where = f"package {package!r} (entry point {ep.name} = {ep.value} in group {reg.group})"
        try:
            with _importing(where):
                _adopt(reg, ep.name, ep.load())
        except Exception as err:  # a broken plugin is left out, never a broken command
            _warn_once(f"{ep.group}:{ep.name}={ep.value}", f"plugin {where} is left out: {_describe(err)}")
        except SystemExit as err:
            _warn_once(f"{ep.group}:{ep.name}={ep.value}", f"plugin {where} is left out: it called "
                       f"sys.exit({err.code!r}) while being imported")


def _adopt(reg: Registry, name: str, obj: Any) -> None:
    """Register what an entry point named: an entry (as ``name``), or nothing
    for a module or a function of no arguments that registers its own."""
    if inspect.ismodule(obj):
        return
    found = reg._find(name)
    if found is not None and (reg._given[found] is obj or reg._entries[found] is obj):
        return  # its module registered it on import
    try:
        reg.register(name, obj)
    except TypeError:
        try:
            inspect.signature(obj).bind()
        except (TypeError, ValueError):
            raise TypeError(f"{obj!r} is neither a {reg.noun} nor a module or function (of no arguments) "
                            f"that registers some") from None
        obj()


def _warn_once(key: str, message: str) -> None:
    warned = os.environ.get(_WARNED_ENV, "").split("\n")
    if key in warned:
        log.debug("%s", message)
        return
    os.environ[_WARNED_ENV] = "\n".join([w for w in warned if w] + [key])
    log.warning("%s", message)


# -----------------------------------------------------------------------------
# plugin files and modules
# -----------------------------------------------------------------------------
_PLUGINS: dict[str, ModuleType] = {}  # what load_plugin was given (resolved) -> module
_IMPORTING: list[str] = []  # the plugins being imported now (innermost last)


@contextlib.contextmanager
def _importing(where: str) -> Iterator[None]:
    _IMPORTING.append(where)
    try:
        yield
    finally:
        _IMPORTING.pop()


def current_plugin() -> str | None:
    """The plugin being imported now (``"plugin FILE"`` or ``"package P
    (entry point ...)"``), or None."""
    return _IMPORTING[-1] if _IMPORTING else None


def _describe(err: BaseException, path: str | None = None) -> str:
    """``err`` in one line, with the line of ``path`` where it was raised."""
    if isinstance(err, SyntaxError):
        where = f" of {err.filename}" if err.filename and err.filename != path else ""
        return f"syntax error at line {err.lineno}{where}: {err.msg}"
    at = ""
    if path is not None:
        lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == path]
        at = f" at line {lines[-1]}" if lines else ""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}{at}" + (f": {text}" if text else "")


def load_plugin(module: str | os.PathLike) -> ModuleType:
    """Import a user's ``module`` (a ``.py`` file, or a module name on
    ``sys.path``) so that what it registers can be used; returns the module.
    Loading the same plugin again does nothing (CLI: ``--plugin``).

    Raises :class:`PluginError` (one line naming the file) for a file that
    does not exist or is not Python, a module that cannot be found, and any
    fault while importing it (a syntax error, an exception, ``sys.exit``).
    """
    text = os.fspath(module)
    path = Path(text)
    is_file = text.endswith(".py") or os.sep in text or path.exists()
    key = str(path.resolve()) if is_file else text
    if key in _PLUGINS:
        return _PLUGINS[key]
    if is_file:
        if not path.is_file():
            raise PluginError(f"plugin file {text!r} " + ("is a folder" if path.is_dir() else "does not exist")
                              + ": give a .py file or a module name")
        if path.suffix != ".py":
            raise PluginError(f"plugin file {text!r} is not a Python file: give a .py file (or a module name) "
                              f"that registers recipes, backbones, ... when imported")
        name = f"convml_tt_plugin_{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, key)
        where, mod = key, importlib.util.module_from_spec(spec)
        sys.modules[name] = mod

        def run() -> ModuleType:
            spec.loader.exec_module(mod)
            return mod
    else:
        name = text
        try:
            spec = importlib.util.find_spec(text)
        except Exception as err:  # a parent package that is missing or fails
            raise PluginError(f"plugin {text!r} could not be imported ({_describe(err)}); give a module "
                              f"name on sys.path or the path of a .py file") from None
        if spec is None:
            raise PluginError(f"plugin {text!r} could not be imported (no module named {text!r} on sys.path); "
                              f"give a module name on sys.path or the path of a .py file")
        where = spec.origin or text

        def run() -> ModuleType:
            return importlib.import_module(text)
    try:
        with _importing(f"plugin {where}"):
            mod = run()
    except KeyboardInterrupt:
        sys.modules.pop(name, None)
        raise
    except SystemExit as err:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {where}: it called sys.exit({err.code!r}) while being imported; a plugin "
                          f"only defines and registers things") from None
    except BaseException as err:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {where}: {_describe(err, where)}") from None
    _PLUGINS[key] = mod
    return mod


def load_plugins(modules: Iterable[str | os.PathLike]) -> None:
    """:func:`load_plugin` of each, in order."""
    for m in modules:
        load_plugin(m)


def loaded_plugins() -> tuple[str, ...]:
    """The plugins :func:`load_plugin` loaded in this process (resolved file
    paths and module names, in order): what a worker process loads first."""
    return tuple(_PLUGINS)
