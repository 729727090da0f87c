"""Per-task hyperparameter tables (rl-zoo style): one committed row per task and algorithm.

A table is a YAML mapping ``env id -> section -> settings``. Sections: ``run`` (fields of
:class:`~fpo_policy.core.config.TrainArgs` every algorithm shares, such as ``num_envs``), ``fpo``
(:class:`~fpo_policy.core.config.FpoConfig` fields), ``ppo`` (:class:`~fpo_policy.core.config.PpoConfig`
fields) and ``sb3`` (stable-baselines3 PPO keyword arguments, read by the peer benchmark). The table
shipped with the package, :data:`ZOO_TABLE`, holds the settings of every run reported in
benchmarks/README.md; ``fpo-train --hyperparameters zoo`` trains with them.

A table only sets values: each one is checked against its dataclass (an unknown name or a value out
of range is refused, naming the task, section and field), and the defaults stay in the dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path

import yaml

from fpo_policy.core.config import TrainArgs

ZOO_TABLE = Path(__file__).with_name("hyperparameters.yaml")
"""The table shipped with the package."""

ZOO = "zoo"
"""The name ``--hyperparameters`` gives :data:`ZOO_TABLE`."""

RUN_FIELDS = ("num_envs", "total_steps", "train_env_kwargs", "eval_every", "eval_episodes")
"""TrainArgs fields a ``run`` section may set."""

SECTIONS = ("run", "fpo", "ppo", "sb3")


class HyperparameterError(ValueError):
    """A table that cannot be read or names a setting that does not exist."""


def load_table(source: str | Path) -> dict[str, dict[str, dict]]:
    """The table at ``source`` (a path, or :data:`ZOO` for the shipped one), checked for shape."""
    path = ZOO_TABLE if str(source) == ZOO else Path(source)
    try:
        table = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise HyperparameterError(f"hyperparameter table {path}: {err}") from None
    if not isinstance(table, dict):
        raise HyperparameterError(f"hyperparameter table {path}: expected a mapping of env ids")
    for env, rows in table.items():
        if not isinstance(rows, dict) or not all(isinstance(v, dict) for v in rows.values()):
            raise HyperparameterError(f"{path}: {env}: expected sections of settings")
        unknown = sorted(set(rows) - set(SECTIONS))
        if unknown:
            raise HyperparameterError(f"{path}: {env}: unknown sections {unknown}; expected {SECTIONS}")
    return table


def task_rows(table: Mapping[str, Mapping], env: str) -> dict[str, dict]:
    """The sections of ``env`` (an empty mapping for a task the table does not list)."""
    return {k: dict(v) for k, v in table.get(env, {}).items()}


def _set(config, values: Mapping, where: str):
    names = {f.name for f in fields(config)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise HyperparameterError(f"{where}: unknown settings {unknown}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return replace(config, **converted)
    except (TypeError, ValueError) as err:
        raise HyperparameterError(f"{where}: {err}") from None


def apply_table(args: TrainArgs, table: Mapping[str, Mapping]) -> TrainArgs:
    """``args`` with the table's ``run``, ``fpo`` and ``ppo`` rows for ``args.env`` applied."""
    rows = task_rows(table, args.env)
    run = rows.get("run", {})
    outside = sorted(set(run) - set(RUN_FIELDS))
    if outside:
        raise HyperparameterError(f"{args.env}: run: {outside} cannot be set here; allowed {RUN_FIELDS}")
    out = _set(args, run, f"{args.env}: run")
    return replace(
        out,
        fpo=_set(out.fpo, rows.get("fpo", {}), f"{args.env}: fpo"),
        ppo=_set(out.ppo, rows.get("ppo", {}), f"{args.env}: ppo"),
    )
