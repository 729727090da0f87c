"""Simulated SO-100 steps per second: raw env, the sim node's loop, and through the sim node.

For each task and observation mode, in one run:

- ``env``: ``SO100Env.step`` with random actions (the gymnasium adapter as a trainer uses it);
- ``loop``: ``SimLoop.tick`` (what the node's timer does, without ROS);
- ``node``: ``sim_node`` in its own process with its rate set far above what it can reach
  (``control_rate_hz:=1000``), measured from the stamps of ``joint_states`` received in this
  process over ``--window-s`` seconds (camera images too with ``obs_mode:=rgb``).

Each case is measured ``--rounds`` times, alternating env, loop and node, and the best rate of
each is kept (other jobs on a shared machine only ever slow a measurement down). Each rate is
also taken per second of CPU time of the process doing the work (this one for env and loop; the
sim_node process, all its threads, for node), which other jobs on a loaded machine disturb far
less than wall time. Prints a Markdown table with node / env (target >= 0.9) in both. Run from
the repository root after ``source tools/env.sh``::

    python benchmarks/sim_speed.py --steps 300 --window-s 6 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / "tests"),
    *(str(ROOT / "src" / p) for p in ("so100_common", "fpo_sim", "so100_driver", "fpo_policy")),
]
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")

CASES = [("SO100Reach-v1", "state"), ("SO100Reach-v1", "rgb"), ("fpo_sim/PickCubeSO100-v1", "state")]


def process_cpu_s(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, s (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(steps: int, step) -> tuple[float, float]:
    """(steps per wall s, steps per CPU s of this process) of ``steps`` calls of ``step``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - wall), steps / (time.process_time() - cpu)


def env_rate(env_id: str, obs_mode: str, steps: int) -> tuple[float, float]:
    import gymnasium as gym

    import fpo_sim.envs  # noqa: F401

    env = gym.make(f"fpo_sim.envs:{env_id}", obs_mode=obs_mode)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(10):
        env.step(env.action_space.sample())

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    rates = timed(steps, step)
    env.close()
    return rates


def loop_rate(env_id: str, obs_mode: str, steps: int) -> tuple[float, float]:
    from fpo_sim.core.sim_loop import SimLoop, SimNodeConfig
    from fpo_sim.maniskill_adapter import SO100Sim

    sim = SO100Sim(env_id, obs_mode=obs_mode)
    loop = SimLoop(sim, SimNodeConfig(env_id=env_id, obs_mode=obs_mode))
    for _ in range(10):
        loop.tick()
    rates = timed(steps, loop.tick)
    sim.close()
    return rates


def node_rate(env_id: str, obs_mode: str, window_s: float) -> tuple[float, float, float]:
    """(joint_states rate, camera image rate, joint_states per CPU s of the node) of a
    free-running sim_node, Hz."""
    from ros_testing import child_process, ros_node, spin_until
    from sensor_msgs.msg import Image, JointState

    from so100_common import topics

    args = ["-m", "fpo_sim.sim_node", "--ros-args", "-p", "control_rate_hz:=1000.0"]
    args += ["-p", f"env_id:={env_id}", "-p", f"obs_mode:={obs_mode}"]
    stamps: list[float] = []
    frames: list[float] = []

    def stamp_of(msg) -> float:
        return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec

    with child_process(args) as proc, ros_node("sim_speed_probe") as node:
        node.create_subscription(JointState, topics.JOINT_STATES, lambda m: stamps.append(stamp_of(m)), 100)
        node.create_subscription(
            Image, topics.CAMERA_IMAGE, lambda m: frames.append(stamp_of(m)), topics.QOS_IMAGE
        )
        if not spin_until(node, lambda: len(stamps) >= 20, timeout_s=90):
            raise RuntimeError(f"sim_node published nothing:\n{proc.stdout.read()}")
        first, first_frames = len(stamps), len(frames)
        cpu = process_cpu_s(proc.pid)
        end = time.monotonic() + window_s
        spin_until(node, lambda: time.monotonic() > end, timeout_s=window_s + 5)
        cpu = process_cpu_s(proc.pid) - cpu
        received = len(stamps) - first
    window = np.array(stamps[first:])
    state_rate = (len(window) - 1) / (window[-1] - window[0])
    images = np.array(frames[first_frames:])
    image_rate = (len(images) - 1) / (images[-1] - images[0]) if len(images) > 1 else 0.0
    return state_rate, image_rate, received / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per raw measurement")
    parser.add_argument("--window-s", type=float, default=6.0, help="seconds of node output measured")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per case; the best is kept")
    ns = parser.parse_args()
    rows = []
    for env_id, obs_mode in CASES:
        best = np.zeros(7)  # env, loop, node, images (wall); env, loop, node (per CPU s)
        for _ in range(ns.rounds):
            env, env_cpu = env_rate(env_id, obs_mode, ns.steps)
            loop, loop_cpu = loop_rate(env_id, obs_mode, ns.steps)
            node, images, node_cpu = node_rate(env_id, obs_mode, ns.window_s)
            best = np.maximum(best, [env, loop, node, images, env_cpu, loop_cpu, node_cpu])
        rows.append((env_id, obs_mode, *best))
        print(f"{env_id} {obs_mode}: " + " ".join(f"{x:.0f}" for x in best), file=sys.stderr)
    print(
        "| task | obs | env steps/s | loop ticks/s | node joint_states/s | node images/s | node / env "
        "| env per CPU s | loop per CPU s | node per CPU s | node / env (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id, obs_mode, env, loop, node, images, env_cpu, loop_cpu, node_cpu in rows:
        img = f"{images:.0f}" if obs_mode == "rgb" else "-"
        print(
            f"| {env_id} | {obs_mode} | {env:.0f} | {loop:.0f} | {node:.0f} | {img} | {node / env:.2f} "
            f"| {env_cpu:.0f} | {loop_cpu:.0f} | {node_cpu:.0f} | {node_cpu / env_cpu:.2f} |"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
