"""The ManiSkill3 adapter: SO-100 tasks as gymnasium envs with numpy float32 in and out.

Every observation is built by the task's :class:`so100_common.core.tasks.TaskSpec` (``observation``)
and every action is applied through it (``action_to_target``: a bounded joint step from the
measured joint positions, sent to ManiSkill's absolute ``pd_joint_pos`` controller), so a policy
trained here sees exactly what the policy node gives it on the real arm.

- :class:`SO100Sim`: the batched engine (N envs) the gym envs and the sim node share: reset,
  apply absolute joint targets, read joints, goal, reward, success and camera images.
- :class:`SO100Env` (gymnasium.Env, one env): ``observation_space`` is the spec's float32 vector
  (``obs_mode="state"``), or a Dict of it and an ``rgb`` uint8 (H, W, 3) camera image
  (``obs_mode="rgb"``). ``action_space`` is Box(-1, 1, (6,), float32). Episodes are truncated
  after ``spec.episode_steps``; the reach tasks never terminate early, the shipped ManiSkill tasks
  terminate on success (ManiSkill's rule).
- :class:`SO100VectorEnv` (gymnasium.vector.VectorEnv, many envs on ManiSkill's GPU simulation)
  with same-step autoreset.

Backend: ``sim_backend="auto"`` takes ``physx_cpu`` for one env, ``physx_cuda`` for more (which
needs an NVIDIA GPU). Rendering without a GPU goes through Mesa's lavapipe; :func:`configure_vulkan`
points Vulkan at it unless the caller already chose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from importlib.util import find_spec
from typing import ClassVar

import gymnasium as gym
import numpy as np

from so100_common.core import tasks
from so100_common.core.joints import JOINT_NAMES, NUM_JOINTS

LVP_ICD = "/usr/share/vulkan/icd.d/lvp_icd.json"
NVIDIA_ICDS = ("/usr/share/vulkan/icd.d/nvidia_icd.json", "/etc/vulkan/icd.d/nvidia_icd.json")


def configure_vulkan() -> None:
    """Point SAPIEN at lavapipe when no GPU driver is present; give it a runtime dir. Idempotent.

    Must run before sapien is imported. Variables the caller set are left alone.
    """
    has_nvidia = any(os.path.exists(p) for p in NVIDIA_ICDS)
    if "VK_ICD_FILENAMES" not in os.environ and os.path.exists(LVP_ICD) and not has_nvidia:
        os.environ["VK_ICD_FILENAMES"] = LVP_ICD
    if "XDG_RUNTIME_DIR" not in os.environ:
        path = f"/tmp/runtime-{os.getuid()}"
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = path


def simulator_unavailable() -> str | None:
    """Why the simulator cannot run on this machine (to skip on), or None when it can."""
    if find_spec("mani_skill") is None:
        return "mani_skill is not installed (requirements/sim.txt; make setup installs it)"
    drivers = (LVP_ICD, *NVIDIA_ICDS)
    if not os.environ.get("VK_ICD_FILENAMES") and not any(os.path.exists(p) for p in drivers):
        return "no Vulkan driver: SAPIEN needs Mesa >= 25 lavapipe or an NVIDIA one (tools/install_vulkan.sh)"
    return None


@dataclass(frozen=True)
class _Backing:
    """How an adapter id maps onto a ManiSkill env."""

    maniskill_id: str
    terminate_on_success: bool


# Adapter gymnasium id (= TaskSpec.env_id) -> the ManiSkill env behind it.
BACKINGS: dict[str, _Backing] = {
    tasks.REACH.env_id: _Backing("SO100ReachMS-v1", terminate_on_success=False),
    tasks.REACH_TWO_GOALS.env_id: _Backing("SO100ReachTwoGoalsMS-v1", terminate_on_success=False),
    tasks.PICK_CUBE.env_id: _Backing("PickCubeSO100-v1", terminate_on_success=True),
    tasks.PICK_LIFT.env_id: _Backing("SO100PickLiftMS-v1", terminate_on_success=False),
    tasks.GRASP_CUBE.env_id: _Backing("SO100GraspCube-v1", terminate_on_success=True),
}


def choose_backend(num_envs: int, sim_backend: str = "auto") -> str:
    """``physx_cpu`` for one env, ``physx_cuda`` for more; an explicit choice is checked."""
    if sim_backend == "auto":
        sim_backend = "physx_cpu" if num_envs == 1 else "physx_cuda"
    if sim_backend not in ("physx_cpu", "physx_cuda"):
        raise ValueError(f"sim_backend must be 'auto', 'physx_cpu' or 'physx_cuda', got {sim_backend!r}")
    if sim_backend == "physx_cpu" and num_envs != 1:
        raise ValueError(f"physx_cpu simulates one env; {num_envs} envs need physx_cuda (an NVIDIA GPU)")
    if sim_backend == "physx_cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"{num_envs} envs need physx_cuda, but no CUDA device is available")
    return sim_backend


class SO100Sim:
    """N SO-100 envs of one task in ManiSkill; numpy in and out, arrays shaped (N, ...).

    Args:
        env_id: an adapter id (key of :data:`BACKINGS`, optionally ``module:``-prefixed).
        num_envs: N.
        obs_mode: ``"state"`` or ``"rgb"`` (adds the task's 128 x 128 camera image).
        sim_backend: ``"auto"``, ``"physx_cpu"`` or ``"physx_cuda"`` (see :func:`choose_backend`).
        render: also create the human-view render camera (for ``render()``).
        maniskill_kwargs: passed to ManiSkill's ``gym.make``.
    """

    def __init__(
        self,
        env_id: str = tasks.REACH.env_id,
        num_envs: int = 1,
        obs_mode: str = "state",
        sim_backend: str = "auto",
        render: bool = False,
        **maniskill_kwargs,
    ):
        if obs_mode not in ("state", "rgb"):
            raise ValueError(f"obs_mode must be 'state' or 'rgb', got {obs_mode!r}")
        spec = tasks.get(env_id)
        self.backing = BACKINGS[spec.env_id]
        self.num_envs = num_envs
        self.obs_mode = obs_mode
        self.sim_backend = choose_backend(num_envs, sim_backend)
        configure_vulkan()
        import mani_skill.envs  # noqa: F401  (registers ManiSkill's envs)

        import fpo_sim.maniskill_pick
        import fpo_sim.maniskill_reach  # noqa: F401

        kwargs = dict(
            obs_mode="state_dict",  # the camera renders on demand: see images()
            control_mode="pd_joint_pos",
            reward_mode="normalized_dense",
            num_envs=num_envs,
            sim_backend=self.sim_backend,
            render_backend="gpu" if self.sim_backend == "physx_cuda" else "cpu",
            render_mode="rgb_array" if render else None,
        )
        kwargs.update(maniskill_kwargs)
        self._env = gym.make(self.backing.maniskill_id, **kwargs).unwrapped
        names = tuple(j.name for j in self._env.agent.robot.active_joints)
        if names != JOINT_NAMES:
            raise RuntimeError(f"{self.backing.maniskill_id}: robot joints {names}, expected {JOINT_NAMES}")
        self._obs, info = self._env.reset(seed=None)
        self._images: np.ndarray | None = None
        self.spec = tasks.with_goal_dim(spec, self._goal_of(self._obs).shape[1])
        self._info = info

    # -- reading the state -------------------------------------------------------------------
    @staticmethod
    def _np(x) -> np.ndarray:
        return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)

    def _goal_of(self, obs) -> np.ndarray:
        extra = [self._np(v).reshape(self.num_envs, -1) for v in obs["extra"].values()]
        return np.concatenate(extra, axis=1).astype(np.float64) if extra else np.zeros((self.num_envs, 0))

    @property
    def joint_positions(self) -> np.ndarray:
        """(N, 6) rad, contract order."""
        return self._np(self._env.agent.robot.get_qpos()).astype(np.float64)

    @property
    def joint_velocities(self) -> np.ndarray:
        """(N, 6) rad/s, contract order."""
        return self._np(self._env.agent.robot.get_qvel()).astype(np.float64)

    @property
    def goal(self) -> np.ndarray:
        """(N, goal_dim): the task's goal vector (``TaskState.goal``)."""
        return self._goal_of(self._obs)

    @property
    def success(self) -> np.ndarray:
        """(N,) bool: the task's success flag after the last reset or step."""
        return self._np(self._info["success"]).astype(bool).reshape(self.num_envs)

    def observation(self) -> np.ndarray:
        """(N, obs_dim) float32, built by the task spec."""
        return self.spec.observation(self.joint_positions, self.joint_velocities, self.goal)

    def images(self) -> np.ndarray | None:
        """(N, H, W, 3) uint8 camera images of the current state (``obs_mode="rgb"``), else None.

        Rendered on the first call after a reset or step, not inside the step: ManiSkill steps in
        ``state_dict`` mode (which keeps the tasks' privileged extras, so the goal and the policy's
        observation are the same with or without the camera), and the sim node publishes joint
        states before it spends a render (about 20 ms on lavapipe) on the image."""
        if self.obs_mode != "rgb":
            return None
        if self._images is None:
            sensors = self._env.get_sensor_images()
            self._images = self._np(next(iter(sensors.values()))["rgb"])
        return self._images

    @cached_property
    def _intrinsics(self) -> np.ndarray:
        params = next(iter(self._env.get_sensor_params().values()))
        return self._np(params["intrinsic_cv"])[0].astype(np.float64)

    def camera_intrinsics(self) -> np.ndarray | None:
        """(3, 3) pinhole intrinsics of the camera (env 0), or None without a camera. Fixed for the
        env's life (the camera's lens does not change), so read once."""
        return self._intrinsics.copy() if self.obs_mode == "rgb" else None

    # -- acting --------------------------------------------------------------------------------
    def reset(self, seed: int | list[int] | None = None, env_idx: np.ndarray | None = None) -> None:
        """Start new episodes (all, or the envs in ``env_idx``)."""
        options = {}
        if env_idx is not None:
            import torch

            options["env_idx"] = torch.as_tensor(
                np.asarray(env_idx), dtype=torch.long, device=self._env.device
            )
        self._obs, self._info = self._env.reset(seed=seed, options=options)
        self._images = None

    def apply_targets(self, targets_rad) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control step towards absolute joint targets (N, 6) rad.

        Returns reward, success and terminated, each (N,). Raises ValueError on a wrong shape or
        non-finite values. Limits are the caller's business (``action_to_target`` clips to them).
        """
        import torch

        targets = np.asarray(targets_rad, dtype=np.float64)
        if targets.shape != (self.num_envs, NUM_JOINTS) or not np.all(np.isfinite(targets)):
            raise ValueError(f"targets must be finite and of shape ({self.num_envs}, 6), got {targets.shape}")
        action = torch.as_tensor(targets, dtype=torch.float32, device=self._env.device)
        self._obs, reward, terminated, _, self._info = self._env.step(action)
        self._images = None
        terminated = self._np(terminated).astype(bool).reshape(self.num_envs)
        if not self.backing.terminate_on_success:
            terminated = np.zeros_like(terminated)
        reward = self._np(reward).astype(np.float32).reshape(self.num_envs)
        return reward, self.success, terminated

    def step_actions(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control step for policy actions (N, 6) in [-1, 1]: ``spec.action_to_target`` then apply."""
        return self.apply_targets(self.spec.action_to_target(actions, self.joint_positions))

    def render(self) -> np.ndarray:
        """(H, W, 3) uint8 frame of env 0 from the human-view camera (needs ``render=True``)."""
        frame = self._np(self._env.render())
        return frame[0] if frame.ndim == 4 else frame

    def close(self) -> None:
        self._env.close()


class SO100Env(gym.Env):
    """One SO-100 env as a gymnasium.Env, numpy float32 in and out (see the module docstring)."""

    metadata: ClassVar = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str = tasks.REACH.env_id,
        obs_mode: str = "state",
        render_mode: str | None = None,
        sim_backend: str = "auto",
        **maniskill_kwargs,
    ):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.sim = SO100Sim(
            task, 1, obs_mode, sim_backend, render=render_mode == "rgb_array", **maniskill_kwargs
        )
        self.task_spec = self.sim.spec.to_dict()
        self.metadata = {**self.metadata, "render_fps": self.sim.spec.control_rate_hz}
        state = gym.spaces.Box(-np.inf, np.inf, (self.sim.spec.obs_dim,), np.float32)
        if obs_mode == "rgb":
            image = self.sim.images()[0]
            self.observation_space = gym.spaces.Dict(
                {"state": state, "rgb": gym.spaces.Box(0, 255, image.shape, np.uint8)}
            )
        else:
            self.observation_space = state
        self.action_space = gym.spaces.Box(-1.0, 1.0, (NUM_JOINTS,), np.float32)
        self._steps = 0

    def _observation(self):
        state = self.sim.observation()[0]
        if self.sim.obs_mode == "rgb":
            return {"state": state, "rgb": self.sim.images()[0]}
        return state

    def _info(self) -> dict:
        return {"success": bool(self.sim.success[0]), "goal": self.sim.goal[0].astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        self.sim.reset(seed=seed)
        self._steps = 0
        return self._observation(), self._info()

    def step(self, action):
        action = np.asarray(action, dtype=np.float64).reshape(1, NUM_JOINTS)
        reward, _, terminated = self.sim.step_actions(action)
        self._steps += 1
        truncated = self._steps >= self.sim.spec.episode_steps
        return self._observation(), float(reward[0]), bool(terminated[0]), truncated, self._info()

    def render(self):
        return self.sim.render() if self.render_mode == "rgb_array" else None

    def close(self):
        self.sim.close()


class SO100VectorEnv(gym.vector.VectorEnv):
    """N SO-100 envs on ManiSkill's GPU simulation; state observations; same-step autoreset.

    On ``terminated | truncated`` the returned observation is already the next episode's first;
    the final one is in ``info["final_obs"]`` (N, obs_dim) with ``info["_final_obs"]`` marking rows.
    """

    def __init__(self, task: str = tasks.REACH.env_id, num_envs: int = 256, sim_backend: str = "auto"):
        self.sim = SO100Sim(task, num_envs, "state", sim_backend)
        self.num_envs = num_envs
        self.task_spec = self.sim.spec.to_dict()
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.sim.spec.obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (NUM_JOINTS,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        self._steps = np.zeros(num_envs, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        seeds = None if seed is None else [seed + i for i in range(self.num_envs)]
        self.sim.reset(seed=seeds)
        self._steps[:] = 0
        return self.sim.observation(), {"success": self.sim.success}

    def step(self, actions):
        reward, success, terminated = self.sim.step_actions(np.asarray(actions, dtype=np.float64))
        self._steps += 1
        truncated = self._steps >= self.sim.spec.episode_steps
        obs = self.sim.observation()
        info = {"success": success}
        done = terminated | truncated
        if done.any():
            info["final_obs"] = obs.copy()
            info["_final_obs"] = done
            self.sim.reset(env_idx=np.flatnonzero(done))
            self._steps[done] = 0
            obs = self.sim.observation()
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs):
        self.sim.close()
