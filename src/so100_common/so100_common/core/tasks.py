"""SO-100 task specs: THE observation function and THE action-to-joint-target mapping.

The simulator adapter (:mod:`fpo_sim.maniskill_adapter`) builds every observation and applies every action
through a :class:`TaskSpec`, and the policy node does the same from ``joint_states`` and
``task/state``, so a policy sees identical inputs in training and on the arm. A checkpoint stores
``TaskSpec.to_dict()`` as its ``task`` metadata; :func:`from_dict` rebuilds the spec from it.

Conventions (joint order, rad, rad/s, joint zero: :mod:`so100_common.core.joints`; positions in m
in the robot's ``Base`` frame: :mod:`so100_common.core.kinematics`):

**Observation layouts** (float32, concatenated in this order):

- ``"reach"`` (``SO100Reach-v1``, ``SO100ReachTwoGoals-v1``), from joints and goal only::

      q (6) rad | qd (6) rad/s | goal (3 K) m | tcp (3) m | goal_k - tcp for k = 1..K (3 K) m

  ``goal`` holds K target points (x, y, z, x, y, z, ...), ``tcp`` is the forward kinematics of q
  (:func:`so100_common.core.kinematics.tcp_position`), so nothing beyond ``joint_states`` and
  ``task/state`` is needed. obs_dim = 15 + 6 K: 21 for one goal, 27 for two.
- ``"joints_goal"`` (our pick-and-lift task ``SO100PickLift-v1``, and the shipped ManiSkill tasks
  ``PickCubeSO100-v1`` and ``SO100GraspCube-v1``, ids ``fpo_sim/PickCubeSO100-v1`` and
  ``fpo_sim/SO100GraspCube-v1`` here)::

      q (6) rad | qd (6) rad/s | goal (G)

  where ``goal`` is the task's extra state vector as ManiSkill builds it (object and goal poses,
  in ManiSkill's world frame, flattened in ManiSkill's key order). Only the simulator (or a
  perception system) knows it; the sim node publishes it as ``TaskState.goal``.

**Action mapping** (every task): an action a in [-1, 1]^6 (the env's action space, contract
order; values outside are clipped, NaN/Inf rejected) is a bounded joint step from the *measured*
joint positions::

      target = clip(q + clip(a, -1, 1) * max_delta_rad, lower_limits + m, upper_limits - m)

``max_delta_rad`` is the largest step per control step (a spec field; a checkpoint carries its own):

- the reach tasks: 0.1 rad for the five arm joints and 0.2 rad for the gripper, at most 2 rad/s
  commanded at 20 Hz. The simulated arm's PD drive realises about 40% of a step per tick, so the
  arm moves at up to about 0.8 rad/s. At ManiSkill's 0.05 rad the reach policy was slower to learn
  (benchmarks/README.md, "FPO vs PPO on the reach task").
- pick-and-lift: the reach tasks' bounds.
- the shipped ManiSkill tasks: 0.05 rad (arm) and 0.2 rad (gripper), ManiSkill's so100
  ``pd_joint_delta_pos`` bounds.

``m`` is ``limit_margin_rad``: :data:`so100_common.core.joints.COMMAND_MARGIN_RAD` (0.05 rad), where
the policy node's safety filter clamps commands by default. Both bounds are what the filter's
defaults let through unchanged (its step is 0.1 rad per tick for the arm, 0.25 rad for the gripper,
:mod:`fpo_policy.core.safety`), so a policy trained in the sim commands the arm exactly as it
learned to. The target is an absolute joint position in rad: what the sim's PD controller tracks
and what ``joint_trajectory`` / ``commands`` carry to the real arm.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields, replace

import numpy as np

from so100_common.core.joints import COMMAND_MARGIN_RAD, NUM_JOINTS, lower_limits, shrunk_limits, upper_limits
from so100_common.core.kinematics import tcp_position

SPEC_VERSION = 1
LAYOUTS = ("reach", "joints_goal")
# ManiSkill's so100 joint-delta bounds per control step, rad, contract order.
SO100_MAX_DELTA_RAD: tuple[float, ...] = (0.05, 0.05, 0.05, 0.05, 0.05, 0.2)
# The reach tasks' bounds: twice ManiSkill's for the arm joints (see the module docstring).
REACH_MAX_DELTA_RAD: tuple[float, ...] = (0.1, 0.1, 0.1, 0.1, 0.1, 0.2)


@dataclass(frozen=True)
class TaskSpec:
    """What a policy needs to know about a task outside the simulator. JSON-serialisable."""

    env_id: str
    """Gymnasium id, registered by :mod:`fpo_sim.envs` (e.g. ``"SO100Reach-v1"``)."""
    observation_layout: str
    """One of :data:`LAYOUTS`; see the module docstring."""
    goal_dim: int
    """Length of the goal vector (``TaskState.goal``). 3 K for the reach layout."""
    control_rate_hz: float
    """Rate at which actions are chosen and targets applied (one env step), Hz."""
    max_delta_rad: tuple[float, ...] = SO100_MAX_DELTA_RAD
    """(6,) largest joint step per control step for an action of +-1, rad."""
    episode_steps: int = 50
    """Steps before an episode is truncated."""
    success_threshold_m: float = 0.0
    """Reach: TCP-to-goal distance counted as success, m. 0 when the env decides success itself."""
    limit_margin_rad: float = COMMAND_MARGIN_RAD
    """Targets stay this far inside each URDF joint limit, rad (see the module docstring)."""
    version: int = SPEC_VERSION

    def __post_init__(self):
        if self.observation_layout not in LAYOUTS:
            raise ValueError(f"unknown observation_layout {self.observation_layout!r}; known: {LAYOUTS}")
        if self.observation_layout == "reach" and (self.goal_dim <= 0 or self.goal_dim % 3):
            raise ValueError(f"the reach layout needs goal_dim = 3 K > 0, got {self.goal_dim}")
        if self.goal_dim < 0:
            raise ValueError(f"goal_dim must be >= 0, got {self.goal_dim}")
        if len(self.max_delta_rad) != NUM_JOINTS or not all(d > 0 for d in self.max_delta_rad):
            raise ValueError(f"max_delta_rad must be {NUM_JOINTS} positive values, got {self.max_delta_rad}")
        if not self.control_rate_hz > 0 or self.episode_steps <= 0:
            raise ValueError("control_rate_hz and episode_steps must be positive")
        if not 0.0 <= self.limit_margin_rad < 0.5 * float(np.min(upper_limits() - lower_limits())):
            raise ValueError(
                f"limit_margin_rad must be >= 0 and leave every joint a range, got {self.limit_margin_rad}"
            )
        if self.version != SPEC_VERSION:
            raise ValueError(f"task spec version {self.version} is not supported (this reads {SPEC_VERSION})")

    @property
    def num_goals(self) -> int:
        """K, the number of goal points (reach layout); 0 otherwise."""
        return self.goal_dim // 3 if self.observation_layout == "reach" else 0

    @property
    def obs_dim(self) -> int:
        if self.observation_layout == "reach":
            return 2 * NUM_JOINTS + 3 + 2 * self.goal_dim
        return 2 * NUM_JOINTS + self.goal_dim

    @property
    def act_dim(self) -> int:
        return NUM_JOINTS

    @property
    def target_limits_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) target the action mapping produces, each (6,) in rad, contract order."""
        return shrunk_limits(self.limit_margin_rad)

    def observation(self, joint_positions_rad, joint_velocities_rad_s, goal) -> np.ndarray:
        """float32 (..., obs_dim) from q (..., 6) rad, qd (..., 6) rad/s and goal (..., goal_dim).

        Leading batch dimensions are allowed and must agree. Raises ValueError on wrong shapes.
        """
        q = np.asarray(joint_positions_rad, dtype=np.float64)
        qd = np.asarray(joint_velocities_rad_s, dtype=np.float64)
        g = np.asarray(goal, dtype=np.float64)
        if q.shape[-1:] != (NUM_JOINTS,) or qd.shape != q.shape:
            raise ValueError(f"joint positions {q.shape} and velocities {qd.shape} must both be (..., 6)")
        if g.shape != (*q.shape[:-1], self.goal_dim):
            raise ValueError(f"goal of shape {g.shape}; {self.env_id} needs (..., {self.goal_dim})")
        parts = [q, qd, g]
        if self.observation_layout == "reach":
            tcp = tcp_position(q)
            goals = g.reshape(*g.shape[:-1], self.num_goals, 3)
            parts += [tcp, (goals - tcp[..., None, :]).reshape(g.shape)]
        return np.concatenate(parts, axis=-1).astype(np.float32)

    def action_to_target(self, action, joint_positions_rad) -> np.ndarray:
        """(..., 6) absolute joint targets in rad, ``limit_margin_rad`` inside the joint limits (see the
        module docstring).

        Raises ValueError when the action is not (..., 6) or holds NaN/Inf.
        """
        a = np.asarray(action, dtype=np.float64)
        q = np.asarray(joint_positions_rad, dtype=np.float64)
        if a.shape[-1:] != (NUM_JOINTS,) or q.shape[-1:] != (NUM_JOINTS,):
            raise ValueError(f"action {a.shape} and joint positions {q.shape} must both be (..., 6)")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action holds NaN or Inf: {a}")
        step = np.clip(a, -1.0, 1.0) * np.asarray(self.max_delta_rad)
        return np.clip(q + step, *self.target_limits_rad)

    def to_dict(self) -> dict:
        """JSON-serialisable dict; :func:`from_dict` inverts it."""
        d = asdict(self)
        d["max_delta_rad"] = list(self.max_delta_rad)
        return d


def from_dict(d: dict) -> TaskSpec:
    """Rebuild a :class:`TaskSpec` from :meth:`TaskSpec.to_dict` output (e.g. checkpoint metadata).

    Raises ValueError on a non-dict, unknown or missing keys, or invalid values.
    """
    if not isinstance(d, dict):
        raise ValueError(f"a task spec must be a dict, got {type(d).__name__}")
    names = {f.name for f in fields(TaskSpec)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown task spec keys {unknown}")
    required = {f.name for f in fields(TaskSpec) if f.default is MISSING}
    missing = sorted(required - set(d))
    if missing:
        raise ValueError(f"task spec misses {missing}")
    kwargs = dict(d)
    # Specs written before limit_margin_rad existed mapped actions onto the plain URDF limits.
    kwargs.setdefault("limit_margin_rad", 0.0)
    try:
        if "max_delta_rad" in kwargs:
            kwargs["max_delta_rad"] = tuple(float(x) for x in kwargs["max_delta_rad"])
        for key, cast in (("goal_dim", int), ("episode_steps", int), ("version", int)):
            if key in kwargs:
                if isinstance(kwargs[key], bool) or float(kwargs[key]) != int(kwargs[key]):
                    raise ValueError(f"{key} must be an integer, got {kwargs[key]!r}")
                kwargs[key] = cast(kwargs[key])
        for key in ("control_rate_hz", "success_threshold_m", "limit_margin_rad"):
            if key in kwargs:
                kwargs[key] = float(kwargs[key])
    except (TypeError, ValueError) as e:
        raise ValueError(f"invalid task spec {d!r}: {e}") from e
    if not isinstance(kwargs["env_id"], str):
        raise ValueError(f"env_id must be a string, got {kwargs['env_id']!r}")
    return TaskSpec(**kwargs)


# The registry: every task fpo_sim registers, by gymnasium id. goal_dim of the shipped ManiSkill
# tasks depends on the observation mode; the adapter fills it in (see :func:`with_goal_dim`).
# Reach: 100 steps (5 s). The simulated arm realises about 40% of each commanded step per tick
# (its PD drive lags), so a far goal takes 1-2 s; 50-step episodes left too little time to arrive.
REACH = TaskSpec(
    "SO100Reach-v1",
    "reach",
    goal_dim=3,
    control_rate_hz=20.0,
    max_delta_rad=REACH_MAX_DELTA_RAD,
    episode_steps=100,
    success_threshold_m=0.02,
)
REACH_TWO_GOALS = replace(REACH, env_id="SO100ReachTwoGoals-v1", goal_dim=6)
PICK_CUBE = TaskSpec(
    "fpo_sim/PickCubeSO100-v1", "joints_goal", goal_dim=0, control_rate_hz=20.0, episode_steps=50
)
GRASP_CUBE = TaskSpec(
    "fpo_sim/SO100GraspCube-v1", "joints_goal", goal_dim=0, control_rate_hz=20.0, episode_steps=64
)
# Pick and lift (fpo_sim.maniskill_pick): the reach tasks' joint steps (the arm has to travel to
# the cube, then lift it), 100 steps (5 s), no early end.
PICK_LIFT = TaskSpec(
    "SO100PickLift-v1",
    "joints_goal",
    goal_dim=0,
    control_rate_hz=20.0,
    max_delta_rad=REACH_MAX_DELTA_RAD,
    episode_steps=100,
)
TASKS: dict[str, TaskSpec] = {s.env_id: s for s in (REACH, REACH_TWO_GOALS, PICK_CUBE, GRASP_CUBE, PICK_LIFT)}


def get(env_id: str) -> TaskSpec:
    """The registered spec of ``env_id`` (with or without a ``module:`` prefix)."""
    key = env_id.split(":")[-1]
    if key not in TASKS:
        raise KeyError(f"unknown task {env_id!r}; known: {sorted(TASKS)}")
    return TASKS[key]


def with_goal_dim(spec: TaskSpec, goal_dim: int) -> TaskSpec:
    """``spec`` with its goal length set (the shipped tasks' extras vary with the observation mode)."""
    return replace(spec, goal_dim=int(goal_dim))
