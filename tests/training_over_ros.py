"""The train bringup as plain processes: what `train.launch.py` starts, built from fpo_policy.bringup.

Used by tests/test_train_over_ros.py and benchmarks/train_over_ros.py. Each node is its installed
executable with the ``--ros-args`` the launch file would give it (namespaces, remappings, the
package YAML files), plus ``-p`` overrides for the trainer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from ros_testing import child_process, ros_node

from fpo_msgs.msg import PolicyStatus, PolicyUpdate, RolloutChunk, TrainerStatus
from fpo_policy.bringup import BringupArgs, train_loop
from so100_driver import topics


def train_commands(out: Path, num_sims: int = 1, checkpoint: str = "", **trainer: object) -> list[list[str]]:
    """``python`` arguments of every node of the train bringup; the trainer writes to ``out``."""
    commands = []
    for spec in train_loop(BringupArgs(num_sims=num_sims, checkpoint=checkpoint)):
        args = [str(spec.executable_path()), *spec.ros_args()]
        if spec.executable == "trainer_node":
            for key, value in {"out": str(out), **trainer}.items():
                args += ["-p", f"{key}:={value}"]
        commands.append(args)
    return commands


@dataclass
class TrainingRun:
    """What a listener hears from a running train bringup."""

    node: object
    trainer_status: list[TrainerStatus] = field(default_factory=list)
    policy_status: list[PolicyStatus] = field(default_factory=list)
    updates: list[PolicyUpdate] = field(default_factory=list)
    chunks: list[tuple[str, int, int]] = field(default_factory=list)
    """(source_id, sequence, policy_version) of each rollout chunk."""
    diagnostics: list[DiagnosticArray] = field(default_factory=list)

    def __post_init__(self) -> None:
        for msg_type, topic, store, qos in (
            (TrainerStatus, "/" + topics.TRAINER_STATUS, self.trainer_status.append, topics.QOS_STATUS),
            (PolicyStatus, "/sim0/" + topics.POLICY_STATUS, self.policy_status.append, topics.QOS_STATUS),
            (PolicyUpdate, "/" + topics.POLICY_UPDATE, self.updates.append, topics.QOS_LATCHED),
            (RolloutChunk, "/" + topics.ROLLOUTS, self._on_chunk, topics.QOS_ROLLOUTS),
            (DiagnosticArray, topics.DIAGNOSTICS, self.diagnostics.append, topics.QOS_STATUS),
        ):
            self.node.create_subscription(msg_type, topic, store, qos)

    def _on_chunk(self, msg: RolloutChunk) -> None:
        self.chunks.append((msg.source_id, msg.sequence, msg.policy_version))

    def sim_values(self) -> dict[str, str]:
        """The newest /diagnostics key/values of the sim node."""
        for msg in reversed(self.diagnostics):
            for status in msg.status:
                if "simulated SO-100" in status.name:
                    return {kv.key: kv.value for kv in status.values}
        return {}


@contextmanager
def training_run(out: Path, name: str = "train_listener", **kwargs) -> Iterator[TrainingRun]:
    """The train bringup's processes and a listener node; everything stops when the block ends."""
    with ros_node(name) as node, ExitStack() as stack:
        run = TrainingRun(node)
        for command in train_commands(out, **kwargs):
            stack.enter_context(child_process(command))
        yield run
