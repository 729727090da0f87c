"""One-step tasks for the multimodality benchmark (importable as ``bandits:TwoMode-v0``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

MODES = (-0.5, 0.5)
WIDTH = 0.1


class TwoMode(gym.Env):
    """Constant observation, one action in [-1, 1], reward exp(-(|a| - 0.5)^2 / (2 * 0.1^2)):
    two equally optimal, separated actions, -0.5 and +0.5. Episodes last one step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        a = float(np.asarray(action).reshape(-1)[0])
        reward = float(np.exp(-((abs(a) - 0.5) ** 2) / (2 * WIDTH**2)))
        return np.zeros(1, np.float32), reward, True, False, {}


if "TwoMode-v0" not in gym.registry:
    gym.register("TwoMode-v0", entry_point=TwoMode)
