"""policy_node in a child process, driven over real DDS from this process."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rclpy

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")

from policy_checkpoints import corrupt, write_policy
from policy_node_testing import HOME, policy_node_and_arm, policy_node_args
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from fpo_msgs.msg import PolicyStatus, PolicyUpdate
from fpo_policy.core import load_policy
from fpo_policy.core.safety import SafetyConfig
from so100_common import topics
from so100_common.core import tasks

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ = 50.0
FAST = (
    f"control_rate_hz:={RATE_HZ}",
    "publish_commands:=true",
    "status_rate_hz:=10.0",
    "safety.ramp_ticks:=5",
)
STEP = SafetyConfig().step_rad


def in_state(state):
    return lambda s: s.safety_state == state


def test_commands_at_the_configured_rate_stale_hold_and_recovery(tmp_path):
    path = write_policy(tmp_path / "reach.safetensors")
    with policy_node_and_arm(policy_node_args(str(path), *FAST)) as arm:
        arm.publish_goal()
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        start = time.monotonic()
        assert arm.spin_until(lambda: len(arm.commands_after(start)) >= 100)
        times = np.array([t for t, _ in arm.commands if t > start])
        rate = (len(times) - 1) / (times[-1] - times[0])
        assert rate == pytest.approx(RATE_HZ, rel=0.15)
        # Both outputs carry the same command; each within one step of the measured pose.
        assert arm.spin_until(lambda: len(arm.trajectories) >= 10)
        for _, command in arm.commands[-50:]:
            assert np.all(np.abs(command - HOME) <= STEP + 1e-9)

        arm.publishing = False
        stale = arm.status_where(in_state(PolicyStatus.SAFETY_STALE_HOLD))
        assert stale is not None
        t = time.monotonic()
        assert arm.spin_until(lambda: len(arm.commands_after(t)) >= 5)
        for command in arm.commands_after(t):
            np.testing.assert_allclose(command, HOME)  # hold the last measured pose

        arm.position = np.array(HOME) + 0.05
        arm.publishing = True
        resumed = arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        assert resumed.stale_holds > stale.stale_holds
        assert resumed.rejected_shape == resumed.rejected_nonfinite == 0


def test_estop_is_latched_until_the_reset_service(tmp_path):
    path = write_policy(tmp_path / "reach.safetensors")
    with policy_node_and_arm(policy_node_args(str(path), *FAST)) as arm:
        arm.publish_goal()
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        arm.estop_pub.publish(Bool(data=True))
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ESTOP))
        arm.estop_pub.publish(Bool(data=False))  # does not clear the latch
        t = time.monotonic()
        blocked = arm.status_where(lambda s: s.estop_blocks > 20)
        assert blocked.safety_state == PolicyStatus.SAFETY_ESTOP
        assert arm.commands_after(t + 0.1) == []

        reply = arm.call(Trigger, f"/policy_node/{topics.RESET_ESTOP_SERVICE[2:]}")
        assert reply.success
        t = time.monotonic()
        assert arm.spin_until(lambda: len(arm.commands_after(t)) >= 1)
        np.testing.assert_allclose(arm.commands_after(t)[0], HOME)  # smooth start again
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))


@pytest.mark.parametrize("bad", ["corrupt", "wrong_action_shape"])
def test_a_bad_checkpoint_at_start_leaves_the_node_safe_until_a_good_one(tmp_path, bad):
    bad_path = tmp_path / "bad.safetensors"
    if bad == "corrupt":
        corrupt(write_policy(bad_path))
    else:
        write_policy(bad_path, act_dim=4)
    good = write_policy(tmp_path / "good.safetensors", version=5)
    with policy_node_and_arm(policy_node_args(str(bad_path), *FAST)) as arm:
        arm.publish_goal()
        first = arm.status_where(in_state(PolicyStatus.SAFETY_NO_POLICY))  # joint states arrived
        assert first is not None
        status = arm.status_where(lambda s: s.ticks > first.ticks + 20)
        assert status.safety_state == PolicyStatus.SAFETY_NO_POLICY
        assert (status.reloads_failed, status.commands_sent, status.policy_id) == (1, 0, "")
        assert arm.commands == []

        arm.set_parameters("policy_node", checkpoint=str(good))
        status = arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        assert (status.policy_version, status.reloads_ok) == (5, 1)
        assert status.checkpoint_sha256 == load_policy(good).sha256


def test_a_loaded_policy_without_its_goal_reports_waiting_for_input(tmp_path):
    """Joint states but no task/state: the status names the loaded policy and WAITING_FOR_INPUT
    (not NO_POLICY), nothing is commanded, and the goal starts the commands."""
    path = write_policy(tmp_path / "reach.safetensors", version=3)
    with policy_node_and_arm(policy_node_args(str(path), *FAST)) as arm:
        waiting = arm.status_where(in_state(PolicyStatus.SAFETY_WAITING_FOR_INPUT))
        assert waiting is not None
        assert (waiting.safety_state_text, waiting.policy_version) == ("WAITING_FOR_INPUT", 3)
        assert waiting.policy_id != ""
        assert arm.spin_until(lambda: any("task/state goal" in d["reason"] for d in arm.diagnostics))
        later = arm.status_where(lambda s: s.ticks > waiting.ticks + 20)
        assert later.safety_state == PolicyStatus.SAFETY_WAITING_FOR_INPUT
        assert (later.commands_sent, arm.commands) == (0, [])

        arm.publish_goal()
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        assert arm.commands


def test_reload_of_good_and_bad_checkpoints_keeps_commanding(tmp_path):
    v1 = write_policy(tmp_path / "v1.safetensors", version=1)
    v2 = write_policy(tmp_path / "v2.safetensors", version=2, seed=2)
    bad = corrupt(write_policy(tmp_path / "bad.safetensors", version=3))
    with policy_node_and_arm(policy_node_args(str(v1), *FAST)) as arm:
        arm.publish_goal()
        assert arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        update_pub = arm.node.create_publisher(PolicyUpdate, topics.POLICY_UPDATE, topics.QOS_LATCHED)

        # A policy update whose SHA-256 does not match the file is refused; v1 keeps running.
        update_pub.publish(
            PolicyUpdate(policy_id="test", version=2, checkpoint_path=str(v2), sha256="0" * 64)
        )
        status = arm.status_where(lambda s: s.reloads_failed == 1)
        assert (status.policy_version, status.safety_state) == (1, PolicyStatus.SAFETY_ACTIVE)

        # The matching one is swapped in.
        sha = load_policy(v2).sha256
        update_pub.publish(PolicyUpdate(policy_id="test", version=2, checkpoint_path=str(v2), sha256=sha))
        status = arm.status_where(lambda s: s.reloads_ok == 1)
        assert (status.policy_version, status.checkpoint_sha256) == (2, sha)
        assert arm.spin_until(lambda: any(d["checkpoint_sha256"] == sha for d in arm.diagnostics))
        diagnostics = next(d for d in arm.diagnostics if d["checkpoint_sha256"] == sha)
        assert diagnostics["policy_version"] == "2"
        assert "does not match the announced" in diagnostics["last_reload_error"]
        assert {
            "tick_period_p99_s",
            "inference_time_p99_s",
            "overruns",
            "missed_ticks",
            "clamped_step",
        } <= set(diagnostics)

        # ~/reload of a corrupt file: refused, v2 stays, commands keep coming.
        arm.set_parameters("policy_node", checkpoint=str(bad))  # setting it reloads too
        status = arm.status_where(lambda s: s.reloads_failed == 2)
        assert arm.call(Trigger, "/policy_node/reload").success
        status = arm.status_where(lambda s: s.reloads_failed == 3)
        assert (status.policy_version, status.safety_state) == (2, PolicyStatus.SAFETY_ACTIVE)
        t = time.monotonic()
        assert arm.spin_until(lambda: len(arm.commands_after(t)) >= 10)


def test_the_rate_follows_the_task_and_changes_with_a_reload(tmp_path):
    """With the shipped YAML (control_rate_hz 0), the node ticks at the checkpoint task's rate."""
    slow = write_policy(tmp_path / "slow.safetensors", version=1)  # reach: 20 Hz
    fast = write_policy(
        tmp_path / "fast.safetensors", task=replace(tasks.REACH, control_rate_hz=40.0), version=2
    )
    yaml = Path(__file__).resolve().parents[1] / "config" / "policy_node.yaml"
    args = policy_node_args(str(slow), "status_rate_hz:=10.0", "publish_commands:=true")
    args[args.index("--ros-args") + 1 : args.index("--ros-args") + 1] = ["--params-file", str(yaml)]
    with policy_node_and_arm(args) as arm:
        arm.publish_goal()
        status = arm.status_where(in_state(PolicyStatus.SAFETY_ACTIVE))
        assert status.control_rate_hz == pytest.approx(20.0)
        arm.set_parameters("policy_node", checkpoint=str(fast))
        status = arm.status_where(lambda s: s.policy_version == 2)
        assert status.control_rate_hz == pytest.approx(40.0)
        start = time.monotonic()
        assert arm.spin_until(lambda: len(arm.commands_after(start)) >= 60)
        times = np.array([t for t, _ in arm.commands if t > start])
        assert (len(times) - 1) / (times[-1] - times[0]) == pytest.approx(40.0, rel=0.15)


def test_parameters_carry_the_dataclass_descriptions_and_ranges():
    from rclpy.context import Context
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    from fpo_policy.policy_node import PolicyNode

    context = Context()
    rclpy.init(context=context)
    try:
        node = PolicyNode(context=context)
        [descriptor] = node.describe_parameters(["safety.max_step_rad"])
        assert "Largest change of an arm joint's command" in descriptor.description
        assert descriptor.read_only
        assert (
            descriptor.floating_point_range[0].from_value,
            descriptor.floating_point_range[0].to_value,
        ) == (
            0.0,
            0.5,
        )
        [steps] = node.describe_parameters(["steps"])
        assert (steps.integer_range[0].from_value, steps.integer_range[0].to_value) == (0, 1000)
        assert not node.describe_parameters(["checkpoint"])[0].read_only
        node.destroy_node()
        with pytest.raises(InvalidParameterValueException, match=r"safety\.max_step_rad"):
            PolicyNode(context=context, parameter_overrides=[Parameter("safety.max_step_rad", value=5.0)])
        with pytest.raises(ValueError, match=r"ControlConfig\.solver"):
            PolicyNode(context=context, parameter_overrides=[Parameter("solver", value="heun")])
    finally:
        context.try_shutdown()
