"""The train bringup as plain processes: what `train.launch.py` starts, built from fpo_policy.bringup.

Used by tests/test_train_over_ros.py and benchmarks/train_over_ros.py; the benchmark's trainer
settings (:func:`benchmark_trainer`) and its evaluation (:func:`paired_evaluation`: two checkpoints
on the same goals) live here for any test that measures learning too. Each node is its installed
executable with the ``--ros-args`` the launch file would give it (namespaces, remappings, the
package YAML files), plus ``-p`` overrides for the trainer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from ros_testing import child_process, ros_node

from fpo_msgs.msg import PolicyStatus, PolicyUpdate, RolloutChunk, TrainerStatus
from fpo_policy.bringup import BringupArgs, train_loop
from fpo_policy.core.policy import load_policy
from fpo_policy.core.trainer import evaluate, make_env
from so100_common import topics

REACH_ENV = "fpo_sim.envs:SO100Reach-v1"
EVAL_SEED = 10_000
"""Seed of the first evaluation goal; episode ``i`` is reset with ``EVAL_SEED + i``."""


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


def benchmark_trainer(total_steps: int, batch_size: int = 1024, gamma: float = 0.95) -> dict[str, object]:
    """Trainer overrides of benchmarks/train_over_ros.py (and of the learning test): defaults but for
    the budget, the discount, and every announced checkpoint kept for the evaluation."""
    return {
        "batch_size": batch_size,
        "total_steps": total_steps,
        "keep_checkpoints": total_steps // batch_size + 1,
        "fpo.gamma": gamma,
    }


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


@dataclass(frozen=True)
class PairedEvaluation:
    """Zero-noise returns of two checkpoints on the same goals, episode by episode."""

    before: list[float]
    after: list[float]
    success_before: float | None
    success_after: float | None

    @property
    def differences(self) -> np.ndarray:
        """Per-goal return after minus before."""
        return np.asarray(self.after) - np.asarray(self.before)

    @property
    def mean_difference(self) -> float:
        return float(self.differences.mean())

    @property
    def stderr_difference(self) -> float:
        """Standard error of :attr:`mean_difference` (sample std of the differences / sqrt(n))."""
        d = self.differences
        return float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.inf

    def to_dict(self) -> dict:
        def summary(returns: list[float], success: float | None) -> dict:
            r = np.asarray(returns)
            return {
                "mean_return": round(float(r.mean()), 2),
                "std_return": round(float(r.std()), 2),
                "success_rate": success,
            }

        return {
            "episodes": len(self.before),
            "before": summary(self.before, self.success_before),
            "after": summary(self.after, self.success_after),
            "paired_difference": {
                "mean": round(self.mean_difference, 2),
                "stderr": round(self.stderr_difference, 2),
                "min": round(float(self.differences.min()), 2),
                "goals_improved": int((self.differences > 0).sum()),
            },
        }


def paired_evaluation(
    first_checkpoint: str | Path, last_checkpoint: str | Path, episodes: int, seed: int = EVAL_SEED
) -> PairedEvaluation:
    """Both checkpoints, zero-noise, on the reach goals of seeds ``seed .. seed + episodes - 1``."""
    env = make_env(REACH_ENV)
    try:
        results = []
        for path in (first_checkpoint, last_checkpoint):
            policy = load_policy(path)
            runs = [evaluate(policy, REACH_ENV, 1, seed=seed + i, env=env) for i in range(episodes)]
            successes = [r.success_rate for r in runs if r.success_rate is not None]
            results.append(([r.mean_return for r in runs], float(np.mean(successes)) if successes else None))
    finally:
        env.close()
    (before, success_before), (after, success_after) = results
    return PairedEvaluation(before, after, success_before, success_after)
