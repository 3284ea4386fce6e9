"""Packaging: the library declares version ranges; constraints.txt pins what CI installs."""
from __future__ import annotations

import ast
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _setup_lists() -> dict[str, list[str]]:
    """INSTALL_REQUIRES and EXTRAS as written in setup.py (read, not executed)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "INSTALL_REQUIRES":
                out["install"] = ast.literal_eval(node.value)
            elif name == "EXTRAS":
                for k, v in ast.literal_eval(node.value).items():
                    out[k] = v
    return out


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
            pins[req.name.lower().replace("_", "-")] = spec.version
    return pins


def test_requirements_are_ranges_that_the_pins_and_this_environment_satisfy():
    pins = _pins()
    lists = _setup_lists()
    assert lists["install"] and "test" in lists
    for group, reqs in lists.items():
        for text in reqs:
            req = Requirement(text)
            ops = {s.operator for s in req.specifier}
            assert "==" not in ops and "~=" not in ops, f"setup.py {group}: {text!r} pins a version"
            assert ">=" in ops, f"setup.py {group}: {text!r} has no lower bound"
            name = req.name.lower().replace("_", "-")
            assert name in pins, f"constraints.txt does not pin {req.name} (setup.py {group})"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"the pin {req.name}=={pins[name]} is outside setup.py's {text!r}")
            if group == "install":
                assert req.specifier.contains(version(req.name), prereleases=True), (
                    f"installed {req.name} {version(req.name)} is outside setup.py's {text!r}")
