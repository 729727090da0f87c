"""Training configuration: one dataclass per algorithm (parsed by tyro; one docstring per field).

The defaults are the best settings measured on this machine (benchmarks/README.md): for FPO,
per-sample ratios with ASPO, the eps-supervised (time-weighted) CFM loss with the CFM regulariser at
lambda 0.1, learning rate 1e-3, clip 0.2, 8 pairs, tanh squash. Over 3 seeds they reach -129 on
Pendulum-v1 at 100k steps (gamma 0.9, this config's default), and they solve
InvertedDoublePendulum-v5 in 150k steps with gamma 0.99, as our PPO does. The eps loss without the
regulariser learns as fast but wanders, and the velocity loss learns InvertedDoublePendulum-v5
slowly. PPO keeps CleanRL's ppo_continuous_action defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fpo_policy.core.flow import LossForm
from fpo_policy.core.sampling import Solver


@dataclass
class AlgoConfig:
    """Rollout and update settings common to FPO and PPO."""

    num_steps: int = 256
    """Rollout length per env per update; batch size = num_steps * num_envs."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    update_epochs: int = 10
    """Passes over each batch."""
    num_minibatches: int = 32
    """Minibatches per epoch."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_eps: float = 0.2
    """Clip range of the ratio."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the critic (tanh)."""
    norm_obs: bool = True
    """Running observation normalisation (stored in checkpoints)."""
    norm_reward: bool = True
    """Scale rewards by the running std of the discounted return (training only)."""

    def __post_init__(self) -> None:
        if self.num_steps < 1 or self.num_minibatches < 1 or self.update_epochs < 1:
            raise ValueError("num_steps, num_minibatches and update_epochs must be >= 1")
        if not 0.0 < self.clip_eps < 1.0:
            raise ValueError(f"clip_eps must be in (0, 1), got {self.clip_eps}")
        if not (0.0 <= self.gamma <= 1.0 and 0.0 <= self.gae_lambda <= 1.0):
            raise ValueError("gamma and gae_lambda must be in [0, 1]")


@dataclass
class FpoConfig(AlgoConfig):
    """Flow Policy Optimization: a flow-matching actor trained with rho = exp(L_old - L_new)."""

    learning_rate: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.9
    """Discount factor."""
    n_pairs: int = 8
    """Monte Carlo (tau, eps) pairs N per transition, drawn at rollout time and reused every epoch."""
    ratio: Literal["per_sample", "mean"] = "per_sample"
    """``per_sample``: one ratio per pair, each clipped (FPO++); ``mean``: exp of the mean loss
    difference over the pairs, one ratio per action (the paper)."""
    aspo: bool = True
    """PPO clip for positive advantages, SPO quadratic penalty for negative ones (FPO++)."""
    cfm_lambda: float = 0.1
    """Weight lambda of the CFM regulariser on the collected actions (total = FPO + lambda * CFM).
    With the eps loss it keeps learning from wandering (benchmarks/README.md); 1 collapses the flow
    onto a deterministic map."""
    loss_form: LossForm = "eps"
    """CFM loss form: the eps-supervised (time-weighted) form, which learns much faster than plain
    velocity MSE on InvertedDoublePendulum-v5 (benchmarks/README.md), or ``velocity``."""
    loss_clamp: float = 20.0
    """Per-sample CFM losses are clamped at this value before differencing."""
    log_ratio_clamp: float = 10.0
    """The log-ratio is clamped to +-this value (straight-through: the gradient passes)."""
    tau_min: float = 0.005
    """Lower end of the flow times drawn for the CFM pairs."""
    tau_max: float = 0.995
    """Upper end of the flow times drawn for the CFM pairs."""
    solver: Solver = "euler"
    """ODE solver for sampling actions."""
    sample_steps: int = 10
    """Solver steps K for sampling actions."""
    actor_hidden: tuple[int, ...] = (64, 64, 64)
    """Hidden widths of the velocity network."""
    activation: str = "silu"
    """Hidden activation of the velocity network."""
    time_features: int = 8
    """Fourier features of the flow time t."""
    output_scale: float = 1.0
    """Scale of the velocity network output."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_pairs < 1 or self.sample_steps < 1:
            raise ValueError("n_pairs and sample_steps must be >= 1")
        if not 0.0 <= self.tau_min < self.tau_max <= 1.0:
            raise ValueError(f"need 0 <= tau_min < tau_max <= 1, got {self.tau_min}, {self.tau_max}")


@dataclass
class PpoConfig(AlgoConfig):
    """Gaussian PPO (CleanRL ppo_continuous_action defaults, tanh-squashed like FPO)."""

    ent_coef: float = 0.0
    """Entropy bonus weight."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the mean network (tanh)."""
    log_std_init: float = 0.0
    """Initial log standard deviation."""


@dataclass
class TrainArgs:
    """fpo-train: train an FPO or Gaussian PPO policy on a gymnasium environment."""

    algo: Literal["fpo", "ppo"] = "fpo"
    """Algorithm."""
    env: str = "Pendulum-v1"
    """Gymnasium id; ``module:EnvName-v0`` imports ``module`` first (to register the env)."""
    total_steps: int = 100_000
    """Environment steps (summed over envs)."""
    num_envs: int = 8
    """Environments in the synchronous vector env."""
    seed: int = 1
    """Seed of torch, numpy and the envs."""
    out: str = ""
    """Output directory; default runs/<algo>_<env>_s<seed>."""
    run_name: str = ""
    """Policy id written into checkpoints; default the output directory's name."""
    resume: bool = False
    """Continue from OUT/checkpoints (weights, optimiser, normalisation, step)."""
    eval_every: int = 10_000
    """Zero-noise evaluation every this many env steps (0: only at the end)."""
    eval_episodes: int = 5
    """Episodes per evaluation."""
    checkpoint_every: int = 20_000
    """Save a numbered checkpoint every this many env steps (latest.safetensors every update)."""
    torch_threads: int = 1
    """torch intra-op threads."""
    tensorboard: bool = True
    """Also write TensorBoard event files to OUT/tb."""
    progress: bool = True
    """Show a progress bar."""
    fpo: FpoConfig = field(default_factory=FpoConfig)
    """FPO settings (used with --algo fpo)."""
    ppo: PpoConfig = field(default_factory=PpoConfig)
    """PPO settings (used with --algo ppo)."""

    @property
    def algo_config(self) -> AlgoConfig:
        return self.fpo if self.algo == "fpo" else self.ppo
