"""fpo_msgs over real Fast DDS between two processes."""

import pytest
from ros_testing import PROCS, child_process, ros_node, spin_until

pytest.importorskip("rclpy")
fpo_msgs = pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")


def test_rollout_chunk_and_status_cross_processes_intact():
    received: dict[str, object] = {}
    with ros_node("fpo_msgs_listener") as node:
        node.create_subscription(
            fpo_msgs.RolloutChunk, "rollouts", lambda m: received.setdefault("chunk", m), 10
        )
        node.create_subscription(
            fpo_msgs.PolicyStatus, "policy_status", lambda m: received.setdefault("status", m), 10
        )
        with child_process([str(PROCS / "publish_fpo_msgs.py")]) as proc:
            assert spin_until(node, lambda: len(received) == 2, timeout_s=30), proc.stdout.read()
            assert proc.wait(timeout=30) == 0

    chunk = received["chunk"]
    assert chunk.source_id == "/sim/env0"
    assert chunk.policy_version == 7
    assert (chunk.num_steps, chunk.obs_dim, chunk.act_dim) == (2, 3, 1)
    assert list(chunk.observations) == [0.5, -1.0, 2.0, 1.5, 0.25, -0.125]
    assert list(chunk.actions) == [0.75, -3.0]
    assert list(chunk.terminated) == [False, True]
    assert list(chunk.next_observations)[-1] == 7.0
    status = received["status"]
    assert status.safety_state == fpo_msgs.PolicyStatus.SAFETY_ESTOP
    assert status.clamped_step == 12
    assert status.inference_time_p99_s == pytest.approx(0.004)
