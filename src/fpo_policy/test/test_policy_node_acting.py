"""policy_node acting for training (publish_actions): one action per stamped state, reported exactly.

This process plays the lockstep sim: it publishes task/state and joint_states with one stamp and
checks the answer: a command and a PolicyAction carrying that stamp, the observation the task
spec builds from that state, and a raw sample that, squashed and mapped by the task, is the command
(after the safety filter, which is part of what the trainer's environment does to an action).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")

from policy_checkpoints import write_policy
from policy_node_testing import HOME, REACH_GOAL, policy_node_args
from ros_testing import child_process, ros_node, spin_until
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from fpo_msgs.msg import PolicyAction, TaskState
from fpo_policy.core import load_policy
from so100_common import topics
from so100_common.core import tasks
from so100_common.core.joints import JOINT_NAMES

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_each_state_gets_one_stamped_command_and_the_exact_sample_behind_it(tmp_path):
    checkpoint = write_policy(tmp_path / "reach.safetensors", output_scale=3.0, policy_id="acting", version=4)
    policy = load_policy(checkpoint)
    args = policy_node_args(
        str(checkpoint),
        "publish_actions:=true",
        "deterministic:=false",
        "control_rate_hz:=200.0",
        "safety.ramp_ticks:=0",
    )
    commands: list[JointTrajectory] = []
    actions: list[PolicyAction] = []
    with ros_node("lockstep_sim") as node, child_process(args):
        joint_pub = node.create_publisher(JointState, topics.JOINT_STATES, topics.QOS_STATE)
        task_pub = node.create_publisher(TaskState, topics.TASK_STATE, topics.QOS_LATCHED)
        node.create_subscription(
            JointTrajectory, topics.JOINT_TRAJECTORY, commands.append, topics.QOS_COMMAND
        )
        node.create_subscription(PolicyAction, topics.POLICY_ACTION, actions.append, topics.QOS_COMMAND)
        assert spin_until(
            node,
            lambda: (
                joint_pub.get_subscription_count() > 0
                and task_pub.get_subscription_count() > 0
                and node.count_publishers(topics.POLICY_ACTION) > 0
            ),
            60.0,
        )

        # Matching is seen from this side first; the node may not know our publishers yet (and drops
        # what it has not matched). Warm up until one state has been answered, then start clean.
        def warm_up_answered() -> bool:
            stamp = node.get_clock().now().to_msg()
            task = TaskState(env_id="SO100Reach-v1", goal=list(REACH_GOAL))
            joint = JointState(name=list(JOINT_NAMES), position=list(HOME), velocity=[0.0] * 6)
            task.header.stamp = joint.header.stamp = stamp
            task_pub.publish(task)
            joint_pub.publish(joint)
            return spin_until(node, lambda: len(commands) > 0 and len(actions) > 0, 0.3)

        assert spin_until(node, warm_up_answered, 60.0), "the policy node never answered a state"
        spin_until(node, lambda: False, 0.3)  # let any late answer to the warm-up arrive
        commands.clear()
        actions.clear()
        rng = np.random.default_rng(0)
        sent = []
        for k in range(12):
            q = np.asarray(HOME) + rng.uniform(-0.2, 0.2, 6)
            stamp = node.get_clock().now().to_msg()
            joint = JointState(name=list(JOINT_NAMES), position=q.tolist(), velocity=[0.1] * 6)
            joint.header.stamp = stamp
            task = TaskState(env_id="SO100Reach-v1", goal=list(REACH_GOAL))
            task.header.stamp = stamp
            if k == 0:
                # The joint state first: the node must wait for the task state of the same stamp.
                joint_pub.publish(joint)
                # (Briefly: a joint state older than the stale timeout would not be acted on.)
                assert not spin_until(node, lambda: len(commands) > 0, 0.1)
                task_pub.publish(task)
            else:
                task_pub.publish(task)
                joint_pub.publish(joint)
            sent.append((stamp_ns(joint), q))
            answered = len(sent)
            assert spin_until(node, lambda n=answered: len(commands) >= n and len(actions) >= n, 20.0), (
                answered
            )
        # One answer per state, nothing more.
        assert not spin_until(node, lambda: len(commands) > len(sent), 0.5)

    spec = tasks.REACH
    for (stamp, q), command, action in zip(sent, commands, actions, strict=True):
        assert stamp_ns(command) == stamp_ns(action) == stamp
        assert (action.policy_id, action.policy_version) == ("acting", 4)
        observation = spec.observation(q, np.full(6, 0.1), np.asarray(REACH_GOAL))
        np.testing.assert_allclose(action.observation, observation, rtol=0, atol=1e-6)
        raw = np.asarray(action.action, dtype=np.float32)
        target = spec.action_to_target(policy.metadata.bounds.to_env(raw[None])[0], q)
        # The safety filter's smooth start (the measured pose first) was spent on the warm-up: each
        # command is the policy's target (these stay within the limits and the per-tick step).
        np.testing.assert_allclose(command.points[0].positions, target, atol=1e-6)
    raws = np.array([a.action for a in actions])
    assert np.std(raws, axis=0).min() > 0.05  # sampled from the flow (deterministic:=false), not zero-noise
