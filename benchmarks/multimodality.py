"""RL multimodality: on a one-step task with two equally optimal actions (-0.5 and +0.5, see
bandits.py), the share of each policy's samples near each mode as training proceeds, per seed.

Each run saves a checkpoint every CHECK env steps; every checkpoint is loaded with load_policy and
sampled 2000 times (stochastic start, the rollout distribution). "Near" means within 0.2 of the mode.

Both algorithms: 8 envs x 128 steps per update, 16 minibatches, gamma 0, constant learning rate.

Usage: python benchmarks/multimodality.py --seeds 1 2 3 --total-steps 40960 --lr 3e-3 \
    --out /tmp/multimodality \
    [--set fpo.norm_adv=false ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fpo_vs_ppo import apply_overrides

from fpo_policy.core import load_policy
from fpo_policy.core.config import FpoConfig, PpoConfig, TrainArgs
from fpo_policy.core.trainer import Trainer

ENV = "bandits:TwoMode-v0"


def shares(path: Path, samples: int = 2000) -> tuple[float, float]:
    policy = load_policy(path)
    a = policy.act(np.zeros((samples, 1), np.float32), deterministic=False)[:, 0]
    return float(np.mean(np.abs(a + 0.5) < 0.2)), float(np.mean(np.abs(a - 0.5) < 0.2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--algos", nargs="+", default=["fpo", "ppo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=20_480)
    parser.add_argument("--check", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate of both algorithms")
    parser.add_argument("--out", type=Path, default=Path("/tmp/multimodality"))
    parser.add_argument("--set", nargs="*", default=[], help="overrides such as fpo.norm_adv=false")
    ns = parser.parse_args()
    small = dict(
        num_steps=128, num_minibatches=16, gamma=0.0, gae_lambda=0.0, learning_rate=ns.lr, anneal_lr=False
    )
    table = []
    for algo in ns.algos:
        for seed in ns.seeds:
            out = ns.out / f"{algo}_s{seed}"
            args = TrainArgs(
                algo=algo,
                env=ENV,
                total_steps=ns.total_steps,
                num_envs=8,
                seed=seed,
                out=str(out),
                eval_every=0,
                eval_episodes=1,
                checkpoint_every=ns.check,
                tensorboard=False,
                progress=False,
                fpo=FpoConfig(**small),
                ppo=PpoConfig(**small),
            )
            args = apply_overrides(args, ns.set)
            Trainer(args).run()
            for ckpt in sorted((out / "checkpoints").glob("step_*.safetensors")):
                left, right = shares(ckpt)
                step = int(ckpt.stem.split("_")[1])
                table.append(
                    {"algo": algo, "seed": seed, "step": step, "near_-0.5": left, "near_+0.5": right}
                )
                print(json.dumps(table[-1]), flush=True)
    (ns.out / "shares.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
