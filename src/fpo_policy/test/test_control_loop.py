"""The ROS-free control loop: a tiny untrained policy through observation, sampling, mapping, filter."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from policy_checkpoints import corrupt, write_policy

from fpo_policy.core import CheckpointError, load_policy
from fpo_policy.core.control_loop import (
    ControlConfig,
    ControlLoop,
    LoadedPolicy,
    Reloader,
    TickStats,
    load_for_control,
)
from fpo_policy.core.safety import SafetyConfig, SafetyFilter, SafetyState
from so100_common.core import tasks
from so100_common.core.joints import JOINT_NAMES

HOME = np.array([0.0, -0.5, 0.5, 0.3, 0.0, 0.0])
GOAL = np.array([0.1, -0.2, 0.15])


@pytest.fixture
def checkpoint(tmp_path):
    return write_policy(tmp_path / "policy.safetensors", version=3)


def loop_with(path, **config) -> ControlLoop:
    loop = ControlLoop(ControlConfig(**config), SafetyFilter(SafetyConfig(ramp_ticks=0)))
    loop.install(load_for_control(path))
    return loop


def observe(loop, now, q=HOME):
    assert loop.safety.observe(JOINT_NAMES, q, np.zeros(6), stamp_s=now)


def test_a_tick_acts_with_the_task_observation_and_mapping(checkpoint):
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    loop.goal = GOAL
    first = loop.tick(0.0).decision
    assert first.state == SafetyState.RAMPING
    np.testing.assert_array_equal(first.command, HOME)  # smooth start: the measured pose

    decision = loop.tick(0.01).decision
    spec = tasks.REACH
    obs = spec.observation(HOME, np.zeros(6), GOAL)
    action = load_policy(checkpoint).act(obs[None], deterministic=True)[0]
    np.testing.assert_allclose(decision.command, spec.action_to_target(action, HOME), atol=1e-6)
    assert decision.state == SafetyState.ACTIVE
    assert loop.safety.counters.clamped_step == 1  # only the first (ramp) tick pulled the target back


def test_solver_and_steps_override_the_checkpoint(checkpoint):
    outputs = {}
    for solver, steps in (("euler", 1), ("rk4", 8)):
        loop = loop_with(checkpoint, solver=solver, steps=steps)
        observe(loop, 0.0)
        loop.goal = GOAL
        loop.tick(0.0)
        loop.tick(0.0)
        outputs[solver] = loop.last_action
    assert not np.allclose(outputs["euler"], outputs["rk4"])


def test_stochastic_start_differs_between_ticks(checkpoint):
    loop = loop_with(checkpoint, deterministic=False)
    observe(loop, 0.0)
    loop.goal = GOAL
    actions = []
    for _ in range(3):
        loop.tick(0.0)
        actions.append(loop.last_action)
    assert not np.allclose(actions[1], actions[2])


@pytest.mark.parametrize(
    ("goal", "reason"), [(None, "waiting for a task/state goal"), (np.zeros(5), "got length 5")]
)
def test_without_a_valid_goal_nothing_is_sent(checkpoint, goal, reason):
    """A loaded policy without its input waits (WAITING_FOR_INPUT), distinct from NO_POLICY."""
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    loop.goal = goal
    decision = loop.tick(0.0).decision
    assert decision.command is None
    assert decision.state == SafetyState.WAITING_FOR_INPUT
    assert reason in decision.reason


def test_a_goal_for_another_task_is_not_used(checkpoint):
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    loop.goal, loop.goal_env_id = GOAL, "SO100ReachTwoGoals-v1"
    decision = loop.tick(0.0).decision
    assert decision.command is None
    assert decision.state == SafetyState.WAITING_FOR_INPUT
    assert "task/state is for SO100ReachTwoGoals-v1" in decision.reason


def test_commands_ramp_from_the_measured_pose_once_the_goal_arrives(checkpoint):
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    assert loop.tick(0.0).decision.state == SafetyState.WAITING_FOR_INPUT
    loop.goal = GOAL
    decision = loop.tick(0.0).decision
    assert decision.state == SafetyState.RAMPING
    np.testing.assert_allclose(decision.command, loop.safety.measured_position_rad)  # ramp step 0


def test_no_policy_sends_nothing():
    loop = ControlLoop()
    observe(loop, 0.0)
    decision = loop.tick(0.0).decision
    assert (decision.state, decision.command, decision.reason) == (
        SafetyState.NO_POLICY,
        None,
        "no policy loaded",
    )


def test_wrong_shape_policy_output_is_rejected_and_counted(tmp_path):
    """A policy with 4 actions for a 6-joint task (loaded around the load-time check) never commands."""
    path = write_policy(tmp_path / "four.safetensors", act_dim=4)
    with pytest.raises(
        CheckpointError, match=r"four\.safetensors: does not fit its task SO100Reach-v1: checkpoint act_dim 4"
    ):
        load_for_control(path)
    loop = ControlLoop(safety=SafetyFilter(SafetyConfig(ramp_ticks=0)))
    loop.install(LoadedPolicy(load_policy(path), tasks.REACH))
    observe(loop, 0.0)
    loop.goal = GOAL
    for _ in range(3):
        assert loop.tick(0.0).decision.command is None
    assert loop.safety.counters.rejected_shape == 3
    assert loop.last_action.shape == (4,)


def test_non_finite_policy_output_is_rejected_and_counted(checkpoint):
    loop = loop_with(checkpoint)
    with torch.no_grad():
        for p in loop.current.policy.actor.parameters():
            p.fill_(float("nan"))
    observe(loop, 0.0)
    loop.goal = GOAL
    assert loop.tick(0.0).decision.command is None
    assert loop.safety.counters.rejected_nonfinite == 1


def test_no_inference_while_estopped_or_stale(checkpoint):
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    loop.goal = GOAL
    loop.safety.estop()
    assert loop.tick(0.0).decision.state == SafetyState.ESTOP
    loop.safety.reset_estop()
    decision = loop.tick(1.0).decision
    assert decision.state == SafetyState.STALE_HOLD
    np.testing.assert_array_equal(decision.command, HOME)
    assert loop.last_action is None


# Checkpoints ---------------------------------------------------------------------------------------


def test_checkpoint_without_a_task_is_refused(tmp_path):
    path = write_policy(tmp_path / "notask.safetensors", task=None)
    with pytest.raises(CheckpointError, match=r"notask\.safetensors: the checkpoint has no task spec"):
        load_for_control(path)


def test_checkpoint_with_mismatched_dimensions_is_refused(tmp_path):
    path = write_policy(tmp_path / "obs10.safetensors", obs_dim=10)
    with pytest.raises(
        CheckpointError, match=r"obs10\.safetensors: does not fit its task .*obs_dim 10, expected 21"
    ):
        load_for_control(path)


def test_corrupt_checkpoint_is_refused(checkpoint):
    with pytest.raises(CheckpointError, match=str(checkpoint)):
        load_for_control(corrupt(checkpoint))


def test_announced_sha256_is_verified(checkpoint):
    sha = load_policy(checkpoint).sha256
    assert load_for_control(checkpoint, sha.upper()).sha256 == sha
    with pytest.raises(CheckpointError, match="does not match the announced"):
        load_for_control(checkpoint, "0" * 64)


def test_the_loaded_policy_carries_its_task(checkpoint):
    assert load_for_control(checkpoint).task == tasks.REACH


# Reload --------------------------------------------------------------------------------------------


def test_reload_swaps_between_ticks_without_missing_one(tmp_path, checkpoint):
    """While a slow load runs in the background every tick still commands; the swap happens on a tick."""
    loop = loop_with(checkpoint)
    new = write_policy(tmp_path / "new.safetensors", version=9, seed=1)
    release = threading.Event()

    def slow_loader(path, sha):
        release.wait(10)
        return load_for_control(path, sha)

    loop.reloader = Reloader(slow_loader)
    observe(loop, 0.0)
    loop.goal = GOAL
    loop.reloader.request(str(new), load_policy(new).sha256)
    for _ in range(5):
        assert loop.tick(0.0).decision.command is not None
        assert loop.current.version == 3
    release.set()
    assert loop.reloader.wait()
    result = loop.tick(0.0)
    assert result.decision.command is not None
    assert [r.path for r in result.reloads] == [str(new)]
    assert loop.current.version == 9
    assert loop.reloads.reloads_ok == 1


@pytest.mark.parametrize("bad", ["corrupt", "missing", "sha", "notask"])
def test_a_bad_reload_leaves_the_running_policy(tmp_path, checkpoint, bad):
    loop = loop_with(checkpoint)
    path, sha = tmp_path / "bad.safetensors", ""
    if bad == "corrupt":
        corrupt(write_policy(path))
    elif bad == "sha":
        write_policy(path)
        sha = "f" * 64
    elif bad == "notask":
        write_policy(path, task=None)
    loop.reloader.request(str(path), sha)
    assert loop.reloader.wait()
    observe(loop, 0.0)
    loop.goal = GOAL
    result = loop.tick(0.0)
    assert result.reloads[0].loaded is None
    assert str(path) in result.reloads[0].error
    assert loop.current.version == 3
    assert loop.reloads.reloads_failed == 1
    assert loop.reloads.last_error == result.reloads[0].error
    assert result.decision.command is not None


def loading_the_first_of(tmp_path, count: int):
    """A Reloader busy loading the first of ``count`` checkpoints until ``release`` is set.

    Returns (reloader, paths, release, seen): ``seen`` lists the paths loaded, in order."""
    started, release, seen = threading.Event(), threading.Event(), []

    def loader(path, sha):
        started.set()
        release.wait(10)
        seen.append(path)
        return load_for_control(path, sha)

    reloader = Reloader(loader)
    paths = [write_policy(tmp_path / f"p{i}.safetensors", version=i) for i in range(count)]
    reloader.request(str(paths[0]))
    assert started.wait(10)
    return reloader, paths, release, seen


def test_requests_during_a_load_keep_only_the_newest(tmp_path):
    reloader, paths, release, seen = loading_the_first_of(tmp_path, 3)
    for p in paths[1:]:
        reloader.request(str(p))
    release.set()
    assert reloader.wait()
    assert seen == [str(paths[0]), str(paths[2])]
    assert [r.loaded.version for r in reloader.take()] == [0, 2]


def test_close_waits_for_the_running_load_and_drops_the_queued_one(tmp_path):
    reloader, paths, release, seen = loading_the_first_of(tmp_path, 2)
    reloader.request(str(paths[1]))
    assert not reloader.close(timeout_s=0.05)  # still loading
    threading.Timer(0.1, release.set).start()
    assert reloader.close()
    assert not reloader.busy
    assert seen == [str(paths[0])]


# Timing --------------------------------------------------------------------------------------------


def test_tick_stats_known_answers():
    stats = TickStats(period_s=0.02, window=100)
    starts = [0.0, 0.02, 0.04, 0.10, 0.12]  # the gap 0.04 -> 0.10 misses two ticks
    work = [0.001, 0.03, 0.002, 0.002, 0.002]
    for s, w in zip(starts, work):
        stats.record(s, w)
    summary = stats.summary()
    assert summary.ticks == 5
    assert summary.overruns == 1
    assert summary.missed == 2
    assert summary.tick_period_mean_s == pytest.approx(0.03)
    assert summary.tick_period_max_s == pytest.approx(0.06)
    assert summary.inference_time_mean_s == pytest.approx(0.0074)


def test_period_follows_the_task_unless_configured(checkpoint):
    assert ControlLoop().period_s() == pytest.approx(1 / 20)
    assert loop_with(checkpoint).period_s() == pytest.approx(1 / tasks.REACH.control_rate_hz)
    assert loop_with(checkpoint, control_rate_hz=50.0).period_s() == pytest.approx(0.02)


@pytest.mark.parametrize(
    "config",
    [
        {"control_rate_hz": -1.0},
        {"control_rate_hz": 5000.0},
        {"solver": "heun"},
        {"steps": -1},
        {"steps": 2.5},
    ],
)
def test_bad_control_config_is_refused(config):
    with pytest.raises(ValueError, match="ControlConfig"):
        ControlConfig(**config)


# The acting rule, timing and the start-up load -------------------------------------------------------


def test_acting_for_training_waits_for_a_new_state_and_its_task_state(checkpoint):
    loop = loop_with(checkpoint)
    assert not loop.ready_to_act(None)  # no joint state waiting
    assert not loop.ready_to_act(2_000)  # its task/state has not come
    assert loop.ready_to_act(2_000, pending_goal_stamp_ns=2_000)  # it is waiting too
    loop.observe_goal(GOAL, "SO100Reach-v1", 2_000)
    np.testing.assert_array_equal(loop.goal, GOAL)
    assert loop.goal_env_id == "SO100Reach-v1"
    assert loop.ready_to_act(2_000)
    assert not loop.ready_to_act(3_000)  # the next state, before its task/state
    assert not loop.ready_to_act(3_000, pending_goal_stamp_ns=2_500)


def test_tick_statistics_cover_the_run_and_the_status_window(checkpoint):
    loop = loop_with(checkpoint)
    loop.start_timing()
    assert loop.stats.period_s == pytest.approx(1 / 20)
    for i in range(10):
        loop.record_tick(i * 0.05, 0.001)
    assert (loop.stats.ticks, loop.window.ticks) == (10, 10)
    loop.next_window()
    loop.record_tick(0.5, 0.001)
    assert (loop.stats.ticks, loop.window.ticks) == (11, 1)
    loop.retime(0.02)
    assert loop.stats.period_s == loop.window.period_s == 0.02


def test_a_refused_start_up_checkpoint_is_counted_and_leaves_no_policy(tmp_path, checkpoint):
    loop = ControlLoop()
    error = loop.load_now(str(corrupt(checkpoint)))
    assert str(checkpoint) in error
    assert loop.current is None
    assert loop.reloads.reloads_failed == 1
    assert loop.reloads.last_error.startswith("CheckpointError: ")
    assert loop.load_now(str(write_policy(tmp_path / "good.safetensors"))) == ""
    assert loop.current is not None
    assert loop.reloads.reloads_failed == 1


def test_the_estop_topic_latches_once_and_only_the_reset_clears_it(checkpoint):
    loop = loop_with(checkpoint)
    observe(loop, 0.0)
    loop.goal = GOAL
    assert not loop.on_estop_message(False)
    assert not loop.safety.estopped
    assert loop.on_estop_message(True)  # newly latched: the node warns once
    assert not loop.on_estop_message(True)
    assert not loop.on_estop_message(False)
    assert loop.tick(0.0).decision.command is None
    assert loop.state == SafetyState.ESTOP
    assert loop.reset_estop()  # one was latched
    assert not loop.reset_estop()
    assert loop.tick(0.01).decision.command is not None


def test_an_announced_policy_is_loaded_unless_it_is_the_running_one(checkpoint):
    requested = []
    loop = loop_with(checkpoint)
    loop.reloader = Reloader(lambda path, sha: requested.append((path, sha)) or load_for_control(path))
    running = loop.current.sha256
    assert not loop.request_update("/elsewhere/same.safetensors", f" {running.upper()}\n")
    assert loop.request_update(str(checkpoint), "0" * 64)
    assert loop.reloader.wait()
    assert requested == [(str(checkpoint), "0" * 64)]
    empty = ControlLoop()
    empty.reloader = Reloader(lambda path, sha: requested.append((path, sha)) or load_for_control(path))
    assert empty.request_update(str(checkpoint), running)  # nothing runs yet
    assert empty.reloader.wait()
    assert requested[-1] == (str(checkpoint), running)
