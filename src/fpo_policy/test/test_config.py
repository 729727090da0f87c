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
