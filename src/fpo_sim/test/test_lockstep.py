"""Lockstep pairing and rollout recording (fpo_sim.core.lockstep), without ROS."""

from __future__ import annotations

import numpy as np
import pytest

from fpo_sim.core.lockstep import Lockstep, RolloutRecorder
from so100_common.core.rollout_chunk import ActionSample, Chunk

OBS, ACT = 4, 2


def sample(stamp: int, version: int = 3, policy_id: str = "run") -> ActionSample:
    return ActionSample(
        stamp, policy_id, version, np.full(OBS, stamp, np.float32), np.full(ACT, -stamp, np.float32)
    )


def record(rec: RolloutRecorder, stamp: int, version: int = 3, done: bool = False, policy_id: str = "run"):
    return rec.record(
        sample(stamp, version, policy_id),
        reward=float(stamp),
        terminated=False,
        truncated=done,
        next_observation=np.full(OBS, stamp + 1, np.float32),
        success=stamp % 2 == 0,
    )


def test_lockstep_pairs_command_and_sample_by_stamp_and_discards_late_ones():
    lock = Lockstep(timeout_s=1.0)
    lock.published(100, now_s=0.0)
    assert not lock.offer_command(99, "old command")  # answers an earlier state: never applied
    assert not lock.offer_sample(sample(99))
    assert lock.poll(0.1) is None  # nothing yet
    assert lock.offer_command(100, "cmd")
    assert lock.poll(0.2) is None  # the sample is still missing
    assert not lock.offer_command(100, "second command for the same state")
    assert lock.offer_sample(sample(100))
    answer = lock.poll(0.3)
    assert answer.complete
    assert answer.command == "cmd"
    assert answer.sample.stamp_ns == 100
    assert lock.poll(0.4) is None  # answered: waiting for nothing until the next state
    assert lock.counters() == {
        "lockstep_answered": 1,
        "lockstep_timeouts": 0,
        "lockstep_late_commands": 2,
        "lockstep_late_samples": 1,
    }


def test_lockstep_without_samples_is_answered_by_the_command_alone():
    lock = Lockstep(timeout_s=1.0, with_sample=False)
    lock.published(100, now_s=0.0)
    assert not lock.offer_command(50, "late")
    assert lock.poll(0.1) is None
    assert lock.offer_command(100, "cmd")
    answer = lock.poll(0.2)
    assert answer.complete
    assert (answer.stamp_ns, answer.command, answer.sample) == (100, "cmd", None)
    assert not lock.offer_sample(sample(100))  # answered already
    lock.published(200, now_s=1.0)
    assert lock.poll(1.5) is None
    assert not lock.poll(2.0).complete  # timed out: nothing arrived
    assert lock.counters() == {
        "lockstep_answered": 1,
        "lockstep_timeouts": 1,
        "lockstep_late_commands": 1,
        "lockstep_late_samples": 1,
    }


def test_lockstep_times_out_with_what_arrived():
    lock = Lockstep(timeout_s=0.5)
    lock.published(7, now_s=10.0)
    lock.offer_command(7, "cmd")
    assert lock.poll(10.49) is None
    answer = lock.poll(10.5)
    assert answer.command == "cmd"
    assert answer.sample is None
    assert not answer.complete
    assert lock.timeouts == 1
    assert lock.answered == 0
    with pytest.raises(ValueError, match="timeout_s"):
        Lockstep(timeout_s=0.0)


def test_recorder_chunks_by_size_and_keeps_the_exact_samples():
    rec = RolloutRecorder(chunk_steps=3)
    out = []
    for stamp in range(1, 8):
        out += record(rec, stamp)
    assert [c.sequence for c in out] == [0, 1]
    first = out[0]
    assert first.num_steps == 3
    assert first.policy_version == 3
    assert first.policy_id == "run"
    np.testing.assert_array_equal(first.observations[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(first.actions[:, 0], [-1, -2, -3])
    np.testing.assert_array_equal(first.next_observations[:, 0], [2, 3, 4])
    np.testing.assert_array_equal(first.rewards, [1, 2, 3])
    np.testing.assert_array_equal(first.success, [False, True, False])
    rest = rec.flush()
    assert [c.sequence for c in rest] == [2]
    assert rest[0].num_steps == 1
    assert rec.flush() == []


def test_a_new_policy_version_or_id_flushes_so_every_chunk_has_one_policy():
    rec = RolloutRecorder(chunk_steps=10)
    assert record(rec, 1, version=3) == []
    assert record(rec, 2, version=3) == []
    out = record(rec, 3, version=4)
    assert len(out) == 1
    assert out[0].policy_version == 3
    assert out[0].num_steps == 2
    out = record(rec, 4, version=4, policy_id="other")
    assert out[0].policy_version == 4
    assert out[0].num_steps == 1
    assert [c.sequence for c in out] == [1]
    assert not out[0].truncated.any()  # a policy change is no cut: the trajectory continues


def test_a_cut_marks_the_last_transition_truncated_or_skips_a_sequence_number():
    rec = RolloutRecorder(chunk_steps=2)
    record(rec, 1)
    rec.cut()  # pending transition: marked truncated
    out = record(rec, 2)
    assert out[0].truncated.tolist() == [True, False]
    rec.cut()  # the last transition already went out, open: the next chunk skips a number
    rec.cut()  # a second cut skips nothing more
    out = record(rec, 3) + record(rec, 4)
    assert out[0].sequence == 2  # 0 was sent, 1 skipped
    record(rec, 5, done=True)
    out = record(rec, 6)  # [5 (episode end), 6]
    assert out[0].sequence == 3
    record(rec, 7, done=True)
    out = record(rec, 8, done=True)
    assert out[0].sequence == 4
    rec.cut()  # the last chunk ended its episode: no number to skip
    out = record(rec, 9) + rec.flush()
    assert out[0].sequence == 5
    assert rec.cuts == 4
    assert rec.transitions == 9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actions": np.zeros((3, ACT))}, "actions must be"),
        ({"next_observations": np.zeros((2, OBS + 1))}, "next_observations must be"),
        ({"rewards": np.zeros(3)}, "rewards must have 2"),
        ({"observations": np.full((2, OBS), np.nan)}, "observations holds NaN"),
        ({"observations": np.zeros((0, OBS)), "actions": np.zeros((0, ACT))}, "T >= 1"),
        ({"policy_version": -1}, ">= 0"),
    ],
)
def test_malformed_chunks_are_refused_by_name(change, message):
    good = dict(
        sequence=0,
        policy_id="run",
        policy_version=1,
        observations=np.zeros((2, OBS)),
        actions=np.zeros((2, ACT)),
        rewards=np.zeros(2),
        terminated=np.zeros(2, bool),
        truncated=np.zeros(2, bool),
        next_observations=np.zeros((2, OBS)),
        success=np.zeros(2, bool),
    )
    Chunk(**good)
    with pytest.raises(ValueError, match=message):
        Chunk(**{**good, **change})


def test_recorder_counts_transitions_cuts_chunks_and_samples_on_another_observation():
    rec = RolloutRecorder(chunk_steps=2)
    published = np.full(OBS, 1, np.float32)
    answered = sample(1)  # its observation is all 1
    rec.record(answered, 0.0, False, False, published, False, published_observation=published)
    rec.record(answered, 0.0, False, False, published, False, published_observation=published + 5e-6)
    assert rec.observation_mismatches == 0  # within float32 rounding
    rec.record(answered, 0.0, False, False, published, False, published_observation=published + 0.1)
    rec.cut()
    rec.record(answered, 0.0, False, False, published, False)  # nothing to compare with
    assert rec.counters() == {
        "rollout_transitions": 4,
        "rollout_cuts": 1,
        "rollout_chunks": 2,
        "rollout_observation_mismatches": 1,
    }
