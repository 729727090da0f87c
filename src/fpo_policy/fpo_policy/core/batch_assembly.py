"""On-policy batches assembled from rollout chunks of any number of sources, without ROS.

The trainer node feeds every :class:`so100_common.core.rollout_chunk.Chunk` it hears (one source = one sim
node) into a :class:`BatchAssembler`:

- A chunk is **accepted** when its task, dimensions and policy id are the trainer's and its policy
  version is the one being collected; chunks from an **older** version are dropped and counted as
  stale (FPO's ratio is only valid for data of the policy being updated); malformed chunks and
  chunks of another run, task or a version the trainer never announced are **rejected** (counted).
- Per source, accepted chunks are joined in order. Two chunks continue each other when their
  sequence numbers are consecutive and the earlier did not end its episode; anywhere else the
  trajectory is cut (:attr:`Transitions.dones`), and so is each source's last transition in the
  batch: GAE's recursion stops there and the step bootstraps from V(next observation) unless the
  episode terminated (:mod:`fpo_policy.core.rollout_storage` gives the recursion).
- :meth:`BatchAssembler.take` hands out everything collected once at least ``batch_size``
  transitions are in and moves on to the next version: chunks of the taken version that arrive
  while the update runs are stale for the policy the update produces.

Episode statistics (returns, success) are kept from every well-formed chunk of the run,
stale ones included: they describe the behaviour of the acting policies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from so100_common.core.rollout_chunk import Chunk


@dataclass(frozen=True)
class Transitions:
    """N transitions, source by source, each source's in order. Observations are raw."""

    observations: np.ndarray
    """(N, O) float32."""
    actions: np.ndarray
    """(N, A) float32, unsquashed."""
    rewards: np.ndarray
    """(N,) float32."""
    terminated: np.ndarray
    """(N,) bool: no bootstrap."""
    dones: np.ndarray
    """(N,) bool: the trajectory is cut after this step (episode end, gap, or end of the batch)."""
    next_observations: np.ndarray
    """(N, O) float32."""
    source_index: np.ndarray
    """(N,) int: index into ``sources``."""
    sources: tuple[str, ...]
    policy_version: int

    def __len__(self) -> int:
        return int(self.rewards.shape[0])


@dataclass
class AssemblyCounters:
    chunks_accepted: int = 0
    chunks_stale: int = 0
    chunks_rejected: int = 0
    transitions_accepted: int = 0
    transitions_stale: int = 0
    last_rejection: str = ""


@dataclass
class _Source:
    chunks: list[Chunk] = field(default_factory=list)
    """Accepted chunks of the version being collected."""
    next_sequence: int | None = None
    """Sequence that would continue the source's last chunk (any version); None after an episode end."""
    episode_return: float = 0.0
    episode_length: int = 0
    episode_success: bool = False


@dataclass(frozen=True)
class Episode:
    source: str
    episode_return: float
    length: int
    success: bool


class BatchAssembler:
    """Collects on-policy transitions (see the module docstring)."""

    def __init__(
        self,
        env_id: str,
        obs_dim: int,
        act_dim: int,
        policy_id: str,
        version: int,
        batch_size: int,
        episode_window: int = 100,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.env_id, self.obs_dim, self.act_dim = env_id, obs_dim, act_dim
        self.policy_id = policy_id
        self.version = int(version)
        self.batch_size = batch_size
        self.counters = AssemblyCounters()
        self.episodes: deque[Episode] = deque(maxlen=episode_window)
        self.episodes_total = 0
        self._sources: dict[str, _Source] = {}

    @property
    def fill(self) -> int:
        """Transitions collected for the version being collected."""
        return sum(c.num_steps for s in self._sources.values() for c in s.chunks)

    @property
    def ready(self) -> bool:
        return self.fill >= self.batch_size

    @property
    def num_sources(self) -> int:
        return len(self._sources)

    def reject(self, source: str, problem: str) -> str:
        """Count a chunk from ``source`` refused for ``problem`` (also one that never became a
        :class:`Chunk`, e.g. a malformed message); returns "rejected"."""
        self.counters.chunks_rejected += 1
        self.counters.last_rejection = f"{source}: {problem}"
        return "rejected"

    def add(self, source: str, env_id: str, chunk: Chunk) -> str:
        """File one chunk; returns "accepted", "stale" or "rejected"."""
        c = self.counters
        problem = self._problem(env_id, chunk)
        if problem:
            return self.reject(source, problem)
        src = self._sources.setdefault(source, _Source())
        self._track_episodes(source, src, chunk)
        if chunk.policy_version < self.version:
            c.chunks_stale += 1
            c.transitions_stale += chunk.num_steps
            return "stale"
        src.chunks.append(chunk)
        c.chunks_accepted += 1
        c.transitions_accepted += chunk.num_steps
        return "accepted"

    def _problem(self, env_id: str, chunk: Chunk) -> str:
        obs_dim = chunk.observations.shape[1]
        act_dim = chunk.actions.shape[1]
        if env_id != self.env_id:
            return f"task {env_id!r}, the trainer's is {self.env_id!r}"
        if (obs_dim, act_dim) != (self.obs_dim, self.act_dim):
            return f"obs/act dims {obs_dim}/{act_dim}, the policy's are {self.obs_dim}/{self.act_dim}"
        if chunk.policy_id != self.policy_id:
            return f"policy {chunk.policy_id!r}, the trainer's run is {self.policy_id!r}"
        if chunk.policy_version > self.version:
            return f"policy version {chunk.policy_version} was never announced (collecting {self.version})"
        return ""

    def _track_episodes(self, name: str, src: _Source, chunk: Chunk) -> None:
        if src.next_sequence is not None and chunk.sequence != src.next_sequence:
            src.episode_return, src.episode_length, src.episode_success = 0.0, 0, False  # a gap: partial
        for r, done, ok in zip(chunk.rewards, chunk.dones, chunk.success):
            src.episode_return += float(r)
            src.episode_length += 1
            src.episode_success = src.episode_success or bool(ok)
            if done:
                episode = Episode(name, src.episode_return, src.episode_length, src.episode_success)
                self.episodes.append(episode)
                self.episodes_total += 1
                src.episode_return, src.episode_length, src.episode_success = 0.0, 0, False
        src.next_sequence = chunk.sequence + 1

    def take(self) -> Transitions:
        """Everything collected for the current version (call when :attr:`ready`); then collect the next."""
        rows: list[tuple[np.ndarray, ...]] = []
        names = tuple(n for n, s in self._sources.items() if s.chunks)
        for index, name in enumerate(names):
            chunks = self._sources[name].chunks
            for i, chunk in enumerate(chunks):
                dones = chunk.dones.copy()
                last = i + 1 == len(chunks)
                if last or chunks[i + 1].sequence != chunk.sequence + 1:
                    dones[-1] = True
                rows.append(
                    (
                        chunk.observations,
                        chunk.actions,
                        chunk.rewards,
                        chunk.terminated,
                        dones,
                        chunk.next_observations,
                        np.full(chunk.num_steps, index),
                    )
                )
            self._sources[name].chunks = []
        if not rows:
            raise ValueError("no transitions collected")
        cols = [np.concatenate(c) for c in zip(*rows)]
        out = Transitions(
            observations=cols[0].astype(np.float32),
            actions=cols[1].astype(np.float32),
            rewards=cols[2].astype(np.float32),
            terminated=cols[3].astype(bool),
            dones=cols[4].astype(bool),
            next_observations=cols[5].astype(np.float32),
            source_index=cols[6].astype(np.int64),
            sources=names,
            policy_version=self.version,
        )
        self.version += 1
        return out

    def recent(self) -> tuple[float, float]:
        """(mean return, success rate) of the recent episodes; NaN when none finished."""
        if not self.episodes:
            return float("nan"), float("nan")
        return (
            float(np.mean([e.episode_return for e in self.episodes])),
            float(np.mean([e.success for e in self.episodes])),
        )
