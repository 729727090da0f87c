"""The training loop behind ``fpo-train``: collect, advantages, improve, log, as in the algorithm box.

:meth:`Trainer.run` repeats, until ``total_steps``: :meth:`~Trainer.collect` ``num_steps`` steps of
every env with the current policy, :meth:`~Trainer.advantages` by GAE, :meth:`~Trainer.improve`
(the clipped-surrogate update of :mod:`fpo_policy.core.update`), :meth:`~Trainer.log` (the metrics
row through :class:`fpo_policy.core.metrics.MetricsLogger`, zero-noise evaluation when due,
checkpoints). :class:`Learner` holds what a run keeps besides its envs and is shared with the
trainer node.

Environments run through gymnasium's synchronous vector env in same-step autoreset mode: when an
episode ends, ``step`` returns the first observation of the next episode and reports the last one in
``info["final_obs"]``, which truncated steps bootstrap from (see :mod:`fpo_policy.core.rollout_storage`).

Output directory: ``metrics.csv`` (one row per update), ``tb/`` (TensorBoard), ``checkpoints/``
(``latest.safetensors`` every update, ``step_<N>.safetensors`` periodically, ``trainer_state.safetensors``
for ``--resume``) and ``curve.png``.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from fpo_policy.core import metrics
from fpo_policy.core.agent import Agent
from fpo_policy.core.batch_assembly import Transitions
from fpo_policy.core.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from fpo_policy.core.config import AlgoConfig, TrainArgs
from fpo_policy.core.episode_seeds import EpisodeSeeds
from fpo_policy.core.metrics import MetricsLogger, plot_curve
from fpo_policy.core.normalization import RunningMeanStd
from fpo_policy.core.policy import (
    Policy,
    PolicyMetadata,
    check_compatible,
    read_policy_checkpoint,
    save_policy,
)
from fpo_policy.core.rollout_storage import Batch, RolloutStorage, compute_gae
from fpo_policy.core.squash import ActionBounds
from fpo_policy.core.update import make_agent, update

SUCCESS_KEYS = ("success", "is_success")


def env_name(env_id: str) -> str:
    """``module:EnvName-v0`` -> imports ``module`` (to register the env) and returns ``EnvName-v0``."""
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        importlib.import_module(module)
        return name
    return env_id


def make_env(env_id: str, **kwargs) -> gym.Env:
    """One env (``kwargs`` go to ``gym.make``), with its action and observation spaces checked."""
    env = gym.make(env_name(env_id), **kwargs)
    act, obs = env.action_space, env.observation_space
    if not isinstance(act, gym.spaces.Box) or len(act.shape) != 1:
        raise ValueError(f"{env_id}: needs a 1-D Box action space, got {act}")
    if not (np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high))):
        raise ValueError(
            f"{env_id}: action bounds must be finite for tanh squashing, got {act.low}, {act.high}"
        )
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise ValueError(f"{env_id}: needs a 1-D Box observation space, got {obs}")
    return env


def make_vector_env(env_id: str, num_envs: int, seed: int, env_kwargs: dict | None = None) -> SyncVectorEnv:
    """``num_envs`` envs in same-step autoreset, each episode reset with its own seed
    (:mod:`fpo_policy.core.episode_seeds`); ``env_kwargs`` go to each ``gym.make``."""
    kwargs = env_kwargs or {}
    return SyncVectorEnv(
        [lambda i=i: EpisodeSeeds(make_env(env_id, **kwargs), seed, i) for i in range(num_envs)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )


def env_task_spec(env: gym.Env) -> dict | None:
    """The env's ``unwrapped.task_spec`` (a JSON dict) or None."""
    task = getattr(env.unwrapped, "task_spec", None)
    if task is None:
        return None
    json.dumps(task)
    return dict(task)


def success_of(info: dict, index: int) -> bool | None:
    """The success flag of env ``index`` in a vector-env info dict, or None when not reported."""
    for key in SUCCESS_KEYS:
        if key in info and info.get("_" + key, np.ones(index + 1, bool))[index]:
            return bool(np.asarray(info[key])[index])
    return None


@dataclass(frozen=True)
class EvalResult:
    mean_return: float
    std_return: float
    success_rate: float | None
    episodes: int

    def to_dict(self) -> dict:
        return asdict(self)


def run_episodes(env: gym.Env, act, episodes: int, seed: int) -> EvalResult:
    """Run ``episodes`` full episodes of ``env``, reset with seeds ``seed``, ``seed + 1``, ..., acting
    ``act(obs) -> action``. An episode counts as a success when the env reports ``success`` or
    ``is_success`` true at any step; the success rate is None when the env reports neither."""
    returns, successes = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total, done, success = 0.0, False, None
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += float(reward)
            done = bool(terminated or truncated)
            for key in SUCCESS_KEYS:
                if key in info:
                    success = bool(success) or bool(np.asarray(info[key]).any())
        returns.append(total)
        if success is not None:
            successes.append(float(success))
    return EvalResult(
        mean_return=float(np.mean(returns)),
        std_return=float(np.std(returns)),
        success_rate=float(np.mean(successes)) if successes else None,
        episodes=episodes,
    )


def evaluate(
    policy: Policy,
    env_id: str,
    episodes: int,
    seed: int = 0,
    deterministic: bool = True,
    env: gym.Env | None = None,
) -> EvalResult:
    """:func:`run_episodes` with ``policy.act`` (zero-noise by default) on ``env`` or a new ``env_id``."""
    own = env is None
    env = env or make_env(env_id)
    check_policy_matches_env(policy, env, env_id)
    try:
        return run_episodes(env, lambda obs: policy.act(obs, deterministic=deterministic), episodes, seed)
    finally:
        if own:
            env.close()


def check_policy_matches_env(policy: Policy, env: gym.Env, env_id: str) -> None:
    """Refuse a policy whose observation or action space, or task spec, differs from the env's."""
    obs_shape, act = env.observation_space.shape, env.action_space
    check_compatible(
        policy.metadata,
        f"{policy.path or 'policy'}: mismatched with env {env_id}",
        obs_dim=obs_shape[0] if len(obs_shape) == 1 else obs_shape,
        act_dim=act.shape[0] if len(act.shape) == 1 else act.shape,
        action_bounds=ActionBounds(act.low, act.high),
        task=env_task_spec(env),
    )


class ReturnScaler:
    """Divides rewards by the running std of the discounted return (training signal only)."""

    def __init__(self, num_envs: int, gamma: float) -> None:
        self.rms = RunningMeanStd.zeros(1)
        self.ret = np.zeros(num_envs)
        self.gamma = gamma

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + rewards
        self.rms.update(self.ret[:, None])
        scaled = rewards / math.sqrt(float(self.rms.var[0]) + 1e-8)
        self.ret[dones] = 0.0
        return scaled


@dataclass
class TrainResult:
    out: Path
    global_step: int
    updates: int
    final_eval: EvalResult | None
    episodic_returns: list[float]


class Learner:
    """What a training run keeps besides its environments: agent, optimiser, observation and return
    statistics, counters, checkpoints and metrics files. :class:`Trainer` adds vector envs to it;
    the trainer node feeds it transitions assembled from ROS rollout chunks (:meth:`batch_from`)."""

    def __init__(
        self,
        args: TrainArgs,
        obs_dim: int,
        bounds: ActionBounds,
        task: dict | None,
        num_envs: int = 1,
    ) -> None:
        self.args = args
        self.cfg: AlgoConfig = args.algo_config
        self.out = Path(args.out or f"runs/{args.algo}_{env_name(args.env).replace('/', '_')}_s{args.seed}")
        self.ckpt_dir = self.out / "checkpoints"
        self.run_name = args.run_name or self.out.name
        torch.set_num_threads(args.torch_threads)
        torch.manual_seed(args.seed)
        self.task = task
        self.bounds = bounds
        self.obs_dim = obs_dim
        self.act_dim = self.bounds.act_dim
        self.agent: Agent = make_agent(args.algo, self.cfg, self.obs_dim, self.act_dim)
        self.optimizer = torch.optim.Adam(self.agent.parameters(), lr=self.cfg.learning_rate, eps=1e-5)
        self.obs_rms = RunningMeanStd.zeros(self.obs_dim)
        self.scaler = ReturnScaler(num_envs, self.cfg.gamma)
        self._source_scalers: dict[str, ReturnScaler] = {}
        self.global_step = 0
        self.updates = 0
        self.elapsed_s = 0.0
        self.returns: list[float] = []
        self.history: list[dict] = []
        self._saved_state = None
        """The trainer state resumed from (read_checkpoint's CheckpointData), or None."""
        if args.resume:
            self._resume()

    # --- checkpoints -------------------------------------------------------------------------------

    def metadata(self) -> PolicyMetadata:
        solver, steps = self.agent.sampler_settings()
        return PolicyMetadata(
            algorithm=self.args.algo,
            env_id=self.args.env,
            obs_dim=self.obs_dim,
            act_dim=self.act_dim,
            action_low=tuple(self.bounds.low.tolist()),
            action_high=tuple(self.bounds.high.tolist()),
            policy_id=self.run_name,
            version=self.updates,
            step=self.global_step,
            solver=solver,
            steps=steps,
            network=self.agent.actor_config(),
            critic_hidden=tuple(self.cfg.critic_hidden),
            obs_norm=self.cfg.norm_obs,
            obs_clip=self.obs_rms.clip,
            obs_count=float(self.obs_rms.count),
            task=self.task,
            config=json.loads(json.dumps(asdict(self.cfg))),
        )

    def policy(self) -> Policy:
        """The current policy, as a checkpoint of it would load."""
        rms = replace(self.obs_rms, mean=self.obs_rms.mean.copy(), var=self.obs_rms.var.copy())
        return Policy(self.agent.actor, self.metadata(), rms)

    def save(self) -> Path:
        latest = self.ckpt_dir / "latest.safetensors"
        save_policy(latest, self.agent.actor, self.agent.critic, self.obs_rms, self.metadata())
        opt = self.optimizer.state_dict()
        tensors = {"torch_rng": torch.get_rng_state()}
        for idx, state in opt["state"].items():
            for k, v in state.items():
                tensors[f"opt.{idx}.{k}"] = torch.as_tensor(v)
        meta = {
            "kind": "trainer_state",
            "algo": self.args.algo,
            "env": self.args.env,
            "global_step": self.global_step,
            "updates": self.updates,
            "elapsed_s": self.elapsed_s,
            "param_groups": opt["param_groups"],
            "return_rms": [
                self.scaler.rms.mean.tolist(),
                self.scaler.rms.var.tolist(),
                self.scaler.rms.count,
            ],
            "policy_sha256": read_checkpoint(latest).sha256,
        }
        run_tensors, run_meta = self._run_state()
        tensors.update(run_tensors)
        meta.update(run_meta)
        save_checkpoint(self.ckpt_dir / "trainer_state.safetensors", tensors, meta)
        return latest

    def _resume(self) -> None:
        latest = self.ckpt_dir / "latest.safetensors"
        state_path = self.ckpt_dir / "trainer_state.safetensors"
        checkpoint = read_policy_checkpoint(latest)
        state = read_checkpoint(state_path)
        s = state.metadata
        if s.get("kind") != "trainer_state":
            raise CheckpointError(f"{state_path}: not a trainer state file")
        if s.get("policy_sha256") != checkpoint.sha256:
            raise CheckpointError(f"{state_path}: mismatched: it belongs to another {latest.name}")
        check_compatible(
            checkpoint.metadata,
            f"{latest}: mismatched run",
            algorithm=self.args.algo,
            env_id=self.args.env,
            network=self.agent.actor_config(),
            task=self.task,
        )
        self.obs_rms = checkpoint.load_into(self.agent.actor, self.agent.critic)
        opt_state: dict = {}
        for key, v in state.tensors.items():
            if key.startswith("opt."):
                _, idx, name = key.split(".", 2)
                opt_state.setdefault(int(idx), {})[name] = v
        try:
            self.optimizer.load_state_dict({"state": opt_state, "param_groups": s["param_groups"]})
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"{state_path}: mismatched optimiser state: {e}") from None
        torch.set_rng_state(state.tensors["torch_rng"])
        mean, var, count = s["return_rms"]
        self.scaler.rms = RunningMeanStd(np.array(mean), np.array(var), count)
        self.global_step, self.updates, self.elapsed_s = s["global_step"], s["updates"], s["elapsed_s"]
        self._saved_state = state

    def _run_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """What a trainer state holds beyond the learner's (tensors, metadata): none here."""
        return {}, {}

    def anneal_learning_rate(self, num_updates: int) -> None:
        """Linear decay to 0 over ``num_updates`` updates (with ``anneal_lr``)."""
        if self.cfg.anneal_lr:
            frac = 1.0 - self.updates / num_updates
            self.optimizer.param_groups[0]["lr"] = max(frac, 0.0) * self.cfg.learning_rate

    def batch_from(self, tr: Transitions) -> Batch:
        """An update batch from transitions assembled from rollout chunks (observations raw).

        Observations are normalised with the current statistics; values, next values and the
        per-algorithm extras (FPO: fresh (tau, eps) pairs and their old CFM losses) are taken by the
        current networks, rewards are scaled per source, and GAE runs over the sources' trajectories
        laid end to end (``tr.dones`` cuts them apart). The trainer node folds the batch into the
        statistics first, so the update trains on the normalisation the next version acts with; the
        old CFM losses (or log-probabilities) are then the acting weights' on that slightly newer
        normalisation rather than exactly the acting policy's, most so at the first update.
        """
        obs = torch.as_tensor(self._normalize(tr.observations))
        next_obs = torch.as_tensor(self._normalize(tr.next_observations))
        actions = torch.as_tensor(tr.actions, dtype=torch.float32)
        rewards = np.asarray(tr.rewards, dtype=np.float64)
        if self.cfg.norm_reward:
            rewards = rewards.copy()
            for index, source in enumerate(tr.sources):
                scaler = self._source_scalers.get(source)
                if scaler is None:
                    scaler = self._source_scalers[source] = ReturnScaler(1, self.cfg.gamma)
                    scaler.rms = self.scaler.rms
                for i in np.flatnonzero(tr.source_index == index):
                    rewards[i] = scaler(rewards[i : i + 1], tr.dones[i : i + 1])[0]
        with torch.no_grad():
            values = self.agent.critic(obs)
            next_values = self.agent.critic(next_obs)
            extras = self.agent.rollout_extras(obs, actions)
        advantages, returns = compute_gae(
            torch.as_tensor(rewards, dtype=torch.float32)[:, None],
            values[:, None],
            next_values[:, None],
            torch.as_tensor(tr.terminated, dtype=torch.float32)[:, None],
            torch.as_tensor(tr.dones, dtype=torch.float32)[:, None],
            self.cfg.gamma,
            self.cfg.gae_lambda,
        )
        return Batch(obs, actions, values, advantages[:, 0], returns[:, 0], extras)

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        return self.obs_rms.normalize(obs) if self.cfg.norm_obs else np.asarray(obs, dtype=np.float32)

    def plot(self) -> Path:
        """Write curve.png from metrics.csv (:func:`fpo_policy.core.metrics.plot_curve`)."""
        return plot_curve(self.out, f"{self.args.algo} on {self.args.env}")


@dataclass
class RolloutEpisodes:
    """The training episodes that ended during one rollout."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    reports_success: bool = False
    """The env reports ``success`` or ``is_success`` (so the run has success-rate columns)."""


class Trainer(Learner):
    """One training run on gymnasium vector envs; :meth:`run` trains until ``args.total_steps``.

    Each iteration of :meth:`run` is the algorithm box of PPO/FPO: :meth:`collect` a rollout with
    the current policy, compute :meth:`advantages` (GAE), :meth:`improve` the policy on the batch,
    then :meth:`log` (metrics, evaluation, checkpoints).
    """

    def __init__(self, args: TrainArgs) -> None:
        torch.set_num_threads(args.torch_threads)
        torch.manual_seed(args.seed)
        self.envs = make_vector_env(args.env, args.num_envs, args.seed, args.train_env_options)
        self.eval_env = make_env(args.env)
        single = self.envs.single_action_space
        super().__init__(
            args,
            obs_dim=int(self.envs.single_observation_space.shape[0]),
            bounds=ActionBounds(single.low, single.high),
            task=env_task_spec(self.eval_env),
            num_envs=args.num_envs,
        )
        self.storage = RolloutStorage(self.cfg.num_steps, args.num_envs, self.obs_dim, self.act_dim)
        self._episode_return = np.zeros(args.num_envs)
        self._episode_length = np.zeros(args.num_envs, dtype=np.int64)

    # --- training ------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        args = self.args
        from tqdm import tqdm

        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(asdict(args), indent=2, default=str))
        self.metrics = MetricsLogger(self.out, tensorboard=args.tensorboard, append=args.resume)
        obs = self._restore_envs() if self._saved_state is not None else self.envs.reset()[0]
        self._next_eval = (
            (self.global_step // args.eval_every + 1) * args.eval_every if args.eval_every > 0 else None
        )
        self._next_checkpoint = (self.global_step // args.checkpoint_every + 1) * args.checkpoint_every
        bar = tqdm(total=args.total_steps, initial=self.global_step, disable=not args.progress, unit="step")
        final_eval = None
        try:
            while self.global_step + args.batch_size <= args.total_steps:
                t0 = time.perf_counter()
                self.anneal_learning_rate(args.num_updates)
                episodes, obs = self.collect(obs)
                batch = self.advantages(obs)
                stats, update_time = self.improve(batch)
                dt = time.perf_counter() - t0
                self.elapsed_s += dt
                final_eval = self.log(episodes, stats, update_time, dt) or final_eval
                bar.update(args.batch_size)
                postfix = {"sps": f"{args.batch_size / dt:.0f}"}
                if self.returns:
                    postfix["return"] = f"{np.mean(self.returns[-20:]):.1f}"
                bar.set_postfix(postfix)
            if final_eval is None or args.eval_every == 0:
                final_eval = self._evaluate()
        finally:
            bar.close()
            self.metrics.close()
            self.envs.close()
            self.eval_env.close()
        self.plot()
        return TrainResult(self.out, self.global_step, self.updates, final_eval, self.returns)

    def collect(self, obs: np.ndarray) -> tuple[RolloutEpisodes, np.ndarray]:
        """Fill the rollout storage with ``num_steps`` steps of every env, acting with the current
        policy from ``obs``; return the episodes that ended and the observation to continue from.

        A step that truncates an episode (not a terminal) stores the critic's value of the episode's
        last observation (``info["final_obs"]``), which its advantage bootstraps from.
        """
        cfg, storage, num_envs = self.cfg, self.storage, self.args.num_envs
        episodes = RolloutEpisodes()
        for step in range(cfg.num_steps):
            if cfg.norm_obs:
                self.obs_rms.update(obs)
            obs_norm = torch.as_tensor(self._normalize(obs))
            with torch.no_grad():
                actions, extras = self.agent.act(obs_norm)
                values = self.agent.critic(obs_norm)
            storage.put(step, obs=obs_norm, actions=actions, values=values, extras=extras)
            obs, reward, terminated, truncated, info = self.envs.step(self.bounds.to_env(actions.numpy()))
            dones = np.logical_or(terminated, truncated)
            self._episode_return += reward
            self._episode_length += 1
            final_values = torch.zeros(num_envs)
            final_info = info.get("final_info", {})
            for i in np.flatnonzero(dones):
                if truncated[i] and not terminated[i]:
                    final = self._normalize(info["final_obs"][i][None])
                    with torch.no_grad():
                        final_values[i] = self.agent.critic(torch.as_tensor(final))[0]
                episodes.returns.append(float(self._episode_return[i]))
                episodes.lengths.append(int(self._episode_length[i]))
                ok = success_of(final_info, i)
                if ok is not None:
                    episodes.successes.append(float(ok))
                self._episode_return[i], self._episode_length[i] = 0.0, 0
            episodes.reports_success = episodes.reports_success or any(
                k in info or k in final_info for k in SUCCESS_KEYS
            )
            rewards = self.scaler(reward, dones) if cfg.norm_reward else reward
            storage.put_outcome(
                step,
                rewards=torch.as_tensor(rewards, dtype=torch.float32),
                terminated=torch.as_tensor(terminated, dtype=torch.float32),
                dones=torch.as_tensor(dones, dtype=torch.float32),
                next_values=final_values,
            )
            self.global_step += num_envs
        return episodes, obs

    def advantages(self, last_obs: np.ndarray) -> Batch:
        """GAE over the stored rollout: each step bootstraps from the next step's value, the last
        step from the value of ``last_obs``, a truncating step from its episode's final value."""
        storage = self.storage
        with torch.no_grad():
            last_values = self.agent.critic(torch.as_tensor(self._normalize(last_obs)))
        next_values = torch.cat([storage.values[1:], last_values[None]])
        truncated_only = (storage.dones > 0) & (storage.terminated == 0)
        storage.next_values = torch.where(truncated_only, storage.next_values, next_values)
        return storage.to_batch(self.cfg.gamma, self.cfg.gae_lambda)

    def improve(self, batch: Batch) -> tuple[dict[str, float], float]:
        """The clipped-surrogate update on the batch (:func:`fpo_policy.core.update.update`);
        returns its diagnostics and its time in s."""
        t0 = time.perf_counter()
        stats = update(self.agent, self.optimizer, batch, self.cfg)
        self.updates += 1
        return stats, time.perf_counter() - t0

    def log(
        self, episodes: RolloutEpisodes, stats: dict[str, float], update_time_s: float, iteration_s: float
    ) -> EvalResult | None:
        """Write the update's metrics row, evaluate when due (and always after the run's last
        update, so the final evaluation is of the final policy), save the checkpoints. Returns the
        evaluation, if one ran."""
        args = self.args
        self.returns += episodes.returns
        row = {
            "global_step": self.global_step,
            "update": self.updates,
            "episodic_return": np.mean(episodes.returns) if episodes.returns else None,
            "episode_length": np.mean(episodes.lengths) if episodes.lengths else None,
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            "sps": args.batch_size / iteration_s,
            "update_time_s": update_time_s,
            "time_s": self.elapsed_s,
        }
        if episodes.reports_success:
            row["success_rate"] = np.mean(episodes.successes) if episodes.successes else None
        evaluation = None
        last_update = self.global_step + args.batch_size > args.total_steps
        if self._next_eval is not None and (self.global_step >= self._next_eval or last_update):
            evaluation = self._evaluate()
            row["eval_return"] = evaluation.mean_return
            if evaluation.success_rate is not None:
                row["eval_success_rate"] = evaluation.success_rate
            self._next_eval += args.eval_every
        self.history.append(self.metrics.log(row, stats, metrics.columns(episodes.reports_success)))
        self.save()
        if self.global_step >= self._next_checkpoint:
            save_policy(
                self.ckpt_dir / f"step_{self.global_step:09d}.safetensors",
                self.agent.actor,
                self.agent.critic,
                self.obs_rms,
                self.metadata(),
            )
            self._next_checkpoint += args.checkpoint_every
        return evaluation

    def _run_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Where every env is: its episode index and the actions of its episode so far (replayed
        on resume), the training episodes' running return and length, the discounted return the
        reward scaler accumulates."""
        tensors = {}
        for i, env in enumerate(self.envs.envs):
            actions = np.stack(env.actions) if env.actions else np.zeros((0, self.act_dim), np.float32)
            tensors[f"env.{i}.actions"] = torch.as_tensor(actions)
        meta = {
            "episodes": [env.episode for env in self.envs.envs],
            "episode_return": self._episode_return.tolist(),
            "episode_length": self._episode_length.tolist(),
            "discounted_return": self.scaler.ret.tolist(),
        }
        return tensors, meta

    def _restore_envs(self) -> np.ndarray:
        """Bring every env back to where the saved run left it; the observations there."""
        state, path = self._saved_state, self.ckpt_dir / "trainer_state.safetensors"
        episodes = state.metadata.get("episodes")
        if episodes is None:
            raise CheckpointError(f"{path}: holds no environment state (written by an older fpo-train)")
        if len(episodes) != self.args.num_envs:
            raise CheckpointError(
                f"{path}: mismatched run: {len(episodes)} envs, resume asked for {self.args.num_envs}"
            )
        observations = []
        for i, (env, episode) in enumerate(zip(self.envs.envs, episodes)):
            try:
                observations.append(env.restore(episode, state.tensors[f"env.{i}.actions"].numpy()))
            except (KeyError, ValueError) as err:
                raise CheckpointError(f"{path}: cannot restore env {i}: {err}") from None
        self._episode_return = np.array(state.metadata["episode_return"], dtype=np.float64)
        self._episode_length = np.array(state.metadata["episode_length"], dtype=np.int64)
        self.scaler.ret = np.array(state.metadata["discounted_return"], dtype=np.float64)
        return np.stack(observations).astype(self.envs.single_observation_space.dtype)

    def _evaluate(self) -> EvalResult:
        return evaluate(self.policy(), self.args.env, self.args.eval_episodes, seed=10_000, env=self.eval_env)


def train(args: TrainArgs) -> TrainResult:
    """Train per ``args`` (see :class:`fpo_policy.core.config.TrainArgs`)."""
    return Trainer(args).run()
