"""A trained policy rebuilt from its checkpoint alone: :func:`load_policy` and :class:`Policy`.

Every reader of a policy checkpoint goes through :func:`read_policy_checkpoint` (verified file,
parsed metadata, weights loaded by :meth:`PolicyCheckpoint.load_into`), and every check of a
checkpoint against what it is about to be used for (a task, an env's spaces, a network, a run)
through :func:`check_compatible`: one place says what "fits" means.

``Policy.act`` normalises observations with the stored statistics, samples raw actions (flow: the
ODE of :mod:`fpo_policy.core.sampling`; Gaussian: the mean or a sample) and squashes them into the
env's bounds by the convention of :mod:`fpo_policy.core.squash`. The trainer's evaluation uses the
same class, so what was evaluated is what is deployed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fpo_policy.core.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from fpo_policy.core.flow import TIME_CONVENTION, FlowNetConfig, VelocityField
from fpo_policy.core.gaussian import GaussianActor, GaussianNetConfig
from fpo_policy.core.normalization import RunningMeanStd
from fpo_policy.core.sampling import SOLVERS, sample_actions
from fpo_policy.core.squash import SQUASH, ActionBounds
from so100_common.core import tasks


@dataclass(frozen=True)
class PolicyMetadata:
    """Everything besides the weights needed to rebuild and run a policy (JSON in the checkpoint)."""

    algorithm: str
    """"fpo" or "ppo"."""
    env_id: str
    """Gymnasium id the policy was trained on."""
    obs_dim: int
    act_dim: int
    action_low: tuple[float, ...]
    """(A,) lower bounds of the env's action space."""
    action_high: tuple[float, ...]
    """(A,) upper bounds of the env's action space."""
    policy_id: str
    """Run name."""
    version: int
    """Number of policy updates so far."""
    step: int
    """Environment steps so far."""
    solver: str
    """Default ODE solver ("none" for Gaussian policies)."""
    steps: int
    """Default solver steps K (0 for Gaussian policies)."""
    network: dict
    """Actor network config (``kind`` "flow" or "gaussian")."""
    critic_hidden: tuple[int, ...] = (64, 64)
    obs_norm: bool = True
    """Whether observations are normalised with the stored running statistics."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to +-obs_clip."""
    obs_count: float = 0.0
    """Number of observations behind the stored statistics."""
    task: dict | None = None
    """The training env's ``task_spec`` (a JSON dict), or None."""
    squash: str = SQUASH
    time_convention: str = TIME_CONVENTION
    config: dict = field(default_factory=dict)
    """The algorithm config the policy was trained with (for the record)."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["action_low"], d["action_high"] = list(self.action_low), list(self.action_high)
        d["critic_hidden"] = list(self.critic_hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict, path: str | Path = "<checkpoint>") -> PolicyMetadata:
        names = {f.name for f in fields(cls)}
        required = {"algorithm", "env_id", "obs_dim", "act_dim", "action_low", "action_high", "policy_id"}
        required |= {"version", "step", "solver", "steps", "network"}
        missing = sorted(required - set(d))
        if missing:
            raise CheckpointError(f"{path}: metadata lacks {', '.join(missing)}")
        kw: dict[str, Any] = {k: v for k, v in d.items() if k in names}
        kw["action_low"] = tuple(float(x) for x in d["action_low"])
        kw["action_high"] = tuple(float(x) for x in d["action_high"])
        kw["critic_hidden"] = tuple(d.get("critic_hidden", (64, 64)))
        meta = cls(**kw)
        meta.validate(path)
        return meta

    def validate(self, path: str | Path = "<checkpoint>") -> None:
        """Refuse metadata this code cannot run faithfully."""
        if self.squash != SQUASH:
            raise CheckpointError(
                f"{path}: mismatched action squashing {self.squash!r}; this code uses {SQUASH!r}"
            )
        if self.time_convention != TIME_CONVENTION:
            raise CheckpointError(
                f"{path}: mismatched flow time convention {self.time_convention!r}; "
                f"this code uses {TIME_CONVENTION!r}"
            )
        if self.algorithm not in ("fpo", "ppo"):
            raise CheckpointError(f"{path}: unknown algorithm {self.algorithm!r}")
        if len(self.action_low) != self.act_dim or len(self.action_high) != self.act_dim:
            raise CheckpointError(
                f"{path}: mismatched metadata: action bounds do not have act_dim={self.act_dim}"
            )
        if self.network.get("obs_dim") != self.obs_dim or self.network.get("act_dim") != self.act_dim:
            raise CheckpointError(f"{path}: mismatched metadata: network dims differ from obs_dim/act_dim")
        if self.algorithm == "fpo" and self.solver not in SOLVERS:
            raise CheckpointError(f"{path}: unknown solver {self.solver!r}")

    @property
    def bounds(self) -> ActionBounds:
        return ActionBounds(np.array(self.action_low), np.array(self.action_high))

    def task_spec(self, path: str | Path = "<checkpoint>") -> tasks.TaskSpec:
        """The stored SO-100 task spec, parsed and checked against the policy's dimensions.

        Raises :class:`CheckpointError` naming ``path`` when there is none or it does not fit.
        """
        if self.task is None:
            raise CheckpointError(
                f"{path}: the checkpoint has no task spec (metadata.task); acting on the SO-100 needs it "
                "to build observations and map actions"
            )
        try:
            spec = tasks.from_dict(self.task)
        except (ValueError, TypeError, KeyError) as err:
            raise CheckpointError(f"{path}: invalid task spec in the checkpoint: {err}") from None
        check_compatible(
            self, f"{path}: does not fit its task {spec.env_id}", obs_dim=spec.obs_dim, act_dim=spec.act_dim
        )
        return spec


def build_actor(network: dict) -> nn.Module:
    """Rebuild an actor from its network config dict."""
    kind = network.get("kind")
    if kind == "flow":
        return VelocityField(FlowNetConfig.from_dict(network))
    if kind == "gaussian":
        return GaussianActor(GaussianNetConfig.from_dict(network))
    raise ValueError(f"unknown network kind {kind!r}")


class Policy:
    """A policy that maps env observations to env actions."""

    def __init__(
        self,
        actor: nn.Module,
        metadata: PolicyMetadata,
        obs_rms: RunningMeanStd,
        *,
        path: str | Path | None = None,
        sha256: str = "",
    ) -> None:
        self.actor = actor
        self.metadata = metadata
        self.obs_rms = obs_rms
        self.path = Path(path) if path is not None else None
        self.sha256 = sha256
        self._bounds = metadata.bounds

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Env observations (B, O) -> the actor's input (B, O), float32."""
        obs = np.asarray(obs, dtype=np.float32)
        return self.obs_rms.normalize(obs) if self.metadata.obs_norm else obs

    @torch.no_grad()
    def raw_action(
        self,
        obs_norm: np.ndarray,
        deterministic: bool = True,
        solver: str | None = None,
        steps: int | None = None,
    ) -> np.ndarray:
        """Normalised observations (B, O) -> raw pre-squash actions (B, A)."""
        x = torch.as_tensor(obs_norm, dtype=torch.float32)
        if isinstance(self.actor, VelocityField):
            u = sample_actions(
                self.actor,
                x,
                self.metadata.act_dim,
                steps=steps or self.metadata.steps,
                solver=solver or self.metadata.solver,
                deterministic=deterministic,
            )
        elif deterministic:
            u = self.actor(x)
        else:
            u = self.actor.sample(x)
        return u.numpy()

    def act(
        self, obs: np.ndarray, deterministic: bool = True, solver: str | None = None, steps: int | None = None
    ) -> np.ndarray:
        """Observations (B, obs_dim) float32 -> actions (B, act_dim) float32 inside the env's bounds.

        A single observation (obs_dim,) gives a single action (act_dim,). ``deterministic`` uses the
        zero-noise start (flow) or the mean (Gaussian); ``solver``/``steps`` override the stored defaults.
        """
        return self.act_with_raw(obs, deterministic, solver, steps)[0]

    def act_with_raw(
        self, obs: np.ndarray, deterministic: bool = True, solver: str | None = None, steps: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`act`, also returning the raw pre-squash actions the env actions are squashed from
        (what a trainer scores: the policy node publishes them when acting for training)."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if batch.ndim != 2 or batch.shape[1] != self.metadata.obs_dim:
            raise ValueError(f"expected observations of shape (B, {self.metadata.obs_dim}), got {obs.shape}")
        raw = self.raw_action(self.normalize(batch), deterministic, solver, steps)
        actions = self._bounds.to_env(raw)
        return (actions[0], raw[0]) if single else (actions, raw)


def policy_tensors(
    actor: nn.Module, critic: nn.Module | None, obs_rms: RunningMeanStd
) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores: actor.*, critic.* and the observation statistics."""
    tensors = {f"actor.{k}": v for k, v in actor.state_dict().items()}
    if critic is not None:
        tensors.update({f"critic.{k}": v for k, v in critic.state_dict().items()})
    tensors["obs_rms.mean"] = torch.as_tensor(obs_rms.mean, dtype=torch.float64)
    tensors["obs_rms.var"] = torch.as_tensor(obs_rms.var, dtype=torch.float64)
    return tensors


def save_policy(
    path: str | Path,
    actor: nn.Module,
    critic: nn.Module | None,
    obs_rms: RunningMeanStd,
    metadata: PolicyMetadata,
) -> None:
    """Atomically write a policy checkpoint."""
    metadata.validate(path)
    save_checkpoint(path, policy_tensors(actor, critic, obs_rms), metadata.to_dict())


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix.`` with the prefix removed."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_state(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """load_state_dict with every mismatch reported as a :class:`CheckpointError`."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: mismatched {what} weights: missing {missing or 'none'}, "
            f"unexpected {unexpected or 'none'}"
        )
    for k in expected:
        v = state[k]
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(
                f"{path}: mismatched {what} tensor {k!r}: shape {tuple(v.shape)}, "
                f"network config expects {tuple(expected[k].shape)}"
            )
    module.load_state_dict(state)


@dataclass(frozen=True)
class PolicyCheckpoint:
    """A verified policy checkpoint as read from disk: metadata and tensors, no network built yet."""

    path: Path
    metadata: PolicyMetadata
    tensors: dict[str, torch.Tensor]
    sha256: str
    """Hex SHA-256 of the whole file, as read."""

    @property
    def stores_critic(self) -> bool:
        return any(name.startswith("critic.") for name in self.tensors)

    def load_into(self, actor: nn.Module, critic: nn.Module | None = None) -> RunningMeanStd:
        """Load the stored actor (and critic, when one is given) weights; return the stored
        observation statistics. Raises :class:`CheckpointError` on any mismatch."""
        load_state(actor, split_prefix(self.tensors, "actor"), self.path, "actor")
        if critic is not None:
            load_state(critic, split_prefix(self.tensors, "critic"), self.path, "critic")
        return obs_rms_from_tensors(self.tensors, self.metadata, self.path)


def read_policy_checkpoint(path: str | Path, expected_sha256: str = "") -> PolicyCheckpoint:
    """Read and verify a policy checkpoint (never executes code from the file).

    ``expected_sha256``: when given, the file's SHA-256 must equal it (an announced version).
    Raises :class:`CheckpointError` naming the file for anything corrupt, truncated or mismatched.
    """
    data = read_checkpoint(path)
    if expected_sha256 and data.sha256 != expected_sha256.strip().lower():
        raise CheckpointError(f"{path}: SHA-256 {data.sha256} does not match the announced {expected_sha256}")
    meta = PolicyMetadata.from_dict(data.metadata, path)
    return PolicyCheckpoint(Path(path), meta, data.tensors, data.sha256)


def load_policy(path: str | Path, expected_sha256: str = "") -> Policy:
    """Load a checkpoint into a :class:`Policy` (see :func:`read_policy_checkpoint`)."""
    checkpoint = read_policy_checkpoint(path, expected_sha256)
    try:
        actor = build_actor(checkpoint.metadata.network)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: bad network config: {e}") from None
    obs_rms = checkpoint.load_into(actor)
    actor.eval()
    return Policy(actor, checkpoint.metadata, obs_rms, path=path, sha256=checkpoint.sha256)


def check_compatible(
    meta: PolicyMetadata,
    where: str,
    *,
    algorithm: str | None = None,
    env_id: str | None = None,
    network: dict | None = None,
    task: dict | None = None,
    obs_dim: int | None = None,
    act_dim: int | None = None,
    action_bounds: ActionBounds | None = None,
) -> None:
    """Refuse a checkpoint that does not fit what it is about to be used for.

    Each given expectation is compared with the checkpoint's metadata; the first that differs
    raises :class:`CheckpointError` as ``"{where}: <what differs>"``. ``task`` is a task spec
    dict (``so100_common.core.tasks.TaskSpec.to_dict()`` or an env's ``task_spec``): a checkpoint
    of another task, or of another version of the same task (a spec holds the action mapping and
    the episode rules, so such a policy would act unlike how it learned), is refused; a
    checkpoint or env without a spec (plain gymnasium envs) is not compared.
    """
    if (algorithm is not None and meta.algorithm != algorithm) or (
        env_id is not None and meta.env_id != env_id
    ):
        raise CheckpointError(
            f"{where}: checkpoint is {meta.algorithm} on {meta.env_id}, "
            f"expected {algorithm or meta.algorithm} on {env_id or meta.env_id}"
        )
    if network is not None and meta.network != network:
        raise CheckpointError(f"{where}: checkpoint network config {meta.network}, expected {network}")
    if task is not None and meta.task is not None:
        _check_same_task(meta.task, task, where)
    for name, expected in (("obs_dim", obs_dim), ("act_dim", act_dim)):
        if expected is not None and getattr(meta, name) != expected:
            raise CheckpointError(f"{where}: checkpoint {name} {getattr(meta, name)}, expected {expected}")
    if action_bounds is not None and not (
        np.allclose(action_bounds.low, meta.action_low) and np.allclose(action_bounds.high, meta.action_high)
    ):
        raise CheckpointError(
            f"{where}: checkpoint action bounds {list(meta.action_low)}..{list(meta.action_high)}, "
            f"expected {action_bounds.low.tolist()}..{action_bounds.high.tolist()}"
        )


def _check_same_task(stored: dict, current: dict, where: str) -> None:
    stored, current = json.loads(json.dumps(stored)), json.loads(json.dumps(current))
    name = current.get("env_id", "its env")
    if stored.get("env_id", name) != name:
        raise CheckpointError(f"{where}: its task is not {name} (it was trained on {stored['env_id']})")
    differ = sorted(
        k for k in set(stored) | set(current) if stored.get(k, "(none)") != current.get(k, "(none)")
    )
    if differ:
        raise CheckpointError(
            f"{where}: trained on another version of {name}: its task spec differs in {differ} "
            f"({ {k: stored.get(k, '(none)') for k in differ} } in the checkpoint, "
            f"{ {k: current.get(k, '(none)') for k in differ} } now)"
        )


def obs_rms_from_tensors(
    tensors: dict[str, torch.Tensor], meta: PolicyMetadata, path: str | Path
) -> RunningMeanStd:
    mean, var = tensors.get("obs_rms.mean"), tensors.get("obs_rms.var")
    if mean is None or var is None:
        raise CheckpointError(f"{path}: missing observation normalisation tensors obs_rms.mean/obs_rms.var")
    if tuple(mean.shape) != (meta.obs_dim,) or tuple(var.shape) != (meta.obs_dim,):
        raise CheckpointError(
            f"{path}: mismatched observation normalisation: shape {tuple(mean.shape)}, "
            f"obs_dim is {meta.obs_dim}"
        )
    return RunningMeanStd(
        mean=mean.double().numpy().copy(),
        var=var.double().numpy().copy(),
        count=meta.obs_count,
        clip=meta.obs_clip,
    )
