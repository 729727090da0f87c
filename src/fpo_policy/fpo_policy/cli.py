"""Console scripts ``fpo-train`` and ``fpo-eval`` (thin wrappers around :mod:`fpo_policy.core`)."""

from __future__ import annotations

import argparse
import json
import sys


def _table_defaults(argv: list[str] | None):
    """TrainArgs with the ``--hyperparameters`` table's rows for ``--env`` applied (flags come after)."""
    from fpo_policy.core.config import TrainArgs
    from fpo_policy.core.hyperparameters import apply_table, load_table

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--env", default=TrainArgs.env)
    pre.add_argument("--hyperparameters", default="")
    known, _ = pre.parse_known_args(argv)
    base = TrainArgs(env=known.env, hyperparameters=known.hyperparameters)
    return apply_table(base, load_table(known.hyperparameters)) if known.hyperparameters else base


def train_main(argv: list[str] | None = None) -> int:
    """fpo-train --algo {fpo,ppo} --env ID --total-steps N --num-envs E --seed S --out DIR [--resume] ..."""
    import tyro

    from fpo_policy.core.config import TrainArgs
    from fpo_policy.core.hyperparameters import HyperparameterError
    from fpo_policy.core.trainer import train

    try:
        defaults = _table_defaults(argv)
    except HyperparameterError as err:
        print(f"fpo-train: {err}", file=sys.stderr)
        return 2
    args = tyro.cli(TrainArgs, args=argv, default=defaults, description=TrainArgs.__doc__)
    try:
        result = train(args)
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    summary = {"out": str(result.out), "global_step": result.global_step, "updates": result.updates}
    if result.final_eval is not None:
        summary["eval"] = result.final_eval.to_dict()
    print(json.dumps(summary))
    return 0


def eval_main(argv: list[str] | None = None) -> int:
    """fpo-eval CHECKPOINT --env ID --episodes N: prints mean return (and success rate) as JSON."""
    from fpo_policy.core import CheckpointError, load_policy
    from fpo_policy.core.trainer import evaluate

    parser = argparse.ArgumentParser(prog="fpo-eval", description=eval_main.__doc__)
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by fpo-train")
    parser.add_argument("--env", default=None, help="gymnasium id (default: the checkpoint's env)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--stochastic", action="store_true", help="sample from noise instead of zero-noise")
    parser.add_argument("--solver", default=None, help="override the checkpoint's ODE solver")
    parser.add_argument("--steps", type=int, default=None, help="override the checkpoint's solver steps")
    ns = parser.parse_args(argv)
    if ns.episodes < 1:
        parser.error("--episodes must be >= 1")
    try:
        policy = load_policy(ns.checkpoint)
        if ns.solver or ns.steps:
            base = policy.act
            policy.act = lambda obs, deterministic=True: base(obs, deterministic, ns.solver, ns.steps)
        env_id = ns.env or policy.metadata.env_id
        result = evaluate(policy, env_id, ns.episodes, seed=ns.seed, deterministic=not ns.stochastic)
    except CheckpointError as e:
        print(f"fpo-eval: {e}", file=sys.stderr)
        return 2
    out = {"env": env_id, "episodes": result.episodes, "mean_return": result.mean_return}
    out["std_return"] = result.std_return
    if result.success_rate is not None:
        out["success_rate"] = result.success_rate
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(train_main())
