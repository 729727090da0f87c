"""Each training episode starts from its own seed, so a run interrupted mid-episode resumes exactly.

Env ``i`` of a run seeded ``s`` starts its episode ``k`` (k = 0, 1, ...) with
``reset(seed=episode_seed(s, i, k))``, whoever asks for the reset (the vector env's autoreset
passes no seed). :class:`EpisodeSeeds` also keeps the actions taken in the current episode, so a
trainer state can store, per env, the episode index and those actions (at most one episode's
worth); :meth:`EpisodeSeeds.restore` resets the env with that episode's seed and replays them.
An env whose step depends only on its state and the action (gymnasium's classic-control and
MuJoCo envs, ManiSkill's CPU simulation of our tasks) is then where it was, bit for bit, and the
run continues as if it had not stopped (``tests`` pin this on Pendulum-v1 and the reach task).

The wrapper is the outermost one, so a replay also brings time limits back to their count.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def episode_seed(run_seed: int, env_index: int, episode: int) -> int:
    """The reset seed of episode ``episode`` of env ``env_index`` in a run seeded ``run_seed``:
    32 bits drawn by numpy's SeedSequence from the three (independent streams for any inputs)."""
    return int(np.random.SeedSequence([run_seed, env_index, episode]).generate_state(1)[0])


class EpisodeSeeds(gym.Wrapper):
    """Resets ``env`` with :func:`episode_seed` and records the current episode's actions."""

    def __init__(self, env: gym.Env, run_seed: int, env_index: int) -> None:
        super().__init__(env)
        self.run_seed, self.env_index = int(run_seed), int(env_index)
        self.episode = -1
        """Index of the current episode (-1 before the first reset)."""
        self.actions: list[np.ndarray] = []
        """The actions taken so far in the current episode, as given to ``step``."""

    def reset(self, *, seed=None, options=None):
        """Start the next episode. ``seed`` is ignored: the episode's own seed is used."""
        self.episode += 1
        self.actions = []
        return self.env.reset(seed=episode_seed(self.run_seed, self.env_index, self.episode), options=options)

    def step(self, action):
        self.actions.append(np.array(action, copy=True))
        return self.env.step(action)

    def restore(self, episode: int, actions: np.ndarray):
        """Bring the env to step ``len(actions)`` of episode ``episode`` by replaying ``actions``
        (T, A); returns the observation there. Raises ValueError if the replay ends the episode (a
        saved state is always mid-episode: an episode that ended was reset at once)."""
        self.episode = int(episode) - 1
        obs, _ = self.reset()
        for t, action in enumerate(actions):
            obs, _, terminated, truncated, _ = self.step(action)
            if terminated or truncated:
                raise ValueError(
                    f"env {self.env_index}: the replay of episode {episode} ended at step {t + 1} of "
                    f"{len(actions)}; the saved run used another environment"
                )
        return obs
