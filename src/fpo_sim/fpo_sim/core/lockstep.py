"""Lockstep rollout recording for the trainer node, without ROS.

FPO scores the flow-matching loss of the exact unsquashed sample the acting policy drew, on the
observation it drew it for, and each action must drive exactly one env step. With
``publish_rollouts`` the sim node therefore runs in lockstep, as fast as its consumers allow:

1. it publishes a state: ``task/state`` and ``joint_states``, both with one stamp s;
2. it waits (:class:`Lockstep`) for the answer to s: the command (JointTrajectory whose
   ``header.stamp`` is s) and the acting policy's ``fpo_msgs/PolicyAction`` stamped s (the
   observation it acted on and its unsquashed sample). Answers to other stamps are late and are
   discarded, never applied (counted);
3. with both in hand it applies the command for exactly one env step and records the transition
   (:class:`RolloutRecorder`): observation and action from the PolicyAction; reward, terminated,
   truncated and success from the step; the next observation built by the task's one observation
   function (:mod:`so100_common.core.tasks`) before any reset. A PolicyAction whose observation
   is not the one published for its state (beyond float32 rounding) is recorded as it came, and
   counted: that transition does not start from the state the env stepped from. Without a
   complete answer within ``timeout_s`` it steps once with the last target (nothing stalls) and
   records nothing: the rollout is cut there;
4. an episode that ends is reset at once, so the next state published is the new episode's first.

The same pairing, with the command alone (``with_sample=False``), paces the sim node on simulated
time (``publish_clock``, no recording): each state waits for the command stamped with its time.

Transitions go out in :class:`Chunk` s of at most ``chunk_steps``, each from one policy (a new
policy id or version flushes the chunk). ``sequence`` counts a source's chunks; consecutive
numbers continue each other. A cut marks the last recorded transition ``truncated`` (the trainer
bootstraps from its next observation) or, when that transition has already gone out, skips a
sequence number, so the trainer never joins transitions that do not follow each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from so100_common.core.rollout_chunk import ActionSample, Chunk

# The acting policy rebuilds the observation from the published joint state and goal and sends it
# back as float32: equal to the published one up to that rounding.
_OBSERVATION_ATOL = 1e-5


@dataclass
class _Pending:
    policy_id: str
    policy_version: int
    rows: list[tuple] = field(default_factory=list)


class RolloutRecorder:
    """Groups recorded transitions into :class:`Chunk` s (see the module docstring)."""

    def __init__(self, chunk_steps: int) -> None:
        if chunk_steps < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
        self.chunk_steps = chunk_steps
        self.sequence = 0
        self.transitions = 0
        self.cuts = 0
        self.chunks = 0
        self.observation_mismatches = 0
        self._pending: _Pending | None = None
        self._last_sent_open = False
        """Whether the last chunk sent ended on a transition that the next one may continue."""

    def record(
        self,
        sample: ActionSample,
        reward: float,
        terminated: bool,
        truncated: bool,
        next_observation: np.ndarray,
        success: bool,
        published_observation: np.ndarray | None = None,
    ) -> list[Chunk]:
        """Record one transition; returns the chunks completed by it (oldest first).

        ``published_observation``: the observation of the state the sample answers, as published;
        a sample drawn on another one is counted in :attr:`observation_mismatches`.
        """
        if published_observation is not None and not np.allclose(
            sample.observation, published_observation, atol=_OBSERVATION_ATOL
        ):
            self.observation_mismatches += 1
        out: list[Chunk] = []
        pending = self._pending
        if pending is not None and (pending.policy_id, pending.policy_version) != (
            sample.policy_id,
            sample.policy_version,
        ):
            out += self.flush()
        if self._pending is None:
            self._pending = _Pending(sample.policy_id, int(sample.policy_version))
        row = (
            np.asarray(sample.observation, dtype=np.float32),
            np.asarray(sample.action, dtype=np.float32),
            float(reward),
            bool(terminated),
            bool(truncated),
            np.asarray(next_observation, dtype=np.float32),
            bool(success),
        )
        self._pending.rows.append(row)
        self.transitions += 1
        if len(self._pending.rows) >= self.chunk_steps:
            out += self.flush()
        return out

    def cut(self) -> None:
        """The next step has no recorded transition: end continuity at the last recorded one."""
        self.cuts += 1
        if self._pending is not None and self._pending.rows:
            obs, act, reward, terminated, _, next_obs, success = self._pending.rows[-1]
            self._pending.rows[-1] = (obs, act, reward, terminated, True, next_obs, success)
        elif self._last_sent_open:
            # The last transition already went out: a skipped sequence number tells the trainer.
            self.sequence += 1
            self._last_sent_open = False

    def flush(self) -> list[Chunk]:
        """The pending transitions as a chunk (none when there are none)."""
        pending, self._pending = self._pending, None
        if pending is None or not pending.rows:
            return []
        cols = list(zip(*pending.rows))
        chunk = Chunk(
            sequence=self.sequence,
            policy_id=pending.policy_id,
            policy_version=pending.policy_version,
            observations=np.stack(cols[0]),
            actions=np.stack(cols[1]),
            rewards=np.asarray(cols[2], dtype=np.float32),
            terminated=np.asarray(cols[3], dtype=bool),
            truncated=np.asarray(cols[4], dtype=bool),
            next_observations=np.stack(cols[5]),
            success=np.asarray(cols[6], dtype=bool),
        )
        self.sequence += 1
        self.chunks += 1
        self._last_sent_open = not bool(chunk.dones[-1])
        return [chunk]

    def counters(self) -> dict[str, int]:
        return {
            "rollout_transitions": self.transitions,
            "rollout_cuts": self.cuts,
            "rollout_chunks": self.chunks,
            "rollout_observation_mismatches": self.observation_mismatches,
        }


@dataclass(frozen=True)
class Answer:
    """What arrived for a published state: the command (as the node received it) and the sample."""

    stamp_ns: int
    command: object | None
    sample: ActionSample | None
    complete: bool
    """Everything the lockstep waits for arrived (else the wait timed out)."""


class Lockstep:
    """Waits for the answer to the last published state (see the module docstring).

    Args:
        timeout_s: how long to wait for a complete answer (monotonic s).
        with_sample: an answer needs the acting policy's sample as well as the command (rollouts);
            False: the command alone answers (simulated time without recording).
    """

    def __init__(self, timeout_s: float, with_sample: bool = True) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.with_sample = with_sample
        self.stamp_ns: int | None = None
        self._since_s = 0.0
        self._command: object | None = None
        self._sample: ActionSample | None = None
        self.answered = 0
        self.timeouts = 0
        self.late_commands = 0
        self.late_samples = 0

    def published(self, stamp_ns: int, now_s: float) -> None:
        """A state stamped ``stamp_ns`` went out at ``now_s`` (monotonic s): wait for its answer."""
        self.stamp_ns, self._since_s = int(stamp_ns), now_s
        self._command = self._sample = None

    def offer_command(self, stamp_ns: int, command: object) -> bool:
        """A command stamped ``stamp_ns`` arrived; True when it answers the waiting state."""
        if self.stamp_ns is None or stamp_ns != self.stamp_ns or self._command is not None:
            self.late_commands += 1
            return False
        self._command = command
        return True

    def offer_sample(self, sample: ActionSample) -> bool:
        """A PolicyAction arrived; True when it answers the waiting state."""
        if self.stamp_ns is None or sample.stamp_ns != self.stamp_ns or self._sample is not None:
            self.late_samples += 1
            return False
        self._sample = sample
        return True

    def abandon(self) -> None:
        """Stop waiting without counting anything (the state was superseded, e.g. by a reset)."""
        self.stamp_ns, self._command, self._sample = None, None, None

    def poll(self, now_s: float) -> Answer | None:
        """The answer once complete, or whatever arrived once ``timeout_s`` has passed; else None.

        Returning an answer ends the wait: call :meth:`published` for the next state.
        """
        if self.stamp_ns is None:
            return None
        complete = self._command is not None and (self._sample is not None or not self.with_sample)
        answer = Answer(self.stamp_ns, self._command, self._sample, complete)
        if complete:
            self.answered += 1
        elif now_s - self._since_s >= self.timeout_s:
            self.timeouts += 1
        else:
            return None
        self.stamp_ns, self._command, self._sample = None, None, None
        return answer

    def counters(self) -> dict[str, int]:
        return {
            "lockstep_answered": self.answered,
            "lockstep_timeouts": self.timeouts,
            "lockstep_late_commands": self.late_commands,
            "lockstep_late_samples": self.late_samples,
        }
