"""trainer_node: FPO training on rollouts that sim nodes publish, announcing each new policy.

Thin: the ``rollouts`` subscription stores each fpo_msgs/RolloutChunk; a timer converts them to
:class:`so100_common.core.rollout_chunk.Chunk` s and hands them to
:class:`fpo_policy.core.online_trainer.OnlineTrainer`,
which assembles on-policy batches by policy version and runs the FPO core's update in a worker
thread; when a new version is written the timer announces it on ``policy_update``
(fpo_msgs/PolicyUpdate, transient-local: acting policy nodes that start later still hear it) and
publishes ``trainer_status`` (fpo_msgs/TrainerStatus) and ``/diagnostics``. The first
announcement, at start, is the starting policy (fresh or ``checkpoint``).

Sim nodes may run anywhere DDS reaches; checkpoint paths in the announcements are paths on this
machine's filesystem, so acting policy nodes must see the same files.

Parameters: the fields of :class:`fpo_policy.core.online_trainer.TrainerNodeConfig`, and the algorithm's
scalar hyperparameters prefixed ``fpo.`` (or ``ppo.``), declared from
:class:`fpo_policy.core.config.FpoConfig` (:class:`~fpo_policy.core.config.PpoConfig`) with their
defaults, descriptions and ranges.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from fpo_msgs.msg import PolicyUpdate, RolloutChunk, TrainerStatus
from fpo_policy.core.config import FpoConfig, PpoConfig, hyperparameter_names
from fpo_policy.core.online_trainer import Announcement, OnlineTrainer, TrainerNodeConfig
from so100_common import topics
from so100_common.core.rollout_chunk import Chunk
from so100_common.node_main import run_node
from so100_common.parameters import declare_config


def chunk_from_msg(msg: RolloutChunk) -> Chunk:
    """A RolloutChunk as a validated :class:`Chunk`; ValueError names what does not fit."""
    steps, obs_dim, act_dim = int(msg.num_steps), int(msg.obs_dim), int(msg.act_dim)
    expected = {
        "observations": steps * obs_dim,
        "next_observations": steps * obs_dim,
        "actions": steps * act_dim,
        "rewards": steps,
        "terminated": steps,
        "truncated": steps,
        "success": steps,
    }
    for name, size in expected.items():
        if len(getattr(msg, name)) != size:
            raise ValueError(f"{name} has {len(getattr(msg, name))} values, num_steps/dims say {size}")
    return Chunk(
        sequence=int(msg.sequence),
        policy_id=msg.policy_id,
        policy_version=int(msg.policy_version),
        observations=np.asarray(msg.observations, np.float32).reshape(steps, obs_dim),
        actions=np.asarray(msg.actions, np.float32).reshape(steps, act_dim),
        rewards=np.asarray(msg.rewards, np.float32),
        terminated=np.asarray(msg.terminated, bool),
        truncated=np.asarray(msg.truncated, bool),
        next_observations=np.asarray(msg.next_observations, np.float32).reshape(steps, obs_dim),
        success=np.asarray(msg.success, bool),
    )


class TrainerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("trainer_node", **kwargs)
        config = declare_config(self, TrainerNodeConfig)
        algo_cls = FpoConfig if config.algo == "fpo" else PpoConfig
        algo_config = declare_config(
            self, algo_cls, prefix=f"{config.algo}.", names=hyperparameter_names(algo_cls)
        )
        self.trainer = OnlineTrainer(config, algo_config)
        self._inbox: deque[RolloutChunk] = deque()

        self._update_pub = self.create_publisher(PolicyUpdate, topics.POLICY_UPDATE, topics.QOS_LATCHED)
        self._status_pub = self.create_publisher(TrainerStatus, topics.TRAINER_STATUS, topics.QOS_STATUS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, topics.QOS_STATUS)
        self.create_subscription(RolloutChunk, topics.ROLLOUTS, self._store, topics.QOS_ROLLOUTS)
        self.create_timer(0.01, self._step)
        self.create_timer(1.0, self._publish_status)
        self._announce(self.trainer.latest)

    def _store(self, msg: RolloutChunk) -> None:
        self._inbox.append(msg)

    # The timer: chunks into the assembler, updates in and out of the worker ----------------------

    def _step(self) -> None:
        while self._inbox:
            msg = self._inbox.popleft()
            try:
                chunk = chunk_from_msg(msg)
            except ValueError as err:
                self.trainer.assembler.reject(msg.source_id, str(err))
                self.get_logger().warning(f"malformed rollout chunk from {msg.source_id}: {err}")
                continue
            if self.trainer.add(msg.source_id, msg.env_id, chunk) == "rejected":
                self.get_logger().warning(
                    f"rollout chunk rejected: {self.trainer.assembler.counters.last_rejection}",
                    throttle_duration_sec=5.0,
                )
        was_updating = self.trainer.updating
        announcement = self.trainer.poll()
        if announcement is not None:
            report = self.trainer.report
            mean_return, success = self.trainer.assembler.recent()
            self.get_logger().info(
                f"v{announcement.version}: {self.trainer.learner.global_step} steps, "
                f"return {mean_return:.2f}, success {success:.2f}, update {report.update_time_s:.2f} s, "
                f"{report.steps_per_s:.0f} steps/s"
            )
            self._announce(announcement)
            self._publish_status()
        elif self.trainer.updating and not was_updating:
            self._publish_status()

    def _announce(self, a: Announcement) -> None:
        msg = PolicyUpdate(
            policy_id=a.policy_id, version=a.version, checkpoint_path=str(a.path), sha256=a.sha256
        )
        msg.header.stamp = self.get_clock().now().to_msg()
        self._update_pub.publish(msg)

    # Status -------------------------------------------------------------------------------------

    def status(self) -> TrainerStatus:
        t, asm = self.trainer, self.trainer.assembler
        c = asm.counters
        msg = TrainerStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.policy_id, msg.policy_version = t.latest.policy_id, t.latest.version
        msg.checkpoint_path = str(t.latest.path)
        msg.global_step = t.learner.global_step
        msg.updating = t.updating
        msg.batch_fill, msg.batch_size = asm.fill, asm.batch_size
        msg.chunks_accepted, msg.chunks_stale, msg.chunks_rejected = (
            c.chunks_accepted,
            c.chunks_stale,
            c.chunks_rejected,
        )
        msg.transitions_accepted, msg.transitions_stale = c.transitions_accepted, c.transitions_stale
        msg.sources = asm.num_sources
        msg.episodic_return, msg.success_rate = asm.recent()
        msg.episodes = asm.episodes_total
        stats = t.report.stats
        for name in ("pg_loss", "v_loss", "stored_cfm_loss", "approx_kl"):
            setattr(msg, name, float(stats.get(name, math.nan)))
        msg.update_time_s, msg.steps_per_s = t.report.update_time_s, t.report.steps_per_s
        return msg

    def _publish_status(self) -> None:
        msg = self.status()
        self._status_pub.publish(msg)
        values = {name: getattr(msg, name) for name in msg.get_fields_and_field_types() if name != "header"}
        values["last_rejection"] = self.trainer.assembler.counters.last_rejection
        level = DiagnosticStatus.OK if msg.chunks_rejected == 0 else DiagnosticStatus.WARN
        text = "updating" if msg.updating else f"collecting {msg.batch_fill}/{msg.batch_size}"
        self._diagnostics_pub.publish(
            DiagnosticArray(
                header=msg.header,
                status=[
                    DiagnosticStatus(
                        level=level,
                        name=f"{self.get_fully_qualified_name()}: trainer",
                        message=f"v{msg.policy_version}, {text}",
                        hardware_id="trainer",
                        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
                    )
                ],
            )
        )

    def destroy_node(self) -> None:
        if hasattr(self, "trainer"):  # not when the constructor failed before building it
            self.trainer.close()
        super().destroy_node()


def main(args=None) -> None:
    run_node(TrainerNode, args)


if __name__ == "__main__":
    main()
