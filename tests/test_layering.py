"""The packages' layering: so100_common at the bottom; so100_driver, fpo_sim and fpo_policy on it.

Read from the source (every ``import`` and ``from ... import`` of every module, including those
inside functions), not from what happens to be imported at run time:

- ``so100_common`` imports none of the other three;
- ``so100_driver``, ``fpo_sim`` and ``fpo_policy`` import each other not at all, with one
  exception allowed by name below (none today).

Tests (``test/``) are not package code and may combine packages; launch-level references (which
executable of which package a bringup starts) are names, not imports, and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_PACKAGES = ("so100_common", "so100_driver", "fpo_sim", "fpo_policy")

# package -> the packages of this workspace it may import.
ALLOWED: dict[str, set[str]] = {
    "so100_common": set(),
    "so100_driver": {"so100_common"},
    "fpo_sim": {"so100_common"},
    "fpo_policy": {"so100_common"},
}


def imported_top_levels(source: str) -> set[str]:
    """Top-level package names that a module's source imports, anywhere in it (absolute imports)."""
    tops = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.split(".")[0])
    return tops


def forbidden_imports(package: str) -> list[str]:
    """``module: imported package`` for each import of a workspace package ``package`` may not use."""
    found = []
    for source in sorted((ROOT / "src" / package / package).rglob("*.py")):
        tops = imported_top_levels(source.read_text())
        for top in sorted((tops & set(PYTHON_PACKAGES)) - ALLOWED[package] - {package}):
            found.append(f"{source.relative_to(ROOT)}: {top}")
    return found


@pytest.mark.parametrize("package", PYTHON_PACKAGES)
def test_package_imports_only_what_its_layer_allows(package):
    assert forbidden_imports(package) == []


def test_the_layering_is_the_stated_one():
    """The rule itself, as the issue and README state it."""
    assert "so100_driver" not in ALLOWED["fpo_policy"] | ALLOWED["fpo_sim"]
    assert "fpo_sim" not in ALLOWED["fpo_policy"]
    assert ALLOWED["so100_common"] == set()


def test_the_reader_finds_imports_in_functions_and_from_forms():
    """The check can fail: an import hidden in a function, or a from-import, is seen."""
    source = (
        "import numpy\ndef f():\n    from fpo_sim.core import lockstep\n    import so100_driver.core.bus\n"
    )
    assert imported_top_levels(source) == {"numpy", "fpo_sim", "so100_driver"}
    assert imported_top_levels("from . import x\nfrom .core import y\n") == set()
