"""The safety filter between a policy and the arm: the last word on every joint command.

ROS-free. The policy node feeds it joint states as they arrive (:meth:`SafetyFilter.observe`) and,
once per control tick, the policy's joint targets (:meth:`SafetyFilter.tick`); it answers with a
command to publish or with nothing.

**The invariant.** For joint ``j`` with URDF limits ``[lo, hi]`` (:mod:`so100_common.core.joints`)
shrunk by ``position_margin_rad`` to ``[lo_m, hi_m]``, measured position ``m`` (the last valid
joint state) moved onto the limits, ``p = clip(m, lo, hi)``, and the step ``s`` allowed this
tick, every command sent satisfies

    lo <= cmd <= hi,    |cmd - p| <= s    and    min(lo_m, p) <= cmd <= max(hi_m, p),

i.e. it is always within the joint limits, as the simulator's and the driver's command checks
define them (:func:`so100_common.core.joints.outside_limits` never flags it, also after the
float32 rounding of a message), and within one step of the measured pose. In normal operation
``p = m``; an arm measured beyond a limit (a reach episode starts at the rest pose, on the
elbow's and shoulder's limits, plus noise; a real arm may be calibrated a little off) is commanded
from the limit instead, never to its measured position outside it. Otherwise nothing is sent.
``cmd = clip(clip(target, lo_m, hi_m), p - s, p + s)``; a hold sends ``p``.

**States**, in priority order (the values are fpo_msgs/PolicyStatus's ``SAFETY_*`` constants):

- ``ESTOP``: a latched e-stop; nothing is sent until :meth:`SafetyFilter.reset_estop`.
- ``STARTING``: no valid joint state yet; nothing is sent.
- ``STALE_HOLD``: the newest valid joint state is older than ``stale_timeout_s``; the command is
  the last measured position ``p`` (step 0: nothing moves).
- ``NO_POLICY``: no policy output (no checkpoint loaded, or the policy failed to act); nothing is
  sent.
- ``WAITING_FOR_INPUT``: a policy is loaded but its task input is missing (no task goal of the
  policy's task yet); nothing is sent. The caller says which of the two (``tick(..., idle=)``).
- ``RAMPING``: a smooth start after any of the above. The first command is the measured position ``p``;
  the allowed step then grows linearly to its full value over ``ramp_ticks`` commands.
- ``ACTIVE``: policy targets pass through the limits and the per-tick step.

Policy targets that are not finite, or have the wrong length or joint names, are rejected: nothing
is sent that tick. Joint states with the wrong names are ignored (counted), as are non-finite ones
or ones far outside the URDF limits (a misread or an uncalibrated arm); they do not refresh the
watchdog. Every intervention is counted once per tick in :class:`SafetyCounters`, whose fields are
those of fpo_msgs/PolicyStatus.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

import numpy as np

from so100_common.core.config_fields import check_ranges, setting
from so100_common.core.joints import (
    COMMAND_MARGIN_RAD,
    JOINT_NAMES,
    NUM_JOINTS,
    clip_to_limits,
    lower_limits,
    reorder,
    shrunk_limits,
    upper_limits,
)


class SafetyState(enum.IntEnum):
    """Safety state; values equal fpo_msgs/PolicyStatus's SAFETY_* constants."""

    STARTING = 0
    RAMPING = 1
    ACTIVE = 2
    STALE_HOLD = 3
    ESTOP = 4
    NO_POLICY = 5
    WAITING_FOR_INPUT = 6


_IDLE_STATES = {SafetyState.NO_POLICY: "no policy", SafetyState.WAITING_FOR_INPUT: "waiting for input"}
"""The states of a tick without a target from the policy (fresh joint state, no e-stop), with
the reason the filter gives."""


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety filter. Angles in rad, times in s."""

    position_margin_rad: float = setting(COMMAND_MARGIN_RAD, 0.0, 0.5)
    """Each URDF joint limit is shrunk by this much (rad); commands stay inside."""
    max_step_rad: float = setting(0.1, 0.0, 0.5)
    """Largest change of an arm joint's command from its measured position in one tick (rad)."""
    gripper_max_step_rad: float = setting(0.25, 0.0, 1.0)
    """The same for the gripper (rad), which moves through a larger angle per step."""
    stale_timeout_s: float = setting(0.25, 0.001, 10.0)
    """Joint states older than this (s) trigger the watchdog: hold the last measured position."""
    ramp_ticks: int = setting(30, 0, 100000)
    """Smooth start: the allowed step grows from 0 to its full value over this many commands."""
    measured_tolerance_rad: float = setting(0.3, 0.0, 3.0)
    """Joint states further than this (rad) outside the URDF limits are ignored as misreads."""

    def __post_init__(self) -> None:
        check_ranges(self)
        span = upper_limits() - lower_limits()
        if np.any(2.0 * self.position_margin_rad >= span):
            raise ValueError(
                f"SafetyConfig.position_margin_rad={self.position_margin_rad} leaves no range for some joint"
            )

    @property
    def lower_rad(self) -> np.ndarray:
        """(6,) lowest commandable position per joint, contract order."""
        return shrunk_limits(self.position_margin_rad)[0]

    @property
    def upper_rad(self) -> np.ndarray:
        """(6,) highest commandable position per joint, contract order."""
        return shrunk_limits(self.position_margin_rad)[1]

    @property
    def step_rad(self) -> np.ndarray:
        """(6,) full per-tick step per joint, contract order."""
        step = np.full(NUM_JOINTS, self.max_step_rad)
        step[JOINT_NAMES.index("gripper")] = self.gripper_max_step_rad
        return step


@dataclass
class SafetyCounters:
    """Interventions, each counted at most once per tick; names as in fpo_msgs/PolicyStatus."""

    commands_sent: int = 0
    clamped_position: int = 0
    clamped_step: int = 0
    rejected_nonfinite: int = 0
    rejected_shape: int = 0
    stale_holds: int = 0
    estop_blocks: int = 0
    rejected_joint_states: int = 0
    """Joint states ignored (wrong names or length, not finite, far outside the limits).

    PolicyStatus has no field for it; /diagnostics reports it. Wrong names or lengths also count
    in ``rejected_shape``, as PolicyStatus documents."""

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SafetyDecision:
    """What one tick produced: a (6,) command in rad (contract order), or None for nothing."""

    state: SafetyState
    command: np.ndarray | None
    reason: str = ""


@dataclass
class _Measured:
    position_rad: np.ndarray
    velocity_rad_s: np.ndarray
    stamp_s: float


@dataclass
class SafetyFilter:
    """Stateful filter; one per controlled arm. Not thread-safe: call from one thread."""

    config: SafetyConfig = field(default_factory=SafetyConfig)
    counters: SafetyCounters = field(default_factory=SafetyCounters)
    state: SafetyState = SafetyState.STARTING
    _measured: _Measured | None = None
    _estop: bool = False
    _ramp_count: int = 0
    last_rejection: str = ""

    # Inputs -------------------------------------------------------------------------------------

    def observe(self, names, position_rad, velocity_rad_s=None, *, stamp_s: float) -> bool:
        """Store a joint state received at ``stamp_s`` (monotonic s). Returns False if ignored."""
        try:
            position = reorder(names, position_rad)
            velocity = (
                np.zeros(NUM_JOINTS)
                if velocity_rad_s is None or len(velocity_rad_s) == 0
                else reorder(names, velocity_rad_s)
            )
        except (ValueError, TypeError) as err:
            self.counters.rejected_shape += 1
            return self._reject_state(f"joint state: {err}")
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(velocity))):
            return self._reject_state("joint state is not finite")
        tol = self.config.measured_tolerance_rad
        if np.any(position < lower_limits() - tol) or np.any(position > upper_limits() + tol):
            return self._reject_state(f"joint state {np.round(position, 3).tolist()} far outside the limits")
        self._measured = _Measured(position, velocity, float(stamp_s))
        return True

    def estop(self) -> None:
        """Latch the e-stop. Only :meth:`reset_estop` clears it."""
        self._estop = True

    def reset_estop(self) -> None:
        """Clear a latched e-stop; the next commands ramp from the measured pose."""
        self._estop = False

    @property
    def estopped(self) -> bool:
        return self._estop

    @property
    def measured_position_rad(self) -> np.ndarray | None:
        """(6,) last valid measured position, contract order, or None before the first."""
        return None if self._measured is None else self._measured.position_rad.copy()

    @property
    def measured_velocity_rad_s(self) -> np.ndarray | None:
        return None if self._measured is None else self._measured.velocity_rad_s.copy()

    def state_age_s(self, now_s: float) -> float:
        """Seconds since the last valid joint state (inf before the first)."""
        return np.inf if self._measured is None else now_s - self._measured.stamp_s

    # The tick -----------------------------------------------------------------------------------

    def tick(
        self, now_s: float, target_rad=None, names=None, *, idle: SafetyState = SafetyState.NO_POLICY
    ) -> SafetyDecision:
        """Filter one tick's target.

        ``target_rad``: the policy's absolute joint targets in rad, (6,) in contract order, or in the
        order of ``names`` when given; None when there is none, and then ``idle`` says why:
        NO_POLICY (no policy loaded, or it failed to act) or WAITING_FOR_INPUT (a policy is loaded,
        its task input is missing).
        """
        if idle not in _IDLE_STATES:
            raise ValueError(f"idle must be one of {[s.name for s in _IDLE_STATES]}, got {idle!r}")
        if self._estop:
            self.counters.estop_blocks += 1
            return self._hold_nothing(SafetyState.ESTOP, "e-stop latched")
        if self._measured is None:
            return self._hold_nothing(SafetyState.STARTING, "no joint state yet")
        measured = clip_to_limits(self._measured.position_rad)
        if self.state_age_s(now_s) > self.config.stale_timeout_s:
            self.counters.stale_holds += 1
            self._enter(SafetyState.STALE_HOLD)
            return self._send(SafetyState.STALE_HOLD, measured.copy(), "joint states stale: holding")
        if target_rad is None:
            return self._hold_nothing(idle, _IDLE_STATES[idle])

        target = self._validate_target(target_rad, names)
        state = SafetyState.RAMPING if self._ramp_count <= self.config.ramp_ticks else SafetyState.ACTIVE
        if self.state not in (SafetyState.RAMPING, SafetyState.ACTIVE):
            self._enter(state)
        if target is None:
            return SafetyDecision(self.state, None, self.last_rejection)

        ramp = 1.0 if self.config.ramp_ticks == 0 else min(1.0, self._ramp_count / self.config.ramp_ticks)
        step = self.config.step_rad * ramp if self._ramp_count > 0 else np.zeros(NUM_JOINTS)
        inside = np.clip(target, self.config.lower_rad, self.config.upper_rad)
        # Between ``inside`` and ``measured``, both within the limits; clipping again costs nothing
        # and makes "only clip_to_limits output is sent" hold by construction.
        command = clip_to_limits(np.clip(inside, measured - step, measured + step))
        if np.any(inside != target):
            self.counters.clamped_position += 1
        if np.any(command != inside):
            self.counters.clamped_step += 1
        self._ramp_count += 1
        self.state = state
        return self._send(state, command, "")

    # Helpers ------------------------------------------------------------------------------------

    def _validate_target(self, target_rad, names) -> np.ndarray | None:
        try:
            if names is not None:
                target = reorder(names, target_rad)
            else:
                target = np.asarray(target_rad, dtype=float)
                if target.shape != (NUM_JOINTS,):
                    raise ValueError(f"policy target of shape {target.shape}, expected ({NUM_JOINTS},)")
        except (ValueError, TypeError) as err:
            self.counters.rejected_shape += 1
            self.last_rejection = f"policy target rejected: {err}"
            return None
        if not np.all(np.isfinite(target)):
            self.counters.rejected_nonfinite += 1
            self.last_rejection = "policy target rejected: not finite"
            return None
        return target

    def _reject_state(self, reason: str) -> bool:
        self.counters.rejected_joint_states += 1
        self.last_rejection = reason
        return False

    def _enter(self, state: SafetyState) -> None:
        """Leaving normal operation restarts the smooth start."""
        if state not in (SafetyState.RAMPING, SafetyState.ACTIVE):
            self._ramp_count = 0
        self.state = state

    def _hold_nothing(self, state: SafetyState, reason: str) -> SafetyDecision:
        self._enter(state)
        return SafetyDecision(state, None, reason)

    def _send(self, state: SafetyState, command: np.ndarray, reason: str) -> SafetyDecision:
        self.counters.commands_sent += 1
        return SafetyDecision(state, command, reason)
