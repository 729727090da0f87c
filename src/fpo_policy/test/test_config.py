"""fpo-train's command line (tyro over the config dataclasses)."""

from __future__ import annotations

import dataclasses

import pytest
import tyro

from fpo_policy.core.config import AlgoConfig, FpoConfig, PpoConfig, TrainArgs


def test_interface_flags_parse_into_the_dataclasses():
    args = tyro.cli(
        TrainArgs,
        args=[
            "--algo", "ppo", "--env", "mymod:Reach-v0", "--total-steps", "5000", "--num-envs", "4",
            "--seed", "7", "--out", "/tmp/x", "--resume", "--ppo.learning-rate", "1e-3",
            "--fpo.ratio", "mean", "--fpo.no-aspo", "--fpo.solver", "rk4", "--fpo.cfm-lambda", "0.1",
        ],
    )  # fmt: skip
    assert (args.algo, args.env, args.total_steps, args.num_envs, args.seed) == (
        "ppo",
        "mymod:Reach-v0",
        5000,
        4,
        7,
    )
    assert args.resume
    assert args.algo_config is args.ppo
    assert args.ppo.learning_rate == 1e-3
    assert (args.fpo.ratio, args.fpo.aspo, args.fpo.solver, args.fpo.cfm_lambda) == (
        "mean",
        False,
        "rk4",
        0.1,
    )
    with pytest.raises(SystemExit):
        tyro.cli(TrainArgs, args=["--algo", "sac"])


def test_best_measured_settings_are_the_fpo_defaults():
    cfg = FpoConfig()
    assert (cfg.ratio, cfg.aspo, cfg.gamma, cfg.learning_rate, cfg.clip_eps) == (
        "per_sample",
        True,
        0.9,
        1e-3,
        0.2,
    )
    assert (cfg.loss_form, cfg.cfm_lambda) == ("eps", 0.1)
    assert PpoConfig().learning_rate == 3e-4  # CleanRL


def test_every_config_field_has_a_docstring():
    for cls in (AlgoConfig, FpoConfig, PpoConfig, TrainArgs):
        for f in dataclasses.fields(cls):
            helptext = tyro._docstrings.get_field_docstring(cls, f.name, ())
            assert helptext, f"{cls.__name__}.{f.name} lacks a docstring"


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="clip_eps"):
        FpoConfig(clip_eps=1.5)
    with pytest.raises(ValueError, match="tau_min"):
        FpoConfig(tau_min=0.9, tau_max=0.1)


def test_algorithm_configs_are_frozen_and_derive_the_batch_sizes():
    config = FpoConfig(num_steps=64, num_minibatches=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.gamma = 0.5
    args = TrainArgs(num_envs=3, total_steps=1000, fpo=config)
    assert args.batch_size == 192
    assert args.num_updates == 5
    assert config.minibatch_size(args.batch_size) == 48
    assert TrainArgs(total_steps=10, fpo=config).num_updates == 1  # at least one update


@pytest.mark.parametrize("cls", [FpoConfig, PpoConfig])
def test_every_hyperparameter_has_a_range_or_its_choices(cls):
    """What the trainer node declares as fpo.* / ppo.* parameters carries its allowed values."""
    from fpo_policy.core.config import hyperparameter_names
    from so100_common.core.config_fields import choices, value_range

    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name not in hyperparameter_names(cls) or isinstance(getattr(defaults, f.name), bool):
            continue
        assert value_range(f) is not None or choices(f) is not None, f"{cls.__name__}.{f.name}"
    assert "actor_hidden" not in hyperparameter_names(cls)  # tuples are not node parameters


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_form": "mse"}, r"FpoConfig\.loss_form must be one of \['velocity', 'eps'\]"),
        ({"gamma": 1.5}, r"FpoConfig\.gamma must be in \[0\.0, 1\.0\]"),
        ({"n_pairs": 0}, r"FpoConfig\.n_pairs must be in"),
        ({"solver": "heun"}, r"FpoConfig\.solver must be one of"),
        ({"activation": "gelu"}, r"FpoConfig\.activation must be one of"),
    ],
)
def test_out_of_range_values_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FpoConfig(**kwargs)
    with pytest.raises(ValueError, match=r"PpoConfig\.num_minibatches"):
        PpoConfig(num_minibatches=0)


def test_training_env_keywords_reach_the_training_envs_only(tmp_path):
    from fpo_policy.core.trainer import Trainer

    args = TrainArgs(
        env="Pendulum-v1",
        num_envs=2,
        out=str(tmp_path),
        tensorboard=False,
        progress=False,
        train_env_kwargs='{"g": 5.0}',
    )
    trainer = Trainer(args)
    assert [env.unwrapped.g for env in trainer.envs.envs] == [5.0, 5.0]
    assert trainer.eval_env.unwrapped.g == 10.0
    trainer.envs.close()
    trainer.eval_env.close()
    with pytest.raises(ValueError, match="not JSON"):
        TrainArgs(train_env_kwargs="{g: 5}")
    with pytest.raises(ValueError, match="must be a JSON object"):
        TrainArgs(train_env_kwargs="[1, 2]")
