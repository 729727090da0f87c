"""FPO over ROS on the reach task: zero-noise return of the start policy and of the trained one.

Starts the train bringup (sim node in lockstep + acting policy node + trainer node, as
train.launch.py configures them; ``--num-sims`` pairs) as separate processes over DDS, lets the
trainer run ``--total-steps`` transitions from a fresh policy, then evaluates the first and the
last announced checkpoints with ``training_over_ros.paired_evaluation`` (zero-noise, the same
``--episodes`` goals for both) and prints JSON: returns, success rates, the per-goal paired
difference (mean, standard error, minimum, goals improved), wall time, training steps/s, stale and
rejected data, and the load average.

    python benchmarks/train_over_ros.py [--total-steps 24576] [--batch-size 1024] [--num-sims 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# Our own DDS domain on this host only, as the test sessions do (tests/conftest.py).
os.environ.setdefault("ROS_DOMAIN_ID", str(101 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

from ros_testing import spin_until  # noqa: E402
from training_over_ros import benchmark_trainer, paired_evaluation, training_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=24_576)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--num-sims", type=int, default=1)
    parser.add_argument("--gamma", type=float, default=0.95)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    ns = parser.parse_args()
    out = ns.out or Path(tempfile.mkdtemp(prefix="train_over_ros_")) / "run"
    trainer = benchmark_trainer(ns.total_steps, ns.batch_size, ns.gamma)
    start = time.monotonic()
    with training_run(out, num_sims=ns.num_sims, **trainer) as run:
        updates = ns.total_steps // ns.batch_size
        done = spin_until(
            run.node, lambda: run.updates and max(u.version for u in run.updates) >= updates, timeout_s=3600.0
        )
        wall_s = time.monotonic() - start
        status = run.trainer_status[-1]
    if not done:
        raise SystemExit(f"training did not finish: {status}")
    first = min(run.updates, key=lambda u: u.version)
    last = max(run.updates, key=lambda u: u.version)
    load_during_training = os.getloadavg()
    evaluation = paired_evaluation(first.checkpoint_path, last.checkpoint_path, ns.episodes)
    result = {
        "total_steps": status.global_step,
        "updates": last.version - first.version,
        "num_sims": ns.num_sims,
        "wall_s": round(wall_s, 1),
        "train_steps_per_s": round(status.global_step / wall_s, 1),
        "transitions_stale": status.transitions_stale,
        "chunks_rejected": status.chunks_rejected,
        **evaluation.to_dict(),
        "loadavg_1_5_15": [round(x, 2) for x in load_during_training],
        "out": str(out),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
