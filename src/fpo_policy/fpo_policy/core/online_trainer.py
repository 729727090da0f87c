"""The trainer node's training loop without ROS: chunks in, updates in a worker thread, policies out.

:class:`OnlineTrainer` joins the pieces the offline trainer uses, with rollouts coming from sim
nodes instead of vector envs:

- a :class:`fpo_policy.core.trainer.Learner` (agent, optimiser, observation and return statistics,
  checkpoints, metrics CSV and curve): the same update code as ``fpo-train``
  (:func:`fpo_policy.core.update.update` on a :class:`~fpo_policy.core.rollout_storage.Batch` built by
  :meth:`Learner.batch_from`);
- a :class:`fpo_policy.core.batch_assembly.BatchAssembler` collecting on-policy transitions of the
  current policy version from any number of sources.

Versions: the policy a run starts from (fresh from the task spec, or a start checkpoint) is
version ``v0`` and is written first, so acting nodes have something to load; each update makes
the next version. Every version is written to ``checkpoints/policy_<version>.safetensors``
(atomically, by the core's checkpoint writer) and announced with its SHA-256; the newest
``keep_checkpoints`` are kept. ``checkpoints/latest.safetensors`` and ``trainer_state`` are what
``fpo-train --resume`` reads too.

The update runs in a worker thread: :meth:`OnlineTrainer.poll`, called from the node's timer,
starts one when a batch is ready and returns the announcement once it has finished, so the
executor is never blocked.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fpo_policy.core import metrics
from fpo_policy.core.batch_assembly import BatchAssembler, Transitions
from fpo_policy.core.checkpoint import read_checkpoint
from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.metrics import MetricsLogger
from fpo_policy.core.policy import (
    PolicyCheckpoint,
    PolicyMetadata,
    check_compatible,
    read_policy_checkpoint,
    save_policy,
)
from fpo_policy.core.squash import ActionBounds
from fpo_policy.core.trainer import Learner
from fpo_policy.core.update import update
from so100_common.core import tasks
from so100_common.core.config_fields import check_ranges, setting
from so100_common.core.rollout_chunk import Chunk


@dataclass(frozen=True)
class TrainerNodeConfig:
    """What the trainer node is told (the algorithm's hyperparameters come from its config class)."""

    env_id: str = "SO100Reach-v1"
    """Task (an so100_common.core.tasks id): a fresh policy is built from its spec; other tasks' chunks are
    rejected."""
    checkpoint: str = ""
    """Start checkpoint (weights, network and observation statistics). Empty: a fresh policy."""
    out: str = "runs/trainer_node"
    """Output directory: metrics.csv, curve.png, checkpoints/."""
    run_name: str = ""
    """Policy id of the run (acting nodes report it; chunks of other ids are rejected). Empty: the out
    folder's name."""
    algo: str = "fpo"
    """fpo, or ppo (a Gaussian policy acting through the same nodes)."""
    batch_size: int = setting(1024, 1, 10_000_000)
    """Transitions of one policy version per update, summed over all sources."""
    total_steps: int = setting(0, 0, 10_000_000_000)
    """Stop updating after this many transitions; 0: never. Also the horizon of learning-rate annealing."""
    seed: int = setting(1, 0, 2**31 - 1)
    """Seed of torch (network initialisation, (tau, eps) pairs, minibatches)."""
    torch_threads: int = setting(1, 1, 64)
    """torch intra-op threads of the update."""
    keep_checkpoints: int = setting(5, 1, 1_000_000)
    """Announced policy_<version> files kept (the newest); latest.safetensors is always kept."""

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.algo not in ("fpo", "ppo"):
            raise ValueError(f"TrainerNodeConfig.algo must be fpo or ppo, got {self.algo!r}")
        tasks.get(self.env_id)


@dataclass(frozen=True)
class Announcement:
    """A policy version written and ready for acting nodes."""

    policy_id: str
    version: int
    path: Path
    sha256: str


@dataclass
class UpdateReport:
    """The last finished update."""

    stats: dict[str, float] = field(default_factory=dict)
    update_time_s: float = float("nan")
    steps_per_s: float = float("nan")


class OnlineTrainer:
    """See the module docstring. ``add`` and ``poll`` are called from one thread (the node's)."""

    def __init__(self, config: TrainerNodeConfig, algo_config: FpoConfig | PpoConfig | None = None) -> None:
        self.config = config
        spec = tasks.get(config.env_id)
        algo_config = algo_config or (FpoConfig() if config.algo == "fpo" else PpoConfig())
        start = read_policy_checkpoint(config.checkpoint) if config.checkpoint else None
        if start is not None:
            algo_config = self._check_start(start.metadata, spec, algo_config)
        args = TrainArgs(
            algo=config.algo,
            env=config.env_id,
            total_steps=config.total_steps,
            seed=config.seed,
            out=config.out,
            run_name=config.run_name,
            torch_threads=config.torch_threads,
            tensorboard=False,
            progress=False,
            fpo=algo_config if config.algo == "fpo" else FpoConfig(),
            ppo=algo_config if config.algo == "ppo" else PpoConfig(),
        )
        bounds = ActionBounds(-np.ones(spec.act_dim), np.ones(spec.act_dim))
        self.learner = Learner(args, spec.obs_dim, bounds, task=spec.to_dict())
        if start is not None:
            self._load_start(start)
        self.learner.out.mkdir(parents=True, exist_ok=True)
        (self.learner.out / "config.json").write_text(
            json.dumps({"trainer_node": config.__dict__, "algo": algo_config.__dict__}, indent=2, default=str)
        )
        self.assembler = BatchAssembler(
            spec.env_id,
            spec.obs_dim,
            spec.act_dim,
            self.learner.run_name,
            self.learner.updates,
            config.batch_size,
        )
        self.report = UpdateReport()
        self.metrics = MetricsLogger(self.learner.out)
        self._worker: threading.Thread | None = None
        self._result: tuple | None = None
        self._error: BaseException | None = None
        self._started = self._since = time.monotonic()
        self._accepted_since = 0
        self.latest = self._write_version()

    # --- start ----------------------------------------------------------------------------------

    def _check_start(self, meta: PolicyMetadata, spec: tasks.TaskSpec, algo_config):
        """The algorithm config with the start checkpoint's network shape, once it fits the task."""
        meta.task_spec(self.config.checkpoint)  # it has one, which fits its dimensions
        check_compatible(
            meta,
            f"{self.config.checkpoint}: cannot start from it",
            algorithm=self.config.algo,
            task=spec.to_dict(),
        )
        net = meta.network
        shape = {"actor_hidden": tuple(net["hidden"]), "critic_hidden": tuple(meta.critic_hidden)}
        if net.get("kind") == "flow":
            shape.update(
                time_features=net["time_features"],
                activation=net["activation"],
                output_scale=net["output_scale"],
            )
        return replace(algo_config, **shape)

    def _load_start(self, start: PolicyCheckpoint) -> None:
        learner = self.learner
        learner.obs_rms = start.load_into(
            learner.agent.actor, learner.agent.critic if start.stores_critic else None
        )
        learner.updates, learner.global_step = int(start.metadata.version), int(start.metadata.step)

    # --- chunks in, policies out -------------------------------------------------------------------

    def add(self, source: str, env_id: str, chunk: Chunk) -> str:
        """File a chunk ("accepted", "stale" or "rejected")."""
        verdict = self.assembler.add(source, env_id, chunk)
        if verdict == "accepted":
            self._accepted_since += chunk.num_steps
        return verdict

    @property
    def updating(self) -> bool:
        return self._worker is not None

    @property
    def done(self) -> bool:
        total = self.config.total_steps
        return total > 0 and self.learner.global_step >= total

    def poll(self) -> Announcement | None:
        """Finish a completed update (returning its announcement) or start one when a batch is ready.

        Raises what the update raised.
        """
        if self._worker is not None:
            if self._worker.is_alive():
                return None
            self._worker.join()
            self._worker = None
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return self._finish(*self._result)
        if self.assembler.ready and not self.done:
            transitions = self.assembler.take()
            self._worker = threading.Thread(target=self._run_update, args=(transitions,), name="fpo-update")
            self._worker.start()
        return None

    def _run_update(self, tr: Transitions) -> None:
        try:
            learner = self.learner
            t0 = time.perf_counter()
            if self.config.total_steps > 0:
                learner.anneal_learning_rate(max(1, self.config.total_steps // self.config.batch_size))
            # The statistics take in the batch first: the update trains the networks on the
            # normalisation the announced version acts with. (Updated after the update instead,
            # every version would act on inputs normalised unlike those it was trained on; the
            # first one trains on raw observations, as the fresh policy's statistics are empty.)
            if learner.cfg.norm_obs:
                learner.obs_rms.update(tr.observations)
            batch = learner.batch_from(tr)
            stats = update(learner.agent, learner.optimizer, batch, learner.cfg)
            learner.global_step += len(tr)
            learner.updates += 1
            announcement = self._write_version()
            self._result = (announcement, stats, time.perf_counter() - t0)
        except BaseException as err:  # handed to the node's thread by poll()
            self._error = err

    def _write_version(self) -> Announcement:
        learner = self.learner
        learner.save()
        path = learner.ckpt_dir / f"policy_{learner.updates:06d}.safetensors"
        save_policy(path, learner.agent.actor, learner.agent.critic, learner.obs_rms, learner.metadata())
        sha = read_checkpoint(path).sha256
        versions = sorted(learner.ckpt_dir.glob("policy_*.safetensors"))
        for old in versions[: -self.config.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return Announcement(learner.run_name, learner.updates, path.resolve(), sha)

    def _finish(self, announcement: Announcement, stats: dict, update_time_s: float) -> Announcement:
        now = time.monotonic()
        self.report = UpdateReport(stats, update_time_s, self._accepted_since / max(now - self._since, 1e-9))
        self._since, self._accepted_since = now, 0
        self.latest = announcement
        self._write_metrics(stats, update_time_s)
        if self.done:
            self.learner.plot()
        return announcement

    # --- metrics -----------------------------------------------------------------------------------

    def _write_metrics(self, stats: dict, update_time_s: float) -> None:
        learner, asm = self.learner, self.assembler
        mean_return, success = asm.recent()
        lengths = [e.length for e in asm.episodes]
        learner.elapsed_s = time.monotonic() - self._started
        row = {
            "global_step": learner.global_step,
            "update": learner.updates,
            "episodic_return": None if math.isnan(mean_return) else mean_return,
            "episode_length": np.mean(lengths) if lengths else None,
            "success_rate": None if math.isnan(success) else success,
            "learning_rate": learner.optimizer.param_groups[0]["lr"],
            "sps": self.report.steps_per_s,
            "update_time_s": update_time_s,
            "time_s": learner.elapsed_s,
            "transitions_stale": asm.counters.transitions_stale,
            "chunks_rejected": asm.counters.chunks_rejected,
            "sources": asm.num_sources,
        }
        self.metrics.log(row, stats, metrics.columns(success=True, evaluation=False, ros=True))

    def close(self) -> None:
        """Wait for a running update, close metrics.csv and draw curve.png (when there are metrics)."""
        if self._worker is not None:
            self._worker.join()
        if self.metrics.opened:
            self.metrics.close()
            self.learner.plot()
