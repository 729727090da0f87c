"""Tiny untrained checkpoints for tests, written with the FPO core's own save function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fpo_policy.core.flow import FlowNetConfig, VelocityField
from fpo_policy.core.normalization import RunningMeanStd
from fpo_policy.core.policy import PolicyMetadata, save_policy
from so100_common.core import tasks


def write_policy(
    path: str | Path,
    task: tasks.TaskSpec | None = tasks.REACH,
    *,
    obs_dim: int | None = None,
    act_dim: int | None = None,
    hidden: tuple[int, ...] = (16, 16),
    policy_id: str = "test",
    version: int = 1,
    seed: int = 0,
    solver: str = "euler",
    steps: int = 4,
    output_scale: float = 1.0,
) -> Path:
    """Save an untrained flow policy for ``task`` (dimensions overridable to make mismatches)."""
    base = task or tasks.REACH
    obs_dim = base.obs_dim if obs_dim is None else obs_dim
    act_dim = base.act_dim if act_dim is None else act_dim
    torch.manual_seed(seed)
    network = FlowNetConfig(obs_dim, act_dim, hidden=hidden, output_scale=output_scale)
    meta = PolicyMetadata(
        algorithm="fpo",
        env_id=base.env_id,
        obs_dim=obs_dim,
        act_dim=act_dim,
        action_low=(-1.0,) * act_dim,
        action_high=(1.0,) * act_dim,
        policy_id=policy_id,
        version=version,
        step=0,
        solver=solver,
        steps=steps,
        network=network.to_dict(),
        task=None if task is None else task.to_dict(),
    )
    save_policy(path, VelocityField(network), None, RunningMeanStd.zeros(obs_dim), meta)
    return Path(path)


def corrupt(path: str | Path) -> Path:
    """Flip bytes in the middle of a checkpoint file (in place)."""
    data = bytearray(Path(path).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(np.random.default_rng(0).integers(0, 256, 16, dtype=np.uint8))
    Path(path).write_bytes(bytes(data))
    return Path(path)
