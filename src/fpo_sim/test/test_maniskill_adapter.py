"""The ManiSkill adapter: gymnasium's checker, observations and actions through the task spec."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from fpo_sim.maniskill_adapter import choose_backend
from so100_common.core import kinematics, tasks
from so100_common.core.joints import JOINT_NAMES, REST_POSE_RAD, lower_limits, upper_limits

pytestmark = pytest.mark.slow


def _sim(env):
    return env.unwrapped.sim


@pytest.mark.parametrize("env_id", ["SO100Reach-v1", "SO100ReachTwoGoals-v1"])
def test_env_checker_passes_state(maniskill_env, env_id):
    env = maniskill_env(env_id)
    check_env(env.unwrapped, skip_render_check=True)


def test_env_checker_passes_camera(maniskill_env):
    env = maniskill_env("SO100Reach-v1", obs_mode="rgb")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["rgb"].shape == (128, 128, 3)
    assert obs["rgb"].dtype == np.uint8
    assert obs["rgb"].std() > 5, "the camera image is blank"


@pytest.mark.parametrize("env_id", ["fpo_sim/PickCubeSO100-v1", "fpo_sim/SO100GraspCube-v1"])
def test_shipped_tasks_through_the_adapter(maniskill_env, env_id):
    env = maniskill_env(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    spec = tasks.from_dict(env.unwrapped.task_spec)
    assert spec.env_id == env_id
    assert env.observation_space.shape == (spec.obs_dim,)
    obs, info = env.reset(seed=1)
    sim = _sim(env)
    np.testing.assert_allclose(
        obs, spec.observation(sim.joint_positions[0], sim.joint_velocities[0], info["goal"])
    )


def test_task_spec_attribute_matches_spaces(maniskill_env):
    env = maniskill_env("SO100Reach-v1")
    spec = tasks.from_dict(env.unwrapped.task_spec)
    assert spec == tasks.REACH
    assert env.observation_space.shape == (spec.obs_dim,)
    assert env.action_space.shape == (spec.act_dim,)
    np.testing.assert_array_equal(env.action_space.low, -1)
    np.testing.assert_array_equal(env.action_space.high, 1)


def test_fk_matches_maniskill_tcp(maniskill_env):
    """Our TCP equals ManiSkill's agent.tcp_pos, in the base frame, for a robot not at the origin."""
    import torch
    from mani_skill.utils.structs.pose import Pose

    agent = _sim(maniskill_env("fpo_sim/PickCubeSO100-v1"))._env.agent
    assert [j.name for j in agent.robot.active_joints] == list(JOINT_NAMES)
    assert not np.allclose(agent.robot.pose.p.numpy(), 0), "the test needs a robot away from the origin"
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.uniform(lower_limits(), upper_limits())
        agent.robot.set_qpos(torch.tensor(q[None], dtype=torch.float32))
        tcp_base = (agent.robot.pose.inv() * Pose.create_from_pq(agent.tcp_pos)).p[0].numpy()
        np.testing.assert_allclose(kinematics.tcp_position(q), tcp_base, atol=2e-5)


def test_reach_observation_is_the_spec_of_the_sim_state(maniskill_env):
    env = maniskill_env("SO100Reach-v1")
    sim = _sim(env)
    obs, info = env.reset(seed=3)
    for _ in range(3):
        obs, *_, info = env.step(env.action_space.sample())
    q = sim._env.agent.robot.get_qpos()[0].numpy()
    qd = sim._env.agent.robot.get_qvel()[0].numpy()
    goal = sim._env.goal_pos[0].numpy()
    np.testing.assert_allclose(info["goal"], goal)
    np.testing.assert_allclose(obs, tasks.REACH.observation(q, qd, goal), rtol=1e-6)
    # The observation's TCP (indices 15:18) is where ManiSkill has it.
    np.testing.assert_allclose(obs[15:18], sim._env.tcp_in_base()[0].numpy(), atol=2e-5)


@pytest.mark.parametrize("env_id", ["SO100Reach-v1", "SO100ReachTwoGoals-v1"])
def test_no_reset_starts_outside_the_limits(maniskill_env, env_id):
    from so100_common.core.joints import outside_limits

    env = maniskill_env(env_id)
    sim = _sim(env)
    rest = np.array(REST_POSE_RAD)
    starts = []
    for seed in range(40):
        env.reset(seed=seed)
        q = sim._env.agent.robot.get_qpos()[0].numpy().astype(np.float64)
        assert not outside_limits(q).any(), f"seed {seed} starts at {q.round(4).tolist()}"
        starts.append(q)
    starts = np.array(starts)
    # Still the rest pose plus noise: the joints inside their limits spread on both sides of rest,
    # the ones resting on a limit only inward.
    assert np.all(np.abs(starts - rest) <= 0.02 + 1e-6)
    assert (starts[:, 0] < rest[0]).any()
    assert (starts[:, 0] > rest[0]).any()
    assert (starts[:, 1] > rest[1]).sum() > 10


def test_action_is_a_bounded_step_towards_the_target(maniskill_env):
    env = maniskill_env("SO100Reach-v1")
    sim = _sim(env)
    env.reset(seed=0)
    action = np.zeros(6, np.float32)
    action[0] = 1.0
    pan = [sim.joint_positions[0, 0]]
    for _ in range(20):
        env.step(action)
        pan.append(sim.joint_positions[0, 0])
    steps = np.diff(pan)
    # The PD controller lags its target: less than half of each full step is realised.
    assert pan[-1] - pan[0] > 0.6, f"shoulder_pan moved only {pan[-1] - pan[0]:.3f} rad in 20 steps"
    assert np.all(steps <= tasks.REACH.max_delta_rad[0] + 0.01)
    assert np.all(steps > 0)


def _park_at(sim, q, steps=60):
    for _ in range(steps):
        reward, success, _ = sim.apply_targets(np.asarray(q)[None])
    return reward[0], success[0]


def test_reaching_the_goal_succeeds_and_pays(maniskill_env):
    import torch

    sim = _sim(maniskill_env("SO100Reach-v1"))
    sim.reset(seed=5)
    q_goal = np.array([0.3, -0.8, 0.9, 0.6, 0.0, -1.1])
    sim._env.goal_pos[:] = torch.tensor(kinematics.tcp_position(q_goal), dtype=torch.float32)
    far_reward, far_success = _park_at(sim, REST_POSE_RAD, steps=1)
    reward, success = _park_at(sim, q_goal)
    assert success
    assert not far_success
    assert reward > 0.9 > far_reward


def test_either_of_two_goals_counts(maniskill_env):
    import torch

    sim = _sim(maniskill_env("SO100ReachTwoGoals-v1"))
    sim.reset(seed=5)
    q_left = np.array([0.5, -0.8, 0.9, 0.6, 0.0, -1.1])
    q_right = q_left * np.array([-1, 1, 1, 1, 1, 1])
    goals = np.concatenate([kinematics.tcp_position(q_left), kinematics.tcp_position(q_right)])
    sim._env.goal_pos[:] = torch.tensor(goals, dtype=torch.float32)
    assert _park_at(sim, q_left)[1]
    assert _park_at(sim, q_right)[1]
    assert not _park_at(sim, (q_left + q_right) / 2)[1]


@pytest.mark.parametrize("num_goals", [1, 2])
def test_goals_are_reachable_near_the_start_and_above_ground(num_goals):
    pytest.importorskip("mani_skill")
    from fpo_sim.maniskill_reach import GOAL_RADIUS_M, MIN_GOAL_HEIGHT_M, MIN_GOAL_SEPARATION_M, sample_goals

    start = kinematics.tcp_position(np.array(REST_POSE_RAD))
    for seed in range(50):
        goals = sample_goals(np.random.RandomState(seed), start, num_goals).reshape(num_goals, 3)
        assert np.all(np.linalg.norm(goals - start, axis=1) <= GOAL_RADIUS_M)
        assert np.all(goals[:, 2] >= MIN_GOAL_HEIGHT_M)
        if num_goals == 2:
            np.testing.assert_allclose(goals[1], goals[0] * [-1, 1, 1], atol=1e-6)
            assert np.linalg.norm(goals[0] - goals[1]) >= MIN_GOAL_SEPARATION_M


def test_the_simulated_arm_reaches_sampled_goal_configurations(maniskill_env):
    """Every goal is reachable: driven toward its sampled configuration through the task's action
    mapping (bounded steps, targets inside the command margin, as the safety filter allows), the
    simulated arm brings its TCP to the goal. Configurations that fold the gripper into the upper
    arm, which the simulator cannot reach (self-collision), are never sampled."""
    from fpo_sim.maniskill_reach import MAX_WRIST_FOLD_RAD, sample_goal_configs

    sim = _sim(maniskill_env("SO100Reach-v1"))
    spec = sim.spec
    misses = []
    for seed in range(40):
        sim.reset(seed=seed)
        start = kinematics.tcp_position(sim.joint_positions[0])
        config = sample_goal_configs(np.random.RandomState(seed), start, 1)[0]
        assert config[2] + config[3] <= MAX_WRIST_FOLD_RAD
        lowest, highest = spec.target_limits_rad
        assert np.all(config >= lowest) and np.all(config <= highest)  # noqa: PT018
        for _ in range(80):
            q = sim.joint_positions[0]
            action = np.clip((config - q) / np.asarray(spec.max_delta_rad), -1.0, 1.0)
            sim.apply_targets(spec.action_to_target(action, q)[None])
        error = np.linalg.norm(
            kinematics.tcp_position(sim.joint_positions[0]) - kinematics.tcp_position(config)
        )
        if error > 0.005:
            misses.append((seed, config.round(2).tolist(), round(float(error), 3)))
    assert not misses, misses


def test_backend_choice():
    assert choose_backend(1) == "physx_cpu"
    with pytest.raises(ValueError, match="physx_cpu simulates one env"):
        choose_backend(4, "physx_cpu")
    with pytest.raises(ValueError, match="sim_backend must be"):
        choose_backend(1, "mujoco")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        assert choose_backend(4) == "physx_cuda"
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            choose_backend(4)


def test_vector_env_on_the_gpu_autoresets():
    """ManiSkill's GPU simulation behind SO100VectorEnv: shapes, dtypes and same-step autoreset."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("physx_cuda needs an NVIDIA GPU; this machine has none")
    from fpo_sim.maniskill_adapter import SO100VectorEnv

    envs = SO100VectorEnv("SO100Reach-v1", num_envs=16)
    try:
        assert envs.sim.sim_backend == "physx_cuda"
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (16, tasks.REACH.obs_dim)
        assert obs.dtype == np.float32
        goals = envs.sim.goal.copy()
        for _ in range(tasks.REACH.episode_steps):
            obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert reward.shape == (16,)
            assert not terminated.any()
        assert truncated.all()
        assert info["_final_obs"].all()
        assert not np.allclose(envs.sim.goal, goals), "no new goals after the autoreset"
        np.testing.assert_allclose(obs, envs.sim.observation())
    finally:
        envs.close()
