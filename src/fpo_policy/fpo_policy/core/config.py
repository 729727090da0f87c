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

import json
from dataclasses import dataclass, field, fields
from typing import Literal, get_args

from fpo_policy.core.flow import LossForm
from fpo_policy.core.networks import ACTIVATIONS
from fpo_policy.core.sampling import Solver
from so100_common.core.config_fields import check_ranges, setting

RatioForm = Literal["per_sample", "mean"]
CfmWeighting = Literal["uniform", "advantage"]
_RATIO_FORMS, _LOSS_FORMS, _SOLVERS = get_args(RatioForm), get_args(LossForm), get_args(Solver)
_CFM_WEIGHTINGS = get_args(CfmWeighting)
_ACTIVATIONS = tuple(ACTIVATIONS)


@dataclass(frozen=True)
class AlgoConfig:
    """Rollout and update settings common to FPO and PPO."""

    num_steps: int = setting(256, 1, 1_000_000)
    """Rollout length per env per update; batch size = num_steps * num_envs."""
    learning_rate: float = setting(3e-4, 1e-8, 1.0)
    """Adam learning rate."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the run."""
    gamma: float = setting(0.99, 0.0, 1.0)
    """Discount factor."""
    gae_lambda: float = setting(0.95, 0.0, 1.0)
    """GAE lambda."""
    update_epochs: int = setting(10, 1, 10_000)
    """Passes over each batch."""
    num_minibatches: int = setting(32, 1, 1_000_000)
    """Minibatches per epoch."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_eps: float = setting(0.2, 0.001, 0.999)
    """Clip range of the ratio."""
    vf_coef: float = setting(0.5, 0.0, 1000.0)
    """Weight of the value loss."""
    max_grad_norm: float = setting(0.5, 1e-6, 1e6)
    """Global gradient-norm clip."""
    critic_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the critic (tanh)."""
    norm_obs: bool = True
    """Running observation normalisation (stored in checkpoints)."""
    norm_reward: bool = True
    """Scale rewards by the running std of the discounted return (training only)."""

    def __post_init__(self) -> None:
        check_ranges(self)

    def minibatch_size(self, batch_size: int) -> int:
        """Transitions per minibatch of a batch of ``batch_size`` (the remainder is left out)."""
        return max(1, batch_size // self.num_minibatches)


@dataclass(frozen=True)
class FpoConfig(AlgoConfig):
    """Flow Policy Optimization: a flow-matching actor trained with rho = exp(L_old - L_new)."""

    learning_rate: float = setting(1e-3, 1e-8, 1.0)
    """Adam learning rate."""
    gamma: float = setting(0.9, 0.0, 1.0)
    """Discount factor."""
    n_pairs: int = setting(8, 1, 4096)
    """Monte Carlo (tau, eps) pairs N per transition, drawn at rollout time and reused every epoch."""
    ratio: RatioForm = setting("per_sample", choices=_RATIO_FORMS)
    """``per_sample``: one ratio per pair, each clipped (FPO++); ``mean``: exp of the mean loss
    difference over the pairs, one ratio per action (the paper)."""
    aspo: bool = True
    """PPO clip for positive advantages, SPO quadratic penalty for negative ones (FPO++)."""
    cfm_lambda: float = setting(0.1, 0.0, 1000.0)
    """Weight lambda of the CFM regulariser on the collected actions (total = FPO + lambda * CFM).
    With the eps loss it keeps learning from wandering (benchmarks/README.md); 1 collapses the flow
    onto a deterministic map."""
    cfm_weighting: CfmWeighting = setting("uniform", choices=_CFM_WEIGHTINGS)
    """How the CFM regulariser weighs the collected actions: ``uniform``, or ``advantage``: by
    exp(A / cfm_beta) with A the normalised advantage (advantage-weighted regression; its fixed
    point pi_old * exp(A / beta) leaves equally good modes their shares)."""
    cfm_beta: float = setting(1.0, 1e-3, 1e3)
    """Temperature of the ``advantage`` weighting, in units of the (normalised) advantage."""
    cfm_weight_max: float = setting(20.0, 1.0, 1e6)
    """Cap on one action's ``advantage`` weight."""
    ent_coef: float = setting(0.0, 0.0, 1000.0)
    """Weight of an entropy bonus on the flow: the Kozachenko-Leonenko nearest-neighbour estimate
    over ``ent_samples`` squashed actions per minibatch state, sampled through the ODE with gradients
    (:func:`fpo_policy.core.fpo.knn_entropy`); 0 turns it off (no extra cost)."""
    ent_samples: int = setting(8, 2, 256)
    """Actions sampled per state for the entropy bonus."""
    loss_form: LossForm = setting("eps", choices=_LOSS_FORMS)
    """CFM loss form: the eps-supervised (time-weighted) form, which learns much faster than plain
    velocity MSE on InvertedDoublePendulum-v5 (benchmarks/README.md), or ``velocity``."""
    loss_clamp: float = setting(20.0, 1e-6, 1e9)
    """Per-sample CFM losses are clamped at this value before differencing."""
    log_ratio_clamp: float = setting(10.0, 1e-6, 1e3)
    """The log-ratio is clamped to +-this value (straight-through: the gradient passes)."""
    tau_min: float = setting(0.005, 0.0, 1.0)
    """Lower end of the flow times drawn for the CFM pairs."""
    tau_max: float = setting(0.995, 0.0, 1.0)
    """Upper end of the flow times drawn for the CFM pairs."""
    solver: Solver = setting("euler", choices=_SOLVERS)
    """ODE solver for sampling actions."""
    sample_steps: int = setting(10, 1, 1000)
    """Solver steps K for sampling actions."""
    actor_hidden: tuple[int, ...] = (64, 64, 64)
    """Hidden widths of the velocity network."""
    activation: str = setting("silu", choices=_ACTIVATIONS)
    """Hidden activation of the velocity network."""
    time_features: int = setting(8, 1, 1024)
    """Fourier features of the flow time t."""
    output_scale: float = setting(1.0, 1e-6, 1e6)
    """Scale of the velocity network output."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.tau_min < self.tau_max:
            raise ValueError(f"FpoConfig needs tau_min < tau_max, got {self.tau_min}, {self.tau_max}")


@dataclass(frozen=True)
class PpoConfig(AlgoConfig):
    """Gaussian PPO (CleanRL ppo_continuous_action defaults, tanh-squashed like FPO)."""

    ent_coef: float = setting(0.0, 0.0, 1000.0)
    """Entropy bonus weight."""
    actor_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the mean network (tanh)."""
    log_std_init: float = setting(0.0, -20.0, 2.0)
    """Initial log standard deviation."""


def hyperparameter_names(cls: type[AlgoConfig]) -> tuple[str, ...]:
    """Scalar fields of an algorithm config a node may set (tuples, such as network widths, are not)."""
    defaults = cls()
    return tuple(
        f.name for f in fields(cls) if isinstance(getattr(defaults, f.name), (bool, int, float, str))
    )


@dataclass
class TrainArgs:
    """fpo-train: train an FPO or Gaussian PPO policy on a gymnasium environment."""

    algo: Literal["fpo", "ppo"] = "fpo"
    """Algorithm."""
    env: str = "Pendulum-v1"
    """Gymnasium id; ``module:EnvName-v0`` imports ``module`` first (to register the env)."""
    hyperparameters: str = ""
    """Per-task settings table applied over the defaults, under the command line's own flags:
    ``zoo`` for the table shipped with the package (fpo_policy/core/hyperparameters.yaml, the
    settings of every reported run), a path to another YAML table, or empty for none."""
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
    train_env_kwargs: str = ""
    """JSON object of keyword arguments for the training envs only (evaluation runs the plain
    task), e.g. ``{"pre_grasp_start_fraction": 0.3}`` for SO100PickLift-v1's start curriculum."""
    eval_every: int = 10_000
    """Zero-noise evaluation every this many env steps (0: only at the end)."""
    eval_episodes: int = 20
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

    def __post_init__(self) -> None:
        self.train_env_options  # noqa: B018 (a malformed value is refused at once, by name)

    @property
    def train_env_options(self) -> dict:
        """``train_env_kwargs`` parsed (empty: none); ValueError names a malformed one."""
        if not self.train_env_kwargs.strip():
            return {}
        try:
            options = json.loads(self.train_env_kwargs)
        except json.JSONDecodeError as err:
            raise ValueError(f"--train-env-kwargs is not JSON: {err}") from None
        if not isinstance(options, dict):
            raise ValueError(f"--train-env-kwargs must be a JSON object, got {self.train_env_kwargs!r}")
        return options

    @property
    def batch_size(self) -> int:
        """Transitions per update: the rollout length times the number of envs."""
        return self.algo_config.num_steps * self.num_envs

    @property
    def num_updates(self) -> int:
        """Updates of the run (at least one): ``total_steps // batch_size``."""
        return max(1, self.total_steps // self.batch_size)
