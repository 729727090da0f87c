"""fpo-bringup's image strip shows the first episode that succeeded (a lifted cube for pick)."""

from __future__ import annotations

import numpy as np

from fpo_policy.bringup_runner import RunStats, save_strip


def _episode(stats: RunStats, value: int, steps: int, success_from: int | None) -> None:
    for t in range(steps):
        stats.on_frame(np.full((4, 4, 3), value, np.uint8))
        succeeded = success_from is not None and t >= success_from
        stats.on_task_state(succeeded, ended=t == steps - 1)


def test_the_strip_is_the_first_successful_episode_and_the_counts_are_the_episodes():
    stats = RunStats()
    _episode(stats, 10, 5, None)
    assert stats.strip_frames()[0][0, 0, 0] == 10  # no success yet: the latest episode that ended
    _episode(stats, 20, 6, 3)  # success at step 3 counts even though the last state is not
    _episode(stats, 30, 5, 0)
    _episode(stats, 40, 5, None)
    assert (stats.episodes, stats.successes) == (4, 2)
    frames = stats.strip_frames()
    assert len(frames) == 6
    assert {int(f[0, 0, 0]) for f in frames} == {20}
    assert stats.summary()["image_strip_episode"] == {"episode": 2, "success": True}


def test_an_unfinished_episode_still_makes_a_strip(tmp_path):
    stats = RunStats(max_episode_frames=3)
    for _ in range(10):
        stats.on_frame(np.zeros((4, 4, 3), np.uint8))
    assert len(stats.strip_frames()) == 3  # capped
    assert "image_strip_episode" not in stats.summary()
    assert save_strip(stats.strip_frames(), tmp_path / "strip.png").exists()
