"""The shipped SO-100 URDF: parses, names the contract's joints with its limits, meshes resolve."""

import xml.etree.ElementTree as ET
from importlib.util import find_spec
from pathlib import Path

import pytest

from so100_common.core import joints

DESCRIPTION = Path(__file__).resolve().parents[1] / "description"
URDF = DESCRIPTION / "urdf" / "so100.urdf"


def _revolute(urdf: Path) -> dict[str, tuple[float, float]]:
    root = ET.parse(urdf).getroot()
    return {
        j.get("name"): (float(j.find("limit").get("lower")), float(j.find("limit").get("upper")))
        for j in root.iter("joint")
        if j.get("type") == "revolute"
    }


def test_urdf_joints_are_the_contract_in_order_with_its_limits():
    limits = _revolute(URDF)
    assert tuple(limits) == joints.JOINT_NAMES
    for name, (lo, hi) in limits.items():
        assert (lo, hi) == pytest.approx(
            (joints.JOINT_LIMITS[name].lower_rad, joints.JOINT_LIMITS[name].upper_rad)
        )


def test_every_mesh_is_a_package_uri_that_exists():
    meshes = [m.get("filename") for m in ET.parse(URDF).getroot().iter("mesh")]
    assert meshes
    prefix = "package://so100_common/description/"
    for uri in meshes:
        assert uri.startswith(prefix), uri
        assert (DESCRIPTION / uri.removeprefix(prefix)).is_file(), uri


def test_urdf_is_the_simulators_model():
    """Same kinematics as the simulator's URDF: only the mesh paths differ."""
    spec = find_spec("mani_skill")
    if spec is None:
        pytest.skip("mani_skill not installed")
    sim = Path(spec.origin).parent / "assets" / "robots" / "so100" / "so100.urdf"
    ours = URDF.read_text().replace("package://so100_common/description/meshes/", "meshes/")
    assert ours == sim.read_text()
