"""Our SO-100 reach tasks as ManiSkill3 environments (registered with ManiSkill on import).

``SO100ReachMS-v1``: move the tool centre point (TCP, :mod:`so100_common.core.kinematics`) to a goal
point. ``SO100ReachTwoGoalsMS-v1``: two goal points, mirror images across the base's x = 0 plane;
reaching either counts, so the task has two equally good answers (where a flow policy can beat a
Gaussian). These are the raw ManiSkill envs; use them through :mod:`fpo_sim.maniskill_adapter`
(gymnasium ids ``SO100Reach-v1`` and ``SO100ReachTwoGoals-v1``).

- The robot's base sits at the world origin with identity orientation, so ManiSkill's world frame
  is the ``Base`` frame the goals are stated in. A ground plane lies at z = 0.
- Episode start: the ``rest`` keyframe (arm folded) plus uniform noise of +-0.02 rad per joint,
  clipped to the joint limits (the rest pose has shoulder_lift, elbow_flex and gripper on a limit,
  and no episode starts outside one).
- Goals are reachable by construction: a joint configuration is sampled (within the targets the
  action mapping and the safety filter allow, ``COMMAND_MARGIN_RAD`` inside the limits) and its
  TCP taken as the goal, keeping only goals within 0.25 m of the start TCP and 3 cm above the
  ground, from configurations that do not fold the gripper into the upper arm (elbow_flex +
  wrist_flex <= ``MAX_WRIST_FOLD_RAD``; beyond it the arm collides with itself and cannot get
  there) (for two goals: the configuration and its shoulder_pan mirror, at least 0.1 m apart).
- Distance d: from the TCP to the nearest goal, m. Success: d < 0.02. Dense reward:
  1 - tanh(5 d) + 1[success]; normalised dense reward: half of it, in [0, 1].
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import sapien
import torch
from mani_skill.envs.sapien_env import BaseEnv
from mani_skill.sensors.camera import CameraConfig
from mani_skill.utils import sapien_utils
from mani_skill.utils.building import actors
from mani_skill.utils.building.ground import build_ground
from mani_skill.utils.registration import register_env
from mani_skill.utils.structs.pose import Pose
from mani_skill.utils.structs.types import SimConfig

from so100_common.core.joints import COMMAND_MARGIN_RAD, REST_POSE_RAD, clip_to_limits, shrunk_limits
from so100_common.core.kinematics import tcp_position

GOAL_RADIUS_M = 0.25
SUCCESS_THRESHOLD_M = 0.02
MIN_GOAL_HEIGHT_M = 0.03
MIN_GOAL_SEPARATION_M = 0.10
INIT_QPOS_NOISE_RAD = 0.02
# Goal configurations are drawn from this box around nothing in particular: pan, lift, elbow,
# wrist_flex (rad); wrist_roll and gripper stay at rest.
GOAL_Q_LOW = np.array([-1.2, -1.5, -0.2, -0.6])
GOAL_Q_HIGH = np.array([1.2, 0.3, 1.57, 1.6])
# Largest elbow_flex + wrist_flex of a goal configuration, rad. Beyond it the gripper folds into
# the upper arm: the simulated arm could not reach 18 of 300 sampled configurations, all with a sum
# of 2.39 rad or more (self-collision), and reached every one at 2.3 or less.
MAX_WRIST_FOLD_RAD = 2.3
_CANDIDATES = 64


def sample_goal_configs(rng: np.random.RandomState, start_tcp: np.ndarray, num_goals: int) -> np.ndarray:
    """(num_goals, 6) joint configurations whose TCPs are one episode's goals (module docstring)."""
    rest = np.array(REST_POSE_RAD)
    lower, upper = shrunk_limits(COMMAND_MARGIN_RAD)
    while True:
        q = np.tile(rest, (_CANDIDATES, 1))
        q[:, :4] = rng.uniform(GOAL_Q_LOW, GOAL_Q_HIGH, size=(_CANDIDATES, 4))
        q = np.clip(q, lower, upper)
        configs = [q]
        if num_goals == 2:
            mirrored = q.copy()
            mirrored[:, 0] = -q[:, 0]
            configs.append(mirrored)
        configs = np.stack(configs, axis=1)  # (C, K, 6)
        goals = tcp_position(configs)  # (C, K, 3)
        ok = np.all(np.linalg.norm(goals - start_tcp, axis=-1) <= GOAL_RADIUS_M, axis=1)
        ok &= np.all(goals[..., 2] >= MIN_GOAL_HEIGHT_M, axis=1)
        ok &= q[:, 2] + q[:, 3] <= MAX_WRIST_FOLD_RAD
        if num_goals == 2:
            ok &= np.linalg.norm(goals[:, 0] - goals[:, 1], axis=-1) >= MIN_GOAL_SEPARATION_M
        if ok.any():
            return configs[np.argmax(ok)]


def sample_goals(rng: np.random.RandomState, start_tcp: np.ndarray, num_goals: int) -> np.ndarray:
    """(3 num_goals,) reachable goal points for one episode (see module docstring)."""
    return tcp_position(sample_goal_configs(rng, start_tcp, num_goals)).reshape(-1)


@register_env("SO100ReachMS-v1", max_episode_steps=100)
class SO100ReachEnv(BaseEnv):
    """SO-100 reach: TCP to a sampled goal point (see the module docstring)."""

    SUPPORTED_ROBOTS: ClassVar = ["so100"]
    SUPPORTED_REWARD_MODES: ClassVar = ["normalized_dense", "dense", "sparse", "none"]
    num_goals = 1

    def __init__(self, *args, robot_uids="so100", camera_width=128, camera_height=128, **kwargs):
        self.camera_size = (camera_width, camera_height)
        super().__init__(*args, robot_uids=robot_uids, **kwargs)

    @property
    def _default_sim_config(self):
        return SimConfig(sim_freq=100, control_freq=20)

    @property
    def _default_sensor_configs(self):
        pose = sapien_utils.look_at(eye=[0.35, -0.45, 0.35], target=[0.0, -0.15, 0.08])
        width, height = self.camera_size
        return [CameraConfig("base_camera", pose, width, height, fov=np.pi / 3, near=0.01, far=10)]

    @property
    def _default_human_render_camera_configs(self):
        pose = sapien_utils.look_at(eye=[0.45, -0.6, 0.45], target=[0.0, -0.15, 0.08])
        return CameraConfig("render_camera", pose, 512, 512, fov=np.pi / 3, near=0.01, far=10)

    def _load_agent(self, options: dict):
        super()._load_agent(options, sapien.Pose())

    def _load_scene(self, options: dict):
        self.ground = build_ground(self.scene)
        colors = ([0.1, 0.8, 0.1, 1.0], [0.1, 0.3, 0.9, 1.0])
        self.goal_sites = [
            actors.build_sphere(
                self.scene,
                radius=SUCCESS_THRESHOLD_M / 2,
                color=colors[k],
                name=f"goal_{k}",
                body_type="kinematic",
                add_collision=False,
                initial_pose=sapien.Pose(),
            )
            for k in range(self.num_goals)
        ]

    def _initialize_episode(self, env_idx: torch.Tensor, options: dict):
        with torch.device(self.device):
            n = len(env_idx)
            rngs = self._batched_episode_rng[env_idx]
            noise = rngs.uniform(-INIT_QPOS_NOISE_RAD, INIT_QPOS_NOISE_RAD, size=len(REST_POSE_RAD))
            qpos = clip_to_limits(np.array(REST_POSE_RAD) + noise.reshape(n, -1))
            self.agent.reset(torch.tensor(qpos, dtype=torch.float32))
            self.agent.robot.set_pose(sapien.Pose())
            start_tcp = tcp_position(qpos)
            goals = np.stack([sample_goals(rngs.rngs[i], start_tcp[i], self.num_goals) for i in range(n)])
            if not hasattr(self, "goal_pos"):
                self.goal_pos = torch.zeros((self.num_envs, 3 * self.num_goals), dtype=torch.float32)
            self.goal_pos[env_idx] = torch.tensor(goals, dtype=torch.float32)
            for k, site in enumerate(self.goal_sites):
                site.set_pose(Pose.create_from_pq(self.goal_pos[env_idx, 3 * k : 3 * k + 3]))

    def tcp_in_base(self) -> torch.Tensor:
        """(N, 3) TCP position in the robot's base frame, m."""
        tcp_world = Pose.create_from_pq(self.agent.tcp_pos)
        return (self.agent.robot.pose.inv() * tcp_world).p

    def evaluate(self):
        tcp = self.tcp_in_base()
        goals = self.goal_pos.reshape(self.num_envs, self.num_goals, 3)
        distance = torch.linalg.norm(goals - tcp[:, None, :], dim=-1).min(dim=1).values
        return dict(success=distance < SUCCESS_THRESHOLD_M, distance=distance)

    def _get_obs_extra(self, info: dict):
        return dict(goal_pos=self.goal_pos.clone())

    def compute_dense_reward(self, obs, action, info: dict):
        return 1 - torch.tanh(5 * info["distance"]) + info["success"].float()

    def compute_normalized_dense_reward(self, obs, action, info: dict):
        return self.compute_dense_reward(obs, action, info) / 2


@register_env("SO100ReachTwoGoalsMS-v1", max_episode_steps=100)
class SO100ReachTwoGoalsEnv(SO100ReachEnv):
    """SO-100 reach with two mirrored goals; reaching either counts (see the module docstring)."""

    num_goals = 2
