"""On-policy batch assembly from rollout chunks (fpo_policy.core.batch_assembly) and the Learner's batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpo_policy.core.batch_assembly import BatchAssembler
from fpo_policy.core.config import FpoConfig, TrainArgs
from fpo_policy.core.rollout_storage import compute_gae
from fpo_policy.core.squash import ActionBounds
from fpo_policy.core.trainer import Learner
from fpo_policy.core.update import update
from so100_common.core.rollout_chunk import Chunk

OBS, ACT, ENV = 3, 2, "Task-v0"


def chunk(
    steps: int,
    *,
    version: int = 0,
    sequence: int = 0,
    start: float = 0.0,
    truncated_at: tuple[int, ...] = (),
    terminated_at: tuple[int, ...] = (),
    success_at: tuple[int, ...] = (),
    policy_id: str = "run",
) -> Chunk:
    """Observation i is [start + i, ...]; the next observation is start + i + 1; reward 1 per step."""
    t = start + np.arange(steps, dtype=np.float32)
    flags = np.zeros(steps, bool)
    trunc, term, ok = flags.copy(), flags.copy(), flags.copy()
    trunc[list(truncated_at)] = True
    term[list(terminated_at)] = True
    ok[list(success_at)] = True
    return Chunk(
        sequence=sequence,
        policy_id=policy_id,
        policy_version=version,
        observations=np.repeat(t[:, None], OBS, axis=1),
        actions=np.repeat(-t[:, None], ACT, axis=1),
        rewards=np.ones(steps),
        terminated=term,
        truncated=trunc,
        next_observations=np.repeat(t[:, None] + 1, OBS, axis=1),
        success=ok,
    )


def assembler(batch_size: int = 8, version: int = 0) -> BatchAssembler:
    return BatchAssembler(ENV, OBS, ACT, "run", version, batch_size)


def test_stale_chunks_are_dropped_and_counted():
    asm = assembler(version=2)
    assert asm.add("a", ENV, chunk(4, version=1)) == "stale"
    assert asm.add("a", ENV, chunk(3, version=0, sequence=1)) == "stale"
    assert asm.add("a", ENV, chunk(5, version=2, sequence=2)) == "accepted"
    c = asm.counters
    assert (c.chunks_stale, c.transitions_stale) == (2, 7)
    assert (c.chunks_accepted, c.transitions_accepted) == (1, 5)
    assert asm.fill == 5
    assert not asm.ready


@pytest.mark.parametrize(
    ("env_id", "kwargs", "why"),
    [
        ("Other-v0", {}, "task 'Other-v0'"),
        (ENV, {"policy_id": "another run"}, "policy 'another run'"),
        (ENV, {"version": 9}, "never announced"),
    ],
)
def test_chunks_of_another_task_run_or_future_version_are_rejected(env_id, kwargs, why):
    asm = assembler()
    assert asm.add("a", env_id, chunk(4, **kwargs)) == "rejected"
    assert asm.counters.chunks_rejected == 1
    assert why in asm.counters.last_rejection
    assert asm.fill == 0


def test_wrong_dimensions_are_rejected():
    asm = BatchAssembler(ENV, OBS + 1, ACT, "run", 0, 8)
    assert asm.add("a", ENV, chunk(4)) == "rejected"
    assert "obs/act dims" in asm.counters.last_rejection


def test_take_joins_consecutive_chunks_and_cuts_at_gaps_and_the_batch_end():
    asm = assembler(batch_size=8)
    asm.add("a", ENV, chunk(3, sequence=0, start=0))
    asm.add("a", ENV, chunk(2, sequence=1, start=3))  # continues the first
    asm.add("a", ENV, chunk(2, sequence=3, start=10))  # sequence 2 lost: a gap
    asm.add("b", ENV, chunk(2, sequence=0, start=100, truncated_at=(0,)))
    assert asm.ready
    tr = asm.take()
    assert len(tr) == 9
    assert tr.sources == ("a", "b")
    np.testing.assert_array_equal(tr.source_index, [0] * 7 + [1] * 2)
    # Cuts: end of the gap-separated run (index 4), the last of source a (6), the truncation (7),
    # the last of source b (8).
    np.testing.assert_array_equal(np.flatnonzero(tr.dones), [4, 6, 7, 8])
    assert not tr.terminated.any()
    np.testing.assert_array_equal(tr.observations[:7, 0], [0, 1, 2, 3, 4, 10, 11])
    np.testing.assert_array_equal(tr.actions[:, 0], -tr.observations[:, 0])
    assert tr.policy_version == 0
    # The next version is collected now: chunks of version 0 arriving during the update are stale.
    assert asm.version == 1
    assert asm.fill == 0
    assert asm.add("a", ENV, chunk(2, sequence=4, start=12)) == "stale"


def test_episode_statistics_span_chunks_and_versions():
    asm = assembler()
    asm.add("a", ENV, chunk(3, sequence=0, success_at=(1,)))
    asm.add("a", ENV, chunk(2, sequence=1, truncated_at=(1,)))  # episode of 5 steps, successful
    asm.add("b", ENV, chunk(2, sequence=0, terminated_at=(1,)))  # 2 steps, no success
    asm.add("b", ENV, chunk(4, sequence=2, truncated_at=(2,)))  # gap: the partial episode is dropped
    assert asm.episodes_total == 3
    returns = sorted(e.episode_return for e in asm.episodes)
    assert returns == [2.0, 3.0, 5.0]
    mean_return, success = asm.recent()
    assert mean_return == pytest.approx(10 / 3)
    assert success == pytest.approx(1 / 3)


def learner(tmp_path, **cfg) -> Learner:
    args = TrainArgs(
        env=ENV,
        out=str(tmp_path),
        fpo=FpoConfig(num_steps=8, n_pairs=4, norm_reward=False, norm_obs=False, gamma=0.9, **cfg),
    )
    return Learner(args, OBS, ActionBounds(-np.ones(ACT), np.ones(ACT)), task=None)


def test_learner_batch_bootstraps_truncations_and_gap_ends_from_the_next_observation(tmp_path):
    learn = learner(tmp_path)
    asm = assembler(batch_size=4)
    asm.add("a", ENV, chunk(3, sequence=0, truncated_at=(1,)))
    asm.add("b", ENV, chunk(2, sequence=0, start=50, terminated_at=(1,)))
    tr = asm.take()
    batch = learn.batch_from(tr)
    critic = learn.agent.critic
    with torch.no_grad():
        values = critic(torch.as_tensor(tr.observations))
        next_values = critic(torch.as_tensor(tr.next_observations))
    rewards, term = torch.ones(5), torch.as_tensor(tr.terminated, dtype=torch.float32)
    dones = torch.as_tensor(tr.dones, dtype=torch.float32)
    expected, _ = compute_gae(
        rewards[:, None], values[:, None], next_values[:, None], term[:, None], dones[:, None], 0.9, 0.95
    )
    torch.testing.assert_close(batch.advantages, expected[:, 0])
    torch.testing.assert_close(batch.returns, batch.advantages + values)
    # The truncated step (index 1) and source a's last step (2) bootstrap from V(next obs); the
    # terminated step (4) does not.
    for i in (1, 2):
        assert batch.advantages[i].item() == pytest.approx(1 + 0.9 * next_values[i].item() - values[i].item())
    assert batch.advantages[4].item() == pytest.approx(1 - values[4].item())
    # FPO extras were drawn for exactly the recorded actions: before any step rho == 1.
    assert batch.extras["tau"].shape == (5, 4)
    assert batch.extras["eps"].shape == (5, 4, ACT)
    torch.testing.assert_close(batch.actions, torch.as_tensor(tr.actions))
    stats = update(learn.agent, learn.optimizer, batch, learn.cfg)
    assert stats["first_rho_max_dev"] == 0.0
