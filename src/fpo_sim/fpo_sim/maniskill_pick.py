"""Our SO-100 pick-and-lift task as a ManiSkill3 environment (registered with ManiSkill on import).

``SO100PickLiftMS-v1``: pick up the cube from the table and hold it lifted. It is ManiSkill's
PickCubeSO100-v1 scene (table, 2.5 cm red cube, the SO-100 at the table's edge; our own camera,
below) with the rules of :mod:`fpo_sim.core.pick_reward`: a staged dense reward (reach, grasp,
lift) and success = the cube held 4 cm above the table. Use it through
:mod:`fpo_sim.maniskill_adapter` (gymnasium id ``SO100PickLift-v1``).

Why not PickCubeSO100-v1's own rules: its success asks the cube to be placed within 1.6 cm of a
random point in the air with the arm at rest, and its reward pays for that placement; lifting is
the skill a pick needs first, and a success that says so can be checked from the camera image.

- Frames: ManiSkill's world frame (the table top is z = 0; the robot's base stands at
  (-0.725, 0, 0), turned 90 degrees about z, as in PickCubeSO100-v1).
- Episode start (each drawn from the episode's seed): the arm at ManiSkill's table pose for the
  SO-100 (0, 0, 0, pi/2, pi/2, 0 rad) plus normal noise of 0.02 rad per joint, clipped to the joint
  limits; the cube flat on the table, its centre uniform in the 10 x 10 cm square around
  (-0.46, 0), turned uniformly about z. The green marker (no collision) shows the lift target
  above the cube's start.
- Jaw torque: the gripper joint's drive is capped at ``jaw_torque_limit_nm`` (a ``gym.make``
  keyword, default :data:`JAW_TORQUE_LIMIT_NM`), what the real jaw servo gives under the driver's
  default limit (``gripper_max_torque`` 500: half the STS3215's stall torque of about 1.9 N m at
  7.4 V). ManiSkill's SO-100 caps every joint at 100 N m: with that, closing on the cube squeezes
  it out of the jaw within a few steps and no grasp lasts (benchmarks/README.md).
- ``pre_grasp_start_fraction`` (a ``gym.make`` keyword, default 0): the share of episodes that
  start instead with the open jaw around the cube (:mod:`fpo_sim.core.grasp_ik`; the cube where
  it was drawn), a reverse curriculum for training. Evaluations use the default.
- Camera (``base_camera``, 128 x 128, with ``obs_mode="rgb"``): ManiSkill's PickCubeSO100 camera
  looks almost straight down, where a lifted cube hides under the jaw; ours faces the robot from
  across the table, a little to its left and above the workspace (:data:`CAMERA_EYE_M` towards
  :data:`CAMERA_TARGET_M`), so the table, the arm and a lifted cube are in view wherever the pick
  policies carry it (10 cm up and up to 25 cm to the side).
- Observation extras (``TaskState.goal`` of the ``joints_goal`` layout, in this order):
  is_grasped (1), tcp_pose (7: position, quaternion wxyz), goal_pos (3: the lift target), and with
  state observations obj_pose (7), tcp_to_obj_pos (3), obj_to_goal_pos (3): 24 values.
"""

from __future__ import annotations

import numpy as np
import sapien
import torch
from mani_skill.envs.tasks.tabletop.pick_cube import PickCubeEnv
from mani_skill.sensors.camera import CameraConfig
from mani_skill.utils import sapien_utils
from mani_skill.utils.registration import register_env
from mani_skill.utils.structs.pose import Pose

from fpo_sim.core.grasp_ik import pre_grasp_configuration
from fpo_sim.core.pick_reward import LIFT_HEIGHT_M, MAX_REWARD, pick_lift_reward, pick_lift_success
from so100_common.core.joints import clip_to_limits

# ManiSkill's table-scene start pose of the SO-100, rad, contract order, and its base pose.
TABLE_START_QPOS_RAD = (0.0, 0.0, 0.0, np.pi / 2, np.pi / 2, 0.0)
INIT_QPOS_NOISE_RAD = 0.02
JAW_TORQUE_LIMIT_NM = 1.0
"""Force limit of the gripper joint's drive, N m (module docstring)."""
CAMERA_EYE_M = (-0.18, 0.12, 0.26)
CAMERA_TARGET_M = (-0.55, 0.08, 0.06)
CAMERA_FOV_RAD = 1.0
"""The task camera (module docstring): position, look-at point (world frame, m), vertical field of view."""
BASE_POSITION_M = (-0.725, 0.0, 0.0)
# The base is turned +90 degrees about z: world = Rz(90) base + BASE_POSITION_M.
_BASE_QUAT_WXYZ = (np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4))


def base_from_world(p_world) -> np.ndarray:
    """(3,) a world-frame point in the robot's Base frame, m."""
    x, y, z = np.asarray(p_world, dtype=np.float64) - np.asarray(BASE_POSITION_M)
    return np.array([y, -x, z])


def world_from_base(p_base) -> np.ndarray:
    """(3,) a Base-frame point in the world frame, m (inverse of :func:`base_from_world`)."""
    x, y, z = np.asarray(p_base, dtype=np.float64)
    return np.array([-y, x, z]) + np.asarray(BASE_POSITION_M)


@register_env("SO100PickLiftMS-v1", max_episode_steps=100)
class SO100PickLiftEnv(PickCubeEnv):
    """SO-100 pick-and-lift on ManiSkill's PickCubeSO100 table (see the module docstring)."""

    def __init__(
        self,
        *args,
        robot_uids="so100",
        pre_grasp_start_fraction: float = 0.0,
        jaw_torque_limit_nm: float = JAW_TORQUE_LIMIT_NM,
        **kwargs,
    ):
        if not 0.0 <= pre_grasp_start_fraction <= 1.0:
            raise ValueError(f"pre_grasp_start_fraction must be in [0, 1], got {pre_grasp_start_fraction}")
        if not jaw_torque_limit_nm > 0.0:
            raise ValueError(f"jaw_torque_limit_nm must be positive, got {jaw_torque_limit_nm}")
        self.pre_grasp_start_fraction = float(pre_grasp_start_fraction)
        self.jaw_torque_limit_nm = float(jaw_torque_limit_nm)
        super().__init__(*args, robot_uids=robot_uids, robot_init_qpos_noise=INIT_QPOS_NOISE_RAD, **kwargs)

    @property
    def _default_sensor_configs(self):
        pose = sapien_utils.look_at(eye=list(CAMERA_EYE_M), target=list(CAMERA_TARGET_M))
        return [CameraConfig("base_camera", pose, 128, 128, CAMERA_FOV_RAD, 0.01, 100)]

    def _load_agent(self, options: dict):
        super()._load_agent(options)
        jaw = self.agent.robot.active_joints_map["gripper"]
        jaw.set_drive_properties(jaw.stiffness, jaw.damping, force_limit=self.jaw_torque_limit_nm)

    def _initialize_episode(self, env_idx: torch.Tensor, options: dict):
        with torch.device(self.device):
            n = len(env_idx)
            self.table_scene.initialize(env_idx)
            rngs = self._batched_episode_rng[env_idx]
            noise = rngs.normal(0.0, INIT_QPOS_NOISE_RAD, size=len(TABLE_START_QPOS_RAD)).reshape(n, -1)
            qpos = clip_to_limits(np.array(TABLE_START_QPOS_RAD) + noise)
            self.agent.reset(torch.tensor(qpos, dtype=torch.float32))
            self.agent.robot.set_pose(sapien.Pose(list(BASE_POSITION_M), q=list(_BASE_QUAT_WXYZ)))

            half = self.cube_spawn_half_size
            xy = rngs.uniform(-half, half, size=2).reshape(n, 2) + np.array(self.cube_spawn_center)
            yaw = rngs.uniform(0.0, 2 * np.pi, size=1).reshape(n)
            xyz = np.concatenate([xy, np.full((n, 1), self.cube_half_size)], axis=1)
            quat = np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], axis=1)
            self.cube.set_pose(
                Pose.create_from_pq(
                    torch.tensor(xyz, dtype=torch.float32), torch.tensor(quat, dtype=torch.float32)
                )
            )
            goal = xyz.copy()
            goal[:, 2] += LIFT_HEIGHT_M
            self.goal_site.set_pose(Pose.create_from_pq(torch.tensor(goal, dtype=torch.float32)))
            if self.pre_grasp_start_fraction > 0:
                self._start_some_at_the_cube(rngs, qpos, xyz, yaw)

    def _start_some_at_the_cube(self, rngs, qpos: np.ndarray, xyz: np.ndarray, yaw: np.ndarray) -> None:
        """Put the open jaw around the cube in a ``pre_grasp_start_fraction`` share of episodes."""
        draws = rngs.uniform(0.0, 1.0, size=1).reshape(-1)
        changed = False
        for i in np.flatnonzero(draws < self.pre_grasp_start_fraction):
            search = np.random.default_rng(int(rngs.rngs[i].randint(2**31)))
            q = pre_grasp_configuration(
                base_from_world(xyz[i]), float(yaw[i]) - np.pi / 2, self.cube_half_size, qpos[i], search
            )
            if q is not None:
                qpos[i] = q
                changed = True
        if changed:
            self.agent.reset(torch.tensor(qpos, dtype=torch.float32))

    def cube_lift_m(self) -> torch.Tensor:
        """(N,) height of the cube's bottom above the table, m (the cube's centre height minus its
        half size: exact while it lies flat or hangs level, a lower bound when tilted)."""
        return self.cube.pose.p[:, 2] - self.cube_half_size

    def evaluate(self):
        is_grasped = self.agent.is_grasping(self.cube)
        lift = self.cube_lift_m()
        tcp_to_cube = torch.linalg.norm(self.cube.pose.p - self.agent.tcp_pose.p, axis=1)
        return {
            "success": pick_lift_success(is_grasped, lift),
            "is_grasped": is_grasped,
            "lift_m": lift,
            "tcp_to_cube_m": tcp_to_cube,
        }

    def compute_dense_reward(self, obs, action, info: dict):
        return pick_lift_reward(info["tcp_to_cube_m"], info["is_grasped"], info["lift_m"])

    def compute_normalized_dense_reward(self, obs, action, info: dict):
        return self.compute_dense_reward(obs, action, info) / MAX_REWARD
