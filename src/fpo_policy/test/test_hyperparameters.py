"""The per-task hyperparameter table (fpo_policy.core.hyperparameters) and fpo-train's --hyperparameters."""

from __future__ import annotations

import inspect

import pytest
import tyro

from fpo_policy.cli import _table_defaults, train_main
from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.hyperparameters import (
    SECTIONS,
    ZOO,
    HyperparameterError,
    apply_table,
    load_table,
    task_rows,
)

PICK = "fpo_sim.envs:SO100PickLift-v1"


def parse(argv: list[str]) -> TrainArgs:
    return tyro.cli(TrainArgs, args=argv, default=_table_defaults(argv))


def test_every_row_of_the_shipped_table_applies_and_sets_what_it_says():
    table = load_table(ZOO)
    assert {"Pendulum-v1", "fpo_sim.envs:SO100Reach-v1", PICK} <= set(table)
    for env, rows in table.items():
        assert set(rows) <= set(SECTIONS)
        args = apply_table(TrainArgs(env=env), table)
        for name, value in rows.get("run", {}).items():
            assert getattr(args, name) == value
        for section in ("fpo", "ppo"):
            for name, value in rows.get(section, {}).items():
                assert getattr(getattr(args, section), name) == pytest.approx(value), (env, section, name)


def test_the_shipped_sb3_rows_name_real_ppo_arguments():
    sb3 = pytest.importorskip("stable_baselines3", reason="requirements/bench.txt is not installed")
    accepted = set(inspect.signature(sb3.PPO.__init__).parameters) | {"n_envs", "normalize"}
    for env, rows in load_table(ZOO).items():
        assert set(rows.get("sb3", {})) <= accepted, env


def test_a_task_the_table_does_not_list_keeps_the_defaults():
    args = apply_table(TrainArgs(env="MountainCarContinuous-v0"), load_table(ZOO))
    assert args.fpo == FpoConfig()
    assert args.ppo == PpoConfig()
    assert args.num_envs == TrainArgs().num_envs
    assert task_rows(load_table(ZOO), "MountainCarContinuous-v0") == {}


def test_fpo_train_applies_the_table_under_the_command_line():
    plain = parse(["--env", PICK])
    assert plain.fpo.gamma == FpoConfig().gamma
    assert plain.train_env_kwargs == ""
    tuned = parse(["--env", PICK, "--hyperparameters", "zoo"])
    assert tuned.fpo.gamma == 0.95
    assert tuned.ppo.gamma == 0.95
    assert tuned.train_env_options == {"pre_grasp_start_fraction": 0.5}
    assert tuned.fpo.learning_rate == 3e-4 != FpoConfig().learning_rate
    overridden = parse(["--hyperparameters=zoo", f"--env={PICK}", "--fpo.gamma", "0.9", "--num-envs", "2"])
    assert overridden.fpo.gamma == 0.9
    assert overridden.num_envs == 2
    assert overridden.fpo.learning_rate == 3e-4  # a row the command line leaves alone still applies
    assert (
        parse(["--env", PICK, "--hyperparameters", "zoo", "--fpo.learning-rate", "1e-3"]).fpo.learning_rate
        == 1e-3
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Pendulum-v1:\n  fpo: {gama: 0.9}\n", "Pendulum-v1: fpo: unknown settings ['gama']"),
        ("Pendulum-v1:\n  ppo: {gamma: 1.5}\n", "Pendulum-v1: ppo:"),
        ("Pendulum-v1:\n  run: {seed: 3}\n", "Pendulum-v1: run: ['seed'] cannot be set here"),
        ("Pendulum-v1:\n  sac: {gamma: 0.9}\n", "unknown sections ['sac']"),
        ("Pendulum-v1: [1, 2]\n", "expected sections of settings"),
        ("Pendulum-v1: {fpo: {gamma: 0.9\n", "hyperparameter table"),
    ],
)
def test_a_bad_table_is_refused_by_name(tmp_path, capsys, text, message):
    path = tmp_path / "table.yaml"
    path.write_text(text)
    with pytest.raises(HyperparameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        apply_table(TrainArgs(env="Pendulum-v1"), load_table(path))
    out = tmp_path / "run"
    assert train_main(["--env", "Pendulum-v1", "--hyperparameters", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("fpo-train: ")
    assert not out.exists()


def test_a_missing_table_is_refused_by_path(tmp_path):
    with pytest.raises(HyperparameterError, match=r"nowhere\.yaml"):
        load_table(tmp_path / "nowhere.yaml")
