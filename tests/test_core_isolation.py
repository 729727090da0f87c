"""Every package's `core` imports in a fresh interpreter where rclpy and mani_skill cannot be imported."""

import subprocess
import sys

import pytest
from ros_testing import python_env

PACKAGES = ["so100_common", "fpo_policy", "fpo_sim", "so100_driver"]

# Blocks the forbidden modules, then imports the core and every module below it.
_PROBE = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rclpy", "mani_skill"):
            raise ImportError("blocked by the core isolation test: " + name)

sys.meta_path.insert(0, Block())
pkg = importlib.import_module(sys.argv[1] + ".core")
names = [pkg.__name__] + [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    importlib.import_module(name)
leaked = [m for m in sys.modules if m.split(".")[0] in ("rclpy", "mani_skill")]
assert not leaked, leaked
print(len(names))
"""


@pytest.mark.parametrize("package", PACKAGES)
def test_core_imports_without_rclpy_or_mani_skill(package):
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, package], env=python_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 1


def test_probe_can_fail():
    """The blocker really blocks: importing rclpy under it fails."""
    probe = _PROBE.replace('pkg = importlib.import_module(sys.argv[1] + ".core")', "import rclpy")
    result = subprocess.run(
        [sys.executable, "-c", probe, "x"], env=python_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "blocked by the core isolation test" in result.stderr
