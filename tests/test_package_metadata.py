"""Package metadata is honest: package.xml parses, versions agree, every executable exists."""

import ast
import importlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent for p in (ROOT / "src").glob("*/package.xml"))
PYTHON_PACKAGES = [p for p in PACKAGES if (p / "setup.py").exists()]


def _manifest(pkg: Path) -> ET.Element:
    return ET.parse(pkg / "package.xml").getroot()


def _setup_kwargs(pkg: Path) -> dict:
    """The literal keyword arguments of setup(...) in setup.py (read, not executed)."""
    tree = ast.parse((pkg / "setup.py").read_text())
    consts = {
        t.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    kwargs = {}
    for kw in call.keywords:
        if isinstance(kw.value, ast.Name) and kw.value.id in consts:
            kwargs[kw.arg] = consts[kw.value.id]
        else:
            try:
                kwargs[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                kwargs[kw.arg] = None
    return kwargs


def test_all_five_packages_present():
    assert {p.name for p in PACKAGES} == {"fpo_msgs", "fpo_policy", "fpo_sim", "so100_common", "so100_driver"}


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_package_xml_is_format_3_and_names_its_folder(pkg):
    root = _manifest(pkg)
    assert root.tag == "package"
    assert root.get("format") == "3"
    assert root.findtext("name") == pkg.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", root.findtext("version"))
    assert root.find("license").text
    email = root.find("maintainer").get("email")
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", email), email
    build_type = root.find("export/build_type").text
    assert build_type == ("ament_python" if (pkg / "setup.py").exists() else "ament_cmake")


def test_versions_agree():
    versions = {pkg.name: _manifest(pkg).findtext("version") for pkg in PACKAGES}
    versions |= {pkg.name + "/setup.py": _setup_kwargs(pkg)["version"] for pkg in PYTHON_PACKAGES}
    assert len(set(versions.values())) == 1, versions


@pytest.mark.parametrize("pkg", PYTHON_PACKAGES, ids=lambda p: p.name)
def test_ament_python_skeleton(pkg):
    assert (pkg / "resource" / pkg.name).is_file()
    cfg = (pkg / "setup.cfg").read_text()
    assert f"install_scripts=$base/lib/{pkg.name}" in cfg
    assert _setup_kwargs(pkg)["name"] == pkg.name
    assert (pkg / pkg.name / "core" / "__init__.py").is_file()


@pytest.mark.parametrize("pkg", PYTHON_PACKAGES, ids=lambda p: p.name)
def test_every_executable_in_setup_py_exists(pkg):
    scripts = _setup_kwargs(pkg).get("entry_points", {}).get("console_scripts", [])
    for entry in scripts:
        name, target = (s.strip() for s in entry.split("="))
        module_name, func_name = target.split(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, func_name)), f"{pkg.name}: {name} -> {target} is missing"


@pytest.mark.parametrize("pkg", PYTHON_PACKAGES, ids=lambda p: p.name)
def test_python_imports_are_declared_in_package_xml(pkg):
    """Every ROS package a Python module imports is an exec_depend (rosdep can install it)."""
    ros_packages = {
        "rclpy", "std_msgs", "std_srvs", "sensor_msgs", "trajectory_msgs", "diagnostic_msgs",
        "visualization_msgs", "geometry_msgs", "builtin_interfaces", "rosgraph_msgs", "rcl_interfaces",
        "fpo_msgs", "fpo_policy", "fpo_sim", "so100_common", "so100_driver",
    }  # fmt: skip
    declared = {d.text for d in _manifest(pkg).iter() if d.tag in ("depend", "exec_depend")}
    for source in (pkg / pkg.name).rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in ros_packages and top != pkg.name:
                    assert top in declared, f"{source.relative_to(ROOT)} imports {top}, not in package.xml"
