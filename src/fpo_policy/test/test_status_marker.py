"""The policy status as RViz sees it: a text marker above the arm that names policy, state and timing."""

import pytest

pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")

from visualization_msgs.msg import Marker

from fpo_msgs.msg import PolicyStatus
from fpo_policy.policy_node import status_marker


def test_marker_names_the_policy_its_safety_state_and_timing():
    status = PolicyStatus(
        policy_id="reach", policy_version=219, safety_state_text="ESTOP", overruns=4,
        tick_period_mean_s=0.02, inference_time_mean_s=0.0031,
    )  # fmt: skip
    marker = status_marker(status)
    assert marker.type == Marker.TEXT_VIEW_FACING
    assert marker.header.frame_id == "Base"
    assert marker.text == "reach v219 | ESTOP | tick 20.0 ms | inference 3.1 ms | overruns 4"


def test_marker_without_a_policy_says_so():
    assert status_marker(PolicyStatus(safety_state_text="NO_POLICY")).text.startswith("no policy | NO_POLICY")
