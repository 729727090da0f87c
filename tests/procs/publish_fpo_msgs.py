"""Child process for the fpo_msgs round-trip test: publishes one RolloutChunk and one PolicyStatus
once a subscriber has matched, waits until both are acknowledged, and exits."""

import sys

import rclpy

from fpo_msgs.msg import PolicyStatus, RolloutChunk


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("fpo_msgs_publisher")
    chunk_pub = node.create_publisher(RolloutChunk, "rollouts", 10)
    status_pub = node.create_publisher(PolicyStatus, "policy_status", 10)
    deadline = node.get_clock().now().nanoseconds + 30 * 10**9
    while chunk_pub.get_subscription_count() < 1 or status_pub.get_subscription_count() < 1:
        rclpy.spin_once(node, timeout_sec=0.02)
        if node.get_clock().now().nanoseconds > deadline:
            print("no subscriber matched", flush=True)
            return 1

    chunk = RolloutChunk()
    chunk.source_id = "/sim/env0"
    chunk.env_id = "Pendulum-v1"
    chunk.policy_version = 7
    chunk.num_steps, chunk.obs_dim, chunk.act_dim = 2, 3, 1
    chunk.observations = [0.5, -1.0, 2.0, 1.5, 0.25, -0.125]
    chunk.actions = [0.75, -3.0]
    chunk.rewards = [-1.0, -0.5]
    chunk.terminated = [False, True]
    chunk.truncated = [False, False]
    chunk.next_observations = [1.5, 0.25, -0.125, 9.0, 8.0, 7.0]
    chunk.success = [False, True]
    status = PolicyStatus()
    status.policy_id = "reach"
    status.policy_version = 3
    status.safety_state = PolicyStatus.SAFETY_ESTOP
    status.safety_state_text = "ESTOP"
    status.inference_time_p99_s = 0.004
    status.clamped_step = 12
    chunk_pub.publish(chunk)
    status_pub.publish(status)
    ok = chunk_pub.wait_for_all_acked() and status_pub.wait_for_all_acked()
    node.destroy_node()
    rclpy.shutdown()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
