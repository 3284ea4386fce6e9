"""The code of another commit beside this checkout's, for the benches' ``--compare-commit``."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def old_checkout(ref: str, folder: Path) -> Iterator[Path]:
    """Commit ``ref`` checked out (a detached git worktree) at ``folder``, removed afterwards."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), ref], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False)


def this_code() -> str:
    """This checkout's commit (short), ``+`` when tracked files have changes."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head + ("+" if dirty else "")


def same_attrs(a: dict, b: dict) -> bool:
    """Attribute dicts equal, array values compared element by element."""
    import numpy as np

    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
