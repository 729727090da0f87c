"""Policy node at 50 Hz for 60 s with the simulator running: missed ticks, period jitter, memory.

Starts ``sim_node`` and ``policy_node`` as separate processes (real DDS), both at ``--rate-hz``,
waits until the policy is ACTIVE, then records for ``--seconds``:

- from the policy node itself (policy_status and /diagnostics): ticks, overruns, missed ticks
  (gaps over 1.5 periods), tick period p99 of each 1 s status window;
- at the receiving end: command inter-arrival times on ``joint_trajectory`` (gaps > 1.5 periods);
- resident memory of the policy node process (VmRSS now, VmHWM peak) from /proc.

``--reload-every S`` calls ``~/reload`` every S seconds during the run, to show that hot reload
costs no tick. ``--no-sim`` replaces the simulator by a 100 Hz joint-state publisher in this process.

    python benchmarks/policy_jitter.py [--seconds 60] [--rate-hz 50] [--reload-every 10] [--checkpoint F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# Our own DDS domain on this host only, as the test sessions do (tests/conftest.py).
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from policy_checkpoints import write_policy  # noqa: E402
from policy_node_testing import Arm, policy_node_args  # noqa: E402
from ros_testing import child_process, ros_node, spin_until  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from fpo_msgs.msg import PolicyStatus  # noqa: E402
from so100_common import topics  # noqa: E402


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def run(args, checkpoint: Path) -> dict:
    rate = args.rate_hz
    period = 1.0 / rate
    policy_args = policy_node_args(
        str(checkpoint), f"control_rate_hz:={rate}", "status_rate_hz:=1.0", "safety.ramp_ticks:=5"
    )
    sim_args = ["-m", "fpo_sim.sim_node", "--ros-args", "-p", f"control_rate_hz:={rate}"]
    with ros_node("policy_jitter_bench") as node, ExitStack() as stack:
        if args.no_sim:
            Arm(node).publish_goal()
        else:
            sim_proc = stack.enter_context(child_process(sim_args))
        policy_proc = stack.enter_context(child_process(policy_args))
        arrivals: list[float] = []
        statuses: list[PolicyStatus] = []
        diagnostics: list[dict[str, str]] = []

        def on_diagnostics(msg: DiagnosticArray) -> None:
            diagnostics.extend(
                {kv.key: kv.value for kv in s.values} for s in msg.status if "policy" in s.name
            )

        node.create_subscription(
            JointTrajectory,
            topics.JOINT_TRAJECTORY,
            lambda m: arrivals.append(time.monotonic()),
            topics.QOS_COMMAND,
        )
        node.create_subscription(PolicyStatus, topics.POLICY_STATUS, statuses.append, topics.QOS_STATUS)
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diagnostics, topics.QOS_STATUS)
        active = spin_until(
            node, lambda: bool(statuses) and statuses[-1].safety_state == PolicyStatus.SAFETY_ACTIVE, 120.0
        )
        if not active:
            raise SystemExit("the policy node never became ACTIVE")
        client = node.create_client(Trigger, "/policy_node/reload")
        start_status = statuses[-1]
        start_diag = dict(diagnostics[-1]) if diagnostics else {}
        t0 = time.monotonic()
        arrivals.clear()
        reloads = 0
        next_reload = t0 + args.reload_every if args.reload_every > 0 else float("inf")
        while time.monotonic() - t0 < args.seconds:
            node.executor.spin_once(timeout_sec=0.01)
            if time.monotonic() > next_reload and client.service_is_ready():
                client.call_async(Trigger.Request())
                reloads += 1
                next_reload += args.reload_every
        memory = memory_kib(policy_proc.pid)
        spin_until(node, lambda: statuses[-1].header.stamp != start_status.header.stamp, 5.0)
        end_status, end_diag = statuses[-1], dict(diagnostics[-1])
        sim_exit = None if args.no_sim else sim_proc.poll()
        gaps = np.diff(np.asarray(arrivals))
        window_p99 = [s.tick_period_p99_s for s in statuses if s.ticks > start_status.ticks]
        return {
            "rate_hz": rate,
            "seconds": args.seconds,
            "sim": not args.no_sim,
            "reloads_requested": reloads,
            "reloads_ok": end_status.reloads_ok - start_status.reloads_ok,
            "ticks": end_status.ticks - start_status.ticks,
            "expected_ticks": round(args.seconds * rate),
            "overruns": end_status.overruns - start_status.overruns,
            "missed_ticks_node": int(end_diag.get("missed_ticks", 0))
            - int(start_diag.get("missed_ticks", 0)),
            "commands_received": len(arrivals),
            "gaps_over_1.5_periods_received": int(np.sum(gaps > 1.5 * period)),
            "interarrival_mean_ms": float(gaps.mean() * 1e3),
            "interarrival_std_ms": float(gaps.std() * 1e3),
            "interarrival_p99_ms": float(np.percentile(gaps, 99) * 1e3),
            "interarrival_max_ms": float(gaps.max() * 1e3),
            "node_tick_period_p99_ms_worst_window": float(max(window_p99) * 1e3)
            if window_p99
            else float("nan"),
            "inference_time_p99_ms_last_window": end_status.inference_time_p99_s * 1e3,
            "rss_mib": memory.get("VmRSS", 0) / 1024,
            "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
            "sim_exit_code_during_run": sim_exit,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate-hz", type=float, default=50.0)
    parser.add_argument("--reload-every", type=float, default=0.0)
    parser.add_argument(
        "--checkpoint", type=Path, help="default: an untrained reach policy (trainer's network)"
    )
    parser.add_argument("--no-sim", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or write_policy(Path(tmp) / "reach.safetensors", hidden=(64, 64, 64))
        results = run(args, checkpoint)
    for key, value in results.items():
        print(f"{key:42s} {value:.3f}" if isinstance(value, float) else f"{key:42s} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
