"""Point the ROS wheels' generated-message CMake exports at this interpreter's include dirs.

The Kilted wheels on PyPI were built in a manylinux container; their
``share/*/cmake/export_*__rosidl_generator_pyExport.cmake`` files name that container's Python
and numpy include directories. colcon builds of message packages that depend on those messages
then fail to find ``Python.h``. This rewrites every such path to the running interpreter's
include directory and numpy's. Idempotent.

Usage: python fix_ros_wheel_cmake.py VENV
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# A foreign include dir: any absolute path that ends in include/pythonX.Y, or numpy's include dir.
_PYTHON_INCLUDE = re.compile(r"[^;\"]*/include/python3\.\d+")
_NUMPY_INCLUDE = re.compile(r"[^;\"]*/site-packages/numpy/(?:_core|core)/include")


def fix(venv: Path) -> int:
    """Rewrite the export files below ``venv/share``; return how many changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in sorted(venv.glob("share/*/cmake/export_*__rosidl_generator_pyExport.cmake")):
        text = path.read_text()
        new = _PYTHON_INCLUDE.sub(python_include, text)
        new = _NUMPY_INCLUDE.sub(numpy_include, new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    n = fix(Path(sys.argv[1]))
    print(f"[setup] rewrote include dirs in {n} ROS wheel CMake export file(s)")


if __name__ == "__main__":
    main()
