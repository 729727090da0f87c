"""Policy node tick latency and ODE sampling cost.

1. Tick latency: the work of one control tick, from the stored joint state to the filtered command
   (observation with the task spec, ``Policy.act`` with K ODE steps, action mapping, safety filter)
   for K in {1, 5, 10, 20} x {euler, midpoint, rk4}; p50/p99 as a fraction of the period at 30, 50
   and 100 Hz. The same ``ControlLoop.tick`` the node's timer runs; one DDS hop adds about 1 ms
   (tools' measurement in shared/notes/environment.md), reported separately by policy_jitter.py.
2. The same tick (Euler, K = 10) while the background reloader loads a checkpoint over and over:
   what a hot reload costs the control loop.
3. K-step cost relative to one network forward: the cost of sampling with K steps divided by
   (K x network evaluations per step x one forward), batch 1. Target <= 1.2. Wall-clock medians;
   the same ratio of process CPU-time medians is printed next to it, to tell preemption by other
   jobs on a shared machine from the work itself.

Network: the trainer's default velocity network (FlowNetConfig defaults), untrained, reach task.

    python benchmarks/policy_latency.py [--ticks 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from policy_checkpoints import write_policy  # noqa: E402

from fpo_policy.core.control_loop import ControlConfig, ControlLoop, load_for_control  # noqa: E402
from fpo_policy.core.flow import FlowNetConfig  # noqa: E402
from fpo_policy.core.safety import SafetyConfig, SafetyFilter  # noqa: E402
from fpo_policy.core.sampling import sample_actions  # noqa: E402
from so100_common.core.joints import JOINT_NAMES  # noqa: E402

STEPS = (1, 5, 10, 20)
SOLVERS = {"euler": 1, "midpoint": 2, "rk4": 4}  # network evaluations per step
RATES_HZ = (30, 50, 100)
HOME = np.array([0.0, -0.5, 0.5, 0.3, 0.0, 0.0])
GOAL = np.array([0.1, -0.2, 0.15])


def tick_times(path: Path, solver: str, steps: int, ticks: int, reload: bool = False) -> np.ndarray:
    """Seconds per ControlLoop tick (joint state stored -> filtered command), ``ticks`` samples.

    ``reload``: keep the background reloader loading ``path`` again and again meanwhile.
    """
    loop = ControlLoop(ControlConfig(solver=solver, steps=steps), SafetyFilter(SafetyConfig(ramp_ticks=0)))
    loop.install(load_for_control(path))
    loop.goal = GOAL
    rng = np.random.default_rng(0)
    times = []
    for i in range(ticks + 20):
        if reload and not loop.reloader.busy:
            loop.reloader.request(str(path))
        q = HOME + rng.normal(0, 0.01, 6)
        start = time.perf_counter()
        loop.safety.observe(JOINT_NAMES, q, np.zeros(6), stamp_s=start)
        decision = loop.tick(start).decision
        elapsed = time.perf_counter() - start
        assert decision.command is not None
        if i >= 20:  # warm-up
            times.append(elapsed)
    return np.asarray(times)


def forward_vs_sampling(path: Path, repeats: int) -> dict:
    """Median seconds (wall clock and process CPU time) of one forward and of K-step sampling, batch 1."""
    policy = load_for_control(path).policy
    net = policy.actor
    obs = torch.zeros(1, policy.metadata.obs_dim)
    x = torch.zeros(1, policy.metadata.act_dim)
    t = torch.zeros(1)

    def median_s(fn) -> tuple[float, float]:
        for _ in range(20):
            fn()
        samples = []
        for _ in range(repeats):
            start_cpu = time.process_time()
            start = time.perf_counter()  # the wall-clock interval brackets fn() alone
            fn()
            wall = time.perf_counter() - start
            samples.append((wall, time.process_time() - start_cpu))
        wall, cpu = np.median(samples, axis=0)
        return float(wall), float(cpu)

    with torch.no_grad():
        forward, forward_cpu = median_s(lambda: net(obs, x, t))
    out = {"forward_s": forward, "forward_cpu_s": forward_cpu, "sampling": {}}
    for solver, evals in SOLVERS.items():
        for k in STEPS:
            cost, cost_cpu = median_s(
                lambda k=k, solver=solver: sample_actions(
                    net, obs, policy.metadata.act_dim, steps=k, solver=solver, deterministic=True
                )
            )
            out["sampling"][f"{solver}/{k}"] = {
                "s": cost,
                "ratio": cost / (k * evals * forward),
                "cpu_s": cost_cpu,
                "cpu_ratio": cost_cpu / (k * evals * forward_cpu),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the node runs it

    with tempfile.TemporaryDirectory() as tmp:
        hidden = FlowNetConfig(1, 1).hidden
        path = write_policy(Path(tmp) / "reach.safetensors", hidden=hidden)
        results = {"hidden": list(hidden), "torch": torch.__version__, "latency": {}}
        header = "solver    K   p50 ms   p99 ms | " + " | ".join(f"p50/p99 of {r} Hz" for r in RATES_HZ)
        print(header)
        for solver in SOLVERS:
            for k in STEPS:
                times = tick_times(path, solver, k, args.ticks)
                p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
                fractions = [(p50 * r, p99 * r) for r in RATES_HZ]
                results["latency"][f"{solver}/{k}"] = {"p50_s": p50, "p99_s": p99}
                cells = " | ".join(f"{a:6.3f} / {b:6.3f}  " for a, b in fractions)
                print(f"{solver:8s} {k:3d} {p50 * 1e3:8.3f} {p99 * 1e3:8.3f} | {cells}")

        quiet = tick_times(path, "euler", 10, args.ticks * 3)
        loading = tick_times(path, "euler", 10, args.ticks * 3, reload=True)
        results["reload"] = {"quiet": quiet.tolist(), "loading": loading.tolist()}
        print("\neuler K=10 tick, ms, p50 / p99 / max:")
        for name, times in (("without a background load", quiet), ("while reloading", loading)):
            p50, p99 = np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3
            print(f"  {name:26s} {p50:.3f} / {p99:.3f} / {times.max() * 1e3:.3f}")

        cost = forward_vs_sampling(path, args.repeats)
        results["cost"] = cost
        print(f"\none network forward (batch 1): {cost['forward_s'] * 1e6:.1f} us")
        print("K-step sampling / (K x evaluations per step x forward):")
        for key, value in cost["sampling"].items():
            print(
                f"  {key:12s} {value['s'] * 1e6:9.1f} us  ratio {value['ratio']:.2f}"
                f"  (CPU time: ratio {value['cpu_ratio']:.2f})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
