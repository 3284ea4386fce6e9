"""Optional packages: importing one, or one line naming the extra that installs it."""
from __future__ import annotations

import importlib
import warnings
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError, RuntimeError):
    """An optional package is not installed. A RuntimeError too, so the CLI
    prints it as one line (no traceback)."""


def require(module: str, extra: str, what: str, package: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError`: "``what`` needs
    ``package``: pip install 'convml_tt[extra]'". Import-time warnings of the
    package (numba's, tensorboard's notices) are not the caller's concern."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(f"{what} needs {package or module} (not importable here: {err}); install it with "
                                f"pip install 'convml_tt[{extra}]' (or pip install {package or module})") from None
