"""The policy node's control loop without ROS: one tick = observation -> ODE sampling -> target -> filter.

ROS-free. The node stores the newest joint state (into the :class:`~fpo_policy.core.safety.SafetyFilter`)
and the newest task goal, and calls :meth:`ControlLoop.tick` from a fixed-rate timer. A tick:

1. swaps in a policy that finished loading in the background (:class:`Reloader`), so a reload
   happens between two ticks and never costs one;
2. builds the observation with the task spec's observation function (the one the trainer used,
   :mod:`so100_common.core.tasks`), from the measured joint positions and velocities and the goal;
3. samples an action with ``Policy.act`` (the core's ODE sampling; zero-noise start by default);
4. maps it to absolute joint targets with the task spec's ``action_to_target``;
5. filters the targets through the safety filter, which decides what, if anything, is sent.

A policy output of the wrong shape or holding NaN/Inf reaches the filter as it is, which rejects
and counts it. When a command comes from the policy, the tick also returns the observation and the
unsquashed sample it was made from (:class:`PolicySample`): a node acting for training publishes
them, so the trainer scores exactly what was drawn. :class:`TickStats` keeps the timing figures
the node reports.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fpo_policy.core.policy import Policy, load_policy
from fpo_policy.core.safety import SafetyDecision, SafetyFilter, SafetyState
from fpo_policy.core.sampling import SOLVERS
from so100_common.core import tasks
from so100_common.core.config_fields import check_ranges, setting
from so100_common.core.tick_stats import TickStats, TimingSummary  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class ControlConfig:
    """Settings of the control loop. Rates in Hz, times in s."""

    control_rate_hz: float = setting(0.0, 0.0, 1000.0)
    """Tick rate (Hz). 0: the rate of the checkpoint's task, the rate it was trained at."""
    solver: str = ""
    """ODE solver for sampling: euler, midpoint or rk4. Empty: the checkpoint's."""
    steps: int = setting(0, 0, 1000)
    """ODE steps K. 0: the checkpoint's."""
    deterministic: bool = True
    """Zero-noise start of the ODE (x_0 = 0) instead of x_0 ~ N(0, I)."""
    stats_window: int = setting(1000, 2, 1000000)
    """Ticks kept for the timing statistics (mean, p99)."""

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.solver not in ("", *SOLVERS):
            raise ValueError(f"ControlConfig.solver must be one of {SOLVERS} or empty, got {self.solver!r}")


@dataclass(frozen=True)
class NodeConfig:
    """What the policy node loads and where it publishes."""

    checkpoint: str = ""
    """Checkpoint file to load at start and on ~/reload. Empty: none (nothing is commanded)."""
    publish_joint_trajectory: bool = True
    """Publish each command as trajectory_msgs/JointTrajectory (one point) on joint_trajectory."""
    publish_commands: bool = False
    """Publish each command as std_msgs/Float64MultiArray (contract order) on commands."""
    status_rate_hz: float = setting(2.0, 1.0, 100.0)
    """Rate of policy_status and /diagnostics (Hz)."""
    torch_threads: int = setting(1, 1, 64)
    """torch intra-op threads; one is fastest for the small networks here and leaves cores free."""
    publish_actions: bool = False
    """Acting for training: publish fpo_msgs/PolicyAction (observation and unsquashed sample) on
    policy/action with each command, act once per new joint state (after its task/state) and stamp
    each command and action with that joint state's stamp, so a lockstep sim pairs them."""

    def __post_init__(self) -> None:
        check_ranges(self)


# Policies -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy checked against its task spec, ready to act."""

    policy: Policy
    task: tasks.TaskSpec

    @property
    def sha256(self) -> str:
        return self.policy.sha256

    @property
    def version(self) -> int:
        return int(self.policy.metadata.version)

    @property
    def policy_id(self) -> str:
        return str(self.policy.metadata.policy_id)

    @property
    def path(self) -> str:
        return str(self.policy.path)


def load_for_control(path: str | Path, expected_sha256: str = "") -> LoadedPolicy:
    """Load a checkpoint for the control loop, with the task spec it carries.

    Raises ``CheckpointError`` (a ValueError) naming the file for a corrupt checkpoint, one whose
    SHA-256 differs from ``expected_sha256`` (if given), or one without a task spec that fits it;
    OSError when the file cannot be read.
    """
    policy = load_policy(path, expected_sha256)
    return LoadedPolicy(policy, policy.metadata.task_spec(path))


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of one background load."""

    path: str
    loaded: LoadedPolicy | None
    error: str = ""


class Reloader:
    """Loads checkpoints in a background thread; the control loop takes the result between ticks.

    One load at a time; a request made while one runs is queued (only the newest is kept).
    """

    def __init__(self, loader: Callable[[str, str], LoadedPolicy] = load_for_control) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._queued: tuple[str, str] | None = None
        self._done: deque[ReloadResult] = deque()
        self._thread: threading.Thread | None = None

    def request(self, path: str, expected_sha256: str = "") -> None:
        """Start loading ``path`` (verifying ``expected_sha256`` when given)."""
        with self._lock:
            self._queued = (str(path), expected_sha256)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="policy-reload", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._queued is None:
                    return
                path, sha = self._queued
                self._queued = None
            try:
                result = ReloadResult(path, self._loader(path, sha))
            except Exception as err:
                result = ReloadResult(path, None, f"{type(err).__name__}: {err}")
            with self._lock:
                self._done.append(result)

    def take(self) -> list[ReloadResult]:
        """Results finished since the last call, oldest first. Never blocks on a load."""
        with self._lock:
            done = list(self._done)
            self._done.clear()
        return done

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._queued is not None or (self._thread is not None and self._thread.is_alive())

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block until idle (for tests and start-up). True when idle."""
        deadline = time.monotonic() + timeout_s
        while self.busy:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Drop a queued request and wait for the running load to end (at shutdown). True when idle.

        The loader thread is a daemon; one still inside torch when the interpreter finalises is
        torn down mid-call, which aborts the process ("terminate called without an active
        exception"), so the owner joins it before exiting.
        """
        with self._lock:
            self._queued = None
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        return thread is None or not thread.is_alive()


# Timing --------------------------------------------------------------------------------------------


# The loop -----------------------------------------------------------------------------------------


@dataclass
class ReloadCounters:
    reloads_ok: int = 0
    reloads_failed: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class PolicySample:
    """What the policy drew this tick, for a trainer: it scores ``raw_action`` on ``observation``."""

    policy_id: str
    policy_version: int
    observation: np.ndarray
    """(O,) float32, the observation the policy acted on (before normalisation)."""
    raw_action: np.ndarray
    """(A,) float32, the unsquashed sample the command was made from."""


class Target(NamedTuple):
    """A tick's joint targets from the policy, or why there are none."""

    joints_rad: np.ndarray | None
    """(6,) absolute joint targets in rad, contract order; None: nothing to command."""
    reason: str = ""
    idle: SafetyState = SafetyState.NO_POLICY
    """The state of a tick without targets: NO_POLICY or WAITING_FOR_INPUT."""


def _waiting(reason: str) -> Target:
    return Target(None, reason, SafetyState.WAITING_FOR_INPUT)


@dataclass(frozen=True)
class TickResult:
    decision: SafetyDecision
    reloads: tuple[ReloadResult, ...] = ()
    """Loads that finished before this tick (swapped in when their ``loaded`` is set)."""
    sample: PolicySample | None = None
    """The policy's sample when this tick's command came from it (None when nothing was sent or
    the filter held without asking the policy)."""


@dataclass
class ControlLoop:
    """One arm's control loop. Call :meth:`tick` from one thread (the node's timer)."""

    config: ControlConfig = field(default_factory=ControlConfig)
    safety: SafetyFilter = field(default_factory=SafetyFilter)
    reloader: Reloader = field(default_factory=Reloader)
    current: LoadedPolicy | None = None
    reloads: ReloadCounters = field(default_factory=ReloadCounters)
    goal: np.ndarray | None = None
    """Newest task goal (TaskState.goal); None until one arrives."""
    goal_env_id: str = ""
    """Task id the goal came with (TaskState.env_id); empty: not stated."""
    last_action: np.ndarray | None = None
    act_errors: int = 0
    stats: TickStats | None = field(default=None, init=False)
    """Tick timing since :meth:`start_timing` (ticks, overruns, missed ticks)."""
    window: TickStats | None = field(default=None, init=False)
    """Tick timing since the last status report (:meth:`next_window`)."""
    _goal_stamp_ns: int = field(default=-1, init=False, repr=False)
    _sample: PolicySample | None = field(default=None, init=False, repr=False)

    def period_s(self) -> float:
        """Tick period: the configured rate, else the policy's task rate, else 20 Hz."""
        if self.config.control_rate_hz > 0:
            return 1.0 / self.config.control_rate_hz
        if self.current is not None:
            return 1.0 / self.current.task.control_rate_hz
        return 1.0 / 20.0

    def install(self, loaded: LoadedPolicy) -> None:
        self.current = loaded

    def load_now(self, path: str) -> str:
        """Load and install ``path`` in this thread (the start-up checkpoint); returns "" or, for a
        refused checkpoint (counted as a failed load; the loop stays as it was), why."""
        try:
            self.install(load_for_control(path))
        except (ValueError, OSError) as err:
            self.reloads.reloads_failed += 1
            self.reloads.last_error = f"{type(err).__name__}: {err}"
            return str(err)
        return ""

    # Inputs and the acting rule ------------------------------------------------------------------

    def observe_goal(self, goal, env_id: str, stamp_ns: int) -> None:
        """Store a task/state: its goal, the task id it names and its stamp (ns)."""
        self.goal = np.asarray(goal, dtype=np.float64)
        self.goal_env_id = env_id
        self._goal_stamp_ns = int(stamp_ns)

    def ready_to_act(self, state_stamp_ns: int | None, pending_goal_stamp_ns: int | None = None) -> bool:
        """Acting for training (a lockstep sim): act once per new joint state, and only once the
        task/state of the same moment is in. ``state_stamp_ns``: the stamp of a joint state not yet
        acted on (None: there is none); ``pending_goal_stamp_ns``: of a task/state not yet stored."""
        if state_stamp_ns is None:
            return False
        goal_stamp = self._goal_stamp_ns if pending_goal_stamp_ns is None else pending_goal_stamp_ns
        return goal_stamp >= state_stamp_ns

    def on_estop_message(self, engage: bool) -> bool:
        """The ``estop`` topic's value: True latches the filter's e-stop; False does nothing (only
        :meth:`reset_estop` clears it). Returns whether this message latched it."""
        if not engage or self.safety.estopped:
            return False
        self.safety.estop()
        return True

    def reset_estop(self) -> bool:
        """Clear the e-stop (the next commands ramp from the measured pose); whether one was latched."""
        was_latched = self.safety.estopped
        self.safety.reset_estop()
        return was_latched

    def request_update(self, path: str, sha256: str) -> bool:
        """An announced policy (checkpoint path and SHA-256): load it in the background unless it is
        the one running, which the latched announcement repeats. Whether a load was requested."""
        if self.current is not None and self.current.sha256 == sha256.strip().lower():
            return False
        self.reloader.request(path, sha256)
        return True

    # Timing --------------------------------------------------------------------------------------

    def start_timing(self) -> None:
        """Start the tick statistics at the current period (after the start-up load)."""
        self.stats = TickStats(self.period_s(), self.config.stats_window)
        self.window = TickStats(self.period_s(), self.config.stats_window)

    def record_tick(self, start_s: float, work_s: float) -> None:
        """One tick that started at ``start_s`` and took ``work_s`` of work, into both statistics."""
        self.stats.record(start_s, work_s)
        self.window.record(start_s, work_s)

    def next_window(self) -> None:
        """Start a new status window."""
        self.window = TickStats(self.stats.period_s, self.config.stats_window)

    def retime(self, period_s: float) -> None:
        """The tick period changed (a reload brought another task rate)."""
        self.stats.period_s = self.window.period_s = period_s

    def swap_pending(self) -> list[ReloadResult]:
        """Swap in what the reloader finished; a failed load leaves the running policy."""
        done = self.reloader.take()
        for result in done:
            if result.loaded is not None:
                self.current = result.loaded
                self.reloads.reloads_ok += 1
            else:
                self.reloads.reloads_failed += 1
                self.reloads.last_error = result.error
        return done

    def target(self) -> Target:
        """This tick's joint targets from the policy or, when there are none, why.

        None with NO_POLICY when there is no policy or it raised; None with WAITING_FOR_INPUT when a
        policy is loaded but its input is not there (no joint state, or no goal of its task's length
        for its task). A policy output of the wrong shape or not finite is returned as it is, for
        the filter to reject and count.
        """
        loaded = self.current
        q = self.safety.measured_position_rad
        if loaded is None:
            return Target(None, "no policy loaded")
        if q is None:
            return _waiting("no joint state yet")
        if self.goal_env_id and self.goal_env_id != loaded.task.env_id:
            return _waiting(f"task/state is for {self.goal_env_id}, the policy for {loaded.task.env_id}")
        goal = np.zeros(0) if loaded.task.goal_dim == 0 else self.goal
        if goal is None or goal.shape != (loaded.task.goal_dim,):
            got = "none" if goal is None else f"length {goal.size}"
            return _waiting(f"waiting for a task/state goal of length {loaded.task.goal_dim} (got {got})")
        obs = loaded.task.observation(q, self.safety.measured_velocity_rad_s, goal)
        try:
            action, raw = loaded.policy.act_with_raw(
                obs[None, :],
                deterministic=self.config.deterministic,
                solver=self.config.solver or None,
                steps=self.config.steps or None,
            )
        except (RuntimeError, ValueError) as err:
            self.act_errors += 1
            return Target(None, f"policy failed to act: {err}")
        self._sample = PolicySample(loaded.policy_id, loaded.version, obs, np.asarray(raw, np.float32)[0])
        action = np.asarray(action, dtype=np.float64)
        action = action[0] if action.ndim == 2 and action.shape[0] == 1 else action
        self.last_action = action
        if action.shape != (loaded.task.act_dim,) or not np.all(np.isfinite(action)):
            return Target(action)
        return Target(loaded.task.action_to_target(action, q))

    def tick(self, now_s: float) -> TickResult:
        """One control tick at ``now_s`` (monotonic s)."""
        reloads = tuple(self.swap_pending())
        self._sample = None
        if self.safety.estopped or self.safety.state_age_s(now_s) > self.safety.config.stale_timeout_s:
            return TickResult(self.safety.tick(now_s, None), reloads)  # the filter holds: no inference
        target, why, idle = self.target()
        decision = self.safety.tick(now_s, target, idle=idle)
        if target is None and decision.state == idle:
            decision = replace(decision, reason=why)
        sample = self._sample if decision.command is not None else None
        return TickResult(decision, reloads, sample)

    @property
    def state(self) -> SafetyState:
        return self.safety.state
