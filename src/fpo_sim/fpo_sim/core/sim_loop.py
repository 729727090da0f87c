"""The sim node's loop without ROS: commands, e-stop, episodes and one env step per tick.

:class:`SimLoop` owns a simulator (anything shaped like :class:`fpo_sim.maniskill_adapter.SO100Sim` with one
env) and is driven by the node's timer at the control rate:

- :meth:`command` validates a joint position command (:mod:`so100_common.core.commands`) and, when
  valid and no e-stop is latched, makes it the target; otherwise counts it and changes nothing.
- :meth:`engage_estop` latches the e-stop: the target becomes the joint positions of that moment
  and every command is refused until :meth:`reset_estop`, which keeps holding that position.
- :meth:`tick` applies the current target for one control step (without any command, the arm
  holds its pose from the start of the episode). Episodes end after ``spec.episode_steps`` steps
  or on the task's termination; with ``auto_reset`` the next tick starts a new episode
  (:meth:`start_pending_episode` starts it at once).
- :meth:`on_estop_message` takes the ``estop`` topic: True latches, False never clears.
- :meth:`reset` starts a new episode now (the arm returns to the task's start pose; the target
  is cleared).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from so100_common.core.commands import REASONS, CommandRejected, validate_positions, validate_trajectory
from so100_common.core.config_fields import check_ranges, setting
from so100_common.core.tasks import TaskSpec
from so100_common.core.tasks import get as get_task
from so100_common.core.tick_stats import TickStats


@dataclass(frozen=True)
class SimNodeConfig:
    """What the sim node can be told; the defaults live here once (the node maps parameters onto it)."""

    env_id: str = "SO100Reach-v1"
    """Task (an so100_common.core.tasks id), e.g. SO100Reach-v1"""
    control_rate_hz: float = setting(0.0, 0.0, 1000.0)
    """Steps per second (real time); 0 = the task's control rate"""
    obs_mode: str = setting("state", choices=("state", "rgb"))
    """state, or rgb to render and publish the camera"""
    seed: int = setting(0, 0, 2**31 - 1)
    """Seed of the first episode; each later episode takes the next one"""
    auto_reset: bool = True
    """Start a new episode when one ends (time limit or termination)"""
    frame_id: str = "Base"
    """Frame of goals and markers: the robot's base link"""
    camera_frame_id: str = "camera"
    """frame_id of camera images and camera_info"""
    diagnostics_period_s: float = setting(1.0, 0.05, 60.0)
    """Period of /diagnostics, s"""
    warn_throttle_s: float = setting(2.0, 0.0, 600.0)
    """Least time between two warnings about rejected commands, s"""
    publish_rollouts: bool = False
    """Training: run in lockstep as fast as the acting policy answers (each state waits for its stamped
    command and policy/action, then one step) and publish fpo_msgs/RolloutChunk on rollouts"""
    rollout_chunk_steps: int = setting(64, 1, 100000)
    """Training: transitions per RolloutChunk"""
    publish_clock: bool = False
    """Simulated time: publish rosgraph_msgs/Clock on /clock, one control period further per step, stamp
    everything with it and run in lockstep as fast as the consumers allow (each state waits for the
    joint_trajectory command stamped with its time). Consumers run with use_sim_time:=true"""
    lockstep_timeout_s: float = setting(1.0, 0.01, 60.0)
    """Lockstep (publish_rollouts, publish_clock): wait this long (wall clock) for a state's answer, then step
    holding the last target; counted as lockstep_timeouts"""
    lockstep_poll_s: float = setting(0.001, 0.0001, 0.1)
    """Lockstep (publish_rollouts, publish_clock): period of the lockstep timer, s"""

    def __post_init__(self) -> None:
        check_ranges(self)
        try:
            get_task(self.env_id)
        except KeyError as err:  # a bad parameter: ValueError, one line and exit code 2 in run_node
            raise ValueError(f"SimNodeConfig.env_id: {err.args[0]}") from None


@dataclass(frozen=True)
class StepResult:
    """The state after one tick (rad, rad/s; goal in the task's frame)."""

    joint_positions_rad: np.ndarray
    joint_velocities_rad_s: np.ndarray
    goal: np.ndarray
    reward: float
    success: bool
    terminated: bool
    truncated: bool
    episode: int
    step: int
    spec: TaskSpec = field(repr=False, compare=False)

    @cached_property
    def observation(self) -> np.ndarray:
        """(obs_dim,) float32, the task's observation of this state; built on first use (a
        free-running node publishes joint states and never needs it)."""
        return self.spec.observation(self.joint_positions_rad, self.joint_velocities_rad_s, self.goal)


class PeriodStats(TickStats):
    """The sim loop's tick timing (:class:`TickStats`), summarised for its diagnostics."""

    def summary(self) -> dict[str, float]:
        if not self._periods:
            nan = float("nan")
            keys = ("period_p99_s", "period_max_s", "step_time_mean_s", "step_time_p99_s")
            times = dict.fromkeys(keys, nan)
            return {"rate_hz": 0.0, **times, "ticks": float(self.ticks), "missed_ticks": float(self.missed)}
        t = super().summary()
        return {
            "rate_hz": 1.0 / t.tick_period_mean_s,
            "period_p99_s": t.tick_period_p99_s,
            "period_max_s": t.tick_period_max_s,
            "step_time_mean_s": t.inference_time_mean_s,
            "step_time_p99_s": t.inference_time_p99_s,
            "ticks": float(t.ticks),
            "missed_ticks": float(t.missed),
        }


class SimLoop:
    """Commands, e-stop and stepping of one simulated SO-100 (see the module docstring)."""

    def __init__(self, sim, config: SimNodeConfig, clock=time.monotonic) -> None:
        if sim.num_envs != 1:
            raise ValueError("the sim loop drives one env")
        self.sim = sim
        self.config = config
        self.spec = sim.spec
        self.rate_hz = config.control_rate_hz or self.spec.control_rate_hz
        self.stats = PeriodStats(1.0 / self.rate_hz)
        self.rejected: Counter[str] = Counter({r: 0 for r in REASONS})
        self.accepted = 0
        self.estop_latched = False
        self.episode = 0
        self._clock = clock
        self._seed = config.seed
        self._target: np.ndarray | None = None
        self._hold = self.sim.joint_positions[0].copy()
        self._step = 0
        self._pending_reset = False
        self.episode_started_ns: int | None = None
        """When the current episode began, on the clock that stamps commands (the node sets it:
        real time only); a trajectory stamped earlier is refused as ``previous_episode``."""
        self.reset()

    # -- inputs ---------------------------------------------------------------------------------
    def command(self, positions, names=None) -> np.ndarray:
        """Make a position command the target; returns it (contract order), or raises CommandRejected."""
        return self._accept(lambda: validate_positions(positions, names))

    def command_trajectory(self, names, points, stamp_ns: int = 0) -> np.ndarray:
        """:meth:`command` for a one-point trajectory (objects with ``positions``). One stamped
        (``stamp_ns`` > 0) before :attr:`episode_started_ns` was computed from the previous
        episode's last state and arrived after the reset: applied, it would throw the new
        episode's arm towards the old episode's final pose, so it is refused."""

        def validate() -> np.ndarray:
            target = validate_trajectory(names, points)
            started = self.episode_started_ns
            if stamp_ns > 0 and started is not None and stamp_ns < started:
                raise CommandRejected(
                    "previous_episode",
                    f"stamped {(started - stamp_ns) / 1e6:.1f} ms before episode {self.episode} began",
                )
            return target

        return self._accept(validate)

    def _accept(self, validate) -> np.ndarray:
        try:
            target = validate()
            if self.estop_latched:
                raise CommandRejected("estop", "e-stop latched: commands are refused until ~/reset_estop")
        except CommandRejected as e:
            self.rejected[e.reason] += 1
            raise
        self.accepted += 1
        self._target = target
        return target

    def on_estop_message(self, engage: bool) -> bool:
        """The ``estop`` topic's value: True latches the e-stop; False does nothing (only
        :meth:`reset_estop` clears it). Returns whether this message latched it."""
        if not engage or self.estop_latched:
            return False
        self.engage_estop()
        return True

    def engage_estop(self) -> None:
        if not self.estop_latched:
            self.estop_latched = True
            self._target = self.sim.joint_positions[0].copy()

    def reset_estop(self) -> tuple[bool, str]:
        if not self.estop_latched:
            return False, "no e-stop is latched"
        self.estop_latched = False
        return True, "e-stop cleared; holding the position where it was engaged"

    def reset(self) -> int:
        """Start a new episode now; returns its number."""
        self.sim.reset(seed=self._seed)
        self._seed += 1
        self.episode += 1
        self._step = 0
        self._pending_reset = False
        self._hold = self.sim.joint_positions[0].copy()
        # Under a latched e-stop the arm holds wherever the new episode put it.
        self._target = self._hold.copy() if self.estop_latched else None
        return self.episode

    # -- the loop -------------------------------------------------------------------------------
    @property
    def target(self) -> np.ndarray:
        """(6,) the joint positions the arm is driven to now, rad."""
        return self._hold if self._target is None else self._target

    @property
    def reset_pending(self) -> bool:
        """The last step ended the episode and ``auto_reset`` will start the next one."""
        return self._pending_reset

    def start_pending_episode(self) -> bool:
        """Start the next episode now if one is pending (:attr:`reset_pending`); whether it did.
        :meth:`tick` does this before stepping; a lockstep node does it at once, to publish the new
        episode's first state for the policy to answer."""
        if not self._pending_reset:
            return False
        self.reset()
        return True

    def tick(self) -> StepResult:
        start = self._clock()
        self.start_pending_episode()
        reward, success, terminated = self.sim.apply_targets(self.target[None])
        self._step += 1
        truncated = self._step >= self.spec.episode_steps
        ended = bool(terminated[0]) or truncated
        self._pending_reset = ended and self.config.auto_reset
        result = self._result(float(reward[0]), bool(success[0]), bool(terminated[0]), truncated)
        self.stats.record(start, self._clock() - start)
        return result

    def state(self) -> StepResult:
        """The current state without stepping (reward 0, no episode end), e.g. right after a reset."""
        return self._result(0.0, bool(self.sim.success[0]), False, False)

    def image(self) -> np.ndarray | None:
        """(H, W, 3) uint8 camera image of the current state (``obs_mode="rgb"``), else None. Rendered
        on demand, so a node publishes the joint states of a tick before it renders the image."""
        images = self.sim.images()
        return None if images is None else images[0]

    def _result(self, reward: float, success: bool, terminated: bool, truncated: bool) -> StepResult:
        return StepResult(
            joint_positions_rad=self.sim.joint_positions[0],
            joint_velocities_rad_s=self.sim.joint_velocities[0],
            goal=self.sim.goal[0],
            reward=reward,
            success=success,
            terminated=terminated,
            truncated=truncated,
            episode=self.episode,
            step=self._step,
            spec=self.spec,
        )

    def diagnostics(self) -> dict[str, str]:
        """Key/value pairs for /diagnostics."""
        values = {f"rejected_{r}": str(n) for r, n in self.rejected.items()}
        values.update({k: f"{v:.6g}" for k, v in self.stats.summary().items()})
        values.update(
            env_id=self.spec.env_id,
            target_rate_hz=f"{self.rate_hz:.6g}",
            accepted_commands=str(self.accepted),
            rejected_total=str(sum(self.rejected.values())),
            estop_latched=str(self.estop_latched),
            episode=str(self.episode),
            step=str(self._step),
        )
        return values
