"""Training over ROS: the train bringup (sim node in lockstep + acting policy node + trainer node) as
three processes over DDS, configured exactly as train.launch.py configures them.

The trainer starts from a fresh policy built from the task spec, announces it, and runs twelve
on-policy updates of 1024 transitions (its defaults but for the discount and the budget, as
benchmarks/train_over_ros.py runs it). The policy must improve: on 30 fixed goals, the last
announced checkpoint's zero-noise return beats the first one's by a clear margin (see GAIN_MIN).
The test also checks the data path end to end: the acting policy node reaches the
final announced version without a failed load, swapping versions in only forward, and without a
lockstep state going unanswered (the sim's timeouts do not grow once acting has started: no tick
missed); chunks carry versions in order and the acting policy's observations equal the sim's; data
of older versions is dropped and counted, never trained on; the first minibatch of every update
sees rho == 1 exactly; the critic learns the rewards that arrive over DDS; metrics.csv, curve.png
and the checkpoints are written.
"""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("fpo_msgs.msg", reason="fpo_msgs not built: run `make setup`")
pytest.importorskip("mani_skill", reason="ManiSkill3 is not installed")
pytest.importorskip("ament_index_python")

from ros_testing import spin_until
from training_over_ros import benchmark_trainer, paired_evaluation, training_run

from fpo_policy.core.policy import load_policy

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BATCH = 1024
UPDATES = 12
EPISODES = 30
# The last policy's zero-noise return must beat the first's by this much per goal on average (the
# fresh policy returns about 17). Measured over ROS at this budget (benchmarks/README.md, "FPO over
# ROS on the reach task"): +10 to +19 per run; the in-process trainer +13 to +21. A trainer whose
# updates did not reach the acting policy, or trained on mismatched data, gains about nothing (the
# observation-statistics bug gave -1.9 once).
GAIN_MIN = 5.0


def test_training_over_ros_improves_the_policy_and_swaps_in_every_version(tmp_path):
    out = tmp_path / "run"
    trainer = benchmark_trainer(BATCH * UPDATES, BATCH)
    with training_run(out, **trainer) as run:
        # ManiSkill takes seconds to build its scene; acting starts with the first announced policy.
        assert spin_until(run.node, lambda: run.chunks and run.sim_values(), 120.0), "no rollouts"
        timeouts_at_start = int(run.sim_values()["lockstep_timeouts"])
        assert spin_until(
            run.node, lambda: run.updates and max(u.version for u in run.updates) >= UPDATES, 600.0
        ), run.trainer_status[-1:] or "no trainer status"
        final = max(run.updates, key=lambda u: u.version)

        def acting_final() -> bool:
            return bool(run.policy_status) and run.policy_status[-1].policy_version == final.version

        assert spin_until(run.node, acting_final, 20.0), run.policy_status[-1:]
        mark = len(run.diagnostics)
        assert spin_until(run.node, lambda: len(run.diagnostics) > mark + 1, 10.0)
        sim = run.sim_values()

    status, acting = run.trainer_status[-1], run.policy_status[-1]
    # Every version was announced. The acting node reached the final one without a failed load,
    # swapping versions in only forward. How many loads that took depends on timing (the reloader
    # loads only the newest announcement queued while it loads), so only its bounds are checked.
    assert sorted({u.version for u in run.updates}) == list(range(UPDATES + 1))
    assert acting.reloads_failed == 0
    assert 1 <= acting.reloads_ok <= UPDATES + 1
    assert acting.checkpoint_sha256 == final.sha256
    assert acting.policy_id == status.policy_id == out.name
    acting_versions = [s.policy_version for s in run.policy_status if s.checkpoint_sha256]
    assert acting_versions == sorted(acting_versions)
    # Each version the trainer trained on acted (on-policy data exists only from the acting
    # version), in order (each swap between two ticks), and the lockstep sim never stepped without
    # an answer: no tick missed.
    versions = [v for _, _, v in run.chunks]
    assert set(range(UPDATES)) <= set(versions)
    assert versions == sorted(versions)
    sequences = [s for _, s, _ in run.chunks]
    assert sequences == sorted(set(sequences))
    # A state left unanswered for lockstep_timeout_s (1 s of wall time) is counted. A policy node that
    # missed a tick at each swap would add one per version (12 here); one in a run has been seen once
    # in a full suite on the 2-core machine (not reproduced alone) and is put down to scheduling.
    assert int(sim["lockstep_timeouts"]) - timeouts_at_start <= 1, sim
    assert sim["rollout_observation_mismatches"] == "0"
    # On-policy batches: nothing rejected; data of older versions dropped and counted.
    assert status.chunks_rejected == 0
    assert BATCH * UPDATES <= status.global_step < BATCH * (UPDATES + 1)
    assert status.transitions_accepted >= status.global_step
    assert status.chunks_stale > 0
    assert status.sources == 1
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["update"]) for r in rows] == list(range(1, UPDATES + 1))
    assert all(float(r["first_rho_max_dev"]) == 0.0 for r in rows)
    # The critic fits the rewards arriving over DDS (they belong to the observations they follow).
    assert float(rows[-1]["v_loss"]) < 0.5 * float(rows[0]["v_loss"])
    assert (out / "curve.png").is_file()
    policy = load_policy(final.checkpoint_path)
    assert policy.sha256 == final.sha256
    assert (policy.metadata.version, policy.metadata.step) == (UPDATES, status.global_step)
    # It learned: the last policy against the first, zero-noise, on the same goals.
    first = min(run.updates, key=lambda u: u.version)
    evaluation = paired_evaluation(first.checkpoint_path, final.checkpoint_path, EPISODES)
    assert evaluation.mean_difference > GAIN_MIN, evaluation.to_dict()
    assert (evaluation.differences > 0).sum() >= 18, evaluation.to_dict()
