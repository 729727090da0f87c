"""Cost of FPO against Gaussian PPO, measured in one run on the same data.

1. Update time: one full update (epochs x minibatches) on the same batch of B transitions
   (Pendulum-sized: obs 3, action 1; default actor sizes of each algorithm), FPO at N pairs vs PPO.
2. Sampling time per batch size: K-step flow sampling (Euler, midpoint, RK4) vs one Gaussian sample.

Usage: python benchmarks/fpo_cost.py [--pairs 8] [--repeats 5]
Prints a JSON object; the figures in benchmarks/README.md come from it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from fpo_policy.core.config import FpoConfig, PpoConfig
from fpo_policy.core.rollout_storage import Batch
from fpo_policy.core.sampling import sample_actions
from fpo_policy.core.update import make_agent, update


def make_batch(agent, n: int, obs_dim: int) -> Batch:
    obs = torch.randn(n, obs_dim)
    actions, extras = agent.act(obs)
    return Batch(obs, actions, torch.zeros(n), torch.randn(n), torch.randn(n), extras)


def time_update(algo: str, cfg, n: int, obs_dim: int, act_dim: int, repeats: int) -> float:
    """Median seconds per full update."""
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        agent = make_agent(algo, cfg, obs_dim, act_dim)
        batch = make_batch(agent, n, obs_dim)
        opt = torch.optim.Adam(agent.parameters(), lr=cfg.learning_rate)
        t0 = time.perf_counter()
        update(agent, opt, batch, cfg)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def time_call(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--pairs", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--obs-dim", type=int, default=3)
    parser.add_argument("--act-dim", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ppo_s = time_update("ppo", PpoConfig(), args.batch, args.obs_dim, args.act_dim, args.repeats)
    update_rows = {"ppo_s": ppo_s}
    for n in args.pairs:
        fpo_s = time_update("fpo", FpoConfig(n_pairs=n), args.batch, args.obs_dim, args.act_dim, args.repeats)
        update_rows[f"fpo_N{n}_s"] = fpo_s
        update_rows[f"ratio_N{n}"] = fpo_s / ppo_s

    torch.manual_seed(0)
    flow = make_agent("fpo", FpoConfig(), args.obs_dim, args.act_dim)
    gauss = make_agent("ppo", PpoConfig(), args.obs_dim, args.act_dim)
    sampling = []
    for b in (1, 8, 64, 512):
        obs = torch.randn(b, args.obs_dim)
        row = {"batch": b, "gaussian_ms": 1e3 * time_call(lambda o=obs: gauss.actor.sample(o), 20)}
        for solver in ("euler", "midpoint", "rk4"):
            for k in (1, 5, 10, 20):

                def sample(o=obs, s=solver, k=k):
                    return sample_actions(flow.actor, o, args.act_dim, steps=k, solver=s)

                row[f"{solver}_K{k}_ms"] = 1e3 * time_call(sample, 20)
        sampling.append(row)
    print(json.dumps({"update": update_rows, "sampling": sampling, "settings": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
