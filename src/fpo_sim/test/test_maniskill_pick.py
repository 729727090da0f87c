"""The pick-and-lift task: its rules (fpo_sim.core.pick_reward) and its ManiSkill env."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpo_sim.core.pick_reward import LIFT_HEIGHT_M, MAX_REWARD, pick_lift_reward, pick_lift_success
from so100_common.core import tasks
from so100_common.core.joints import outside_limits


def reward(distance_m, grasped, lift_m) -> float:
    values = (torch.tensor([v]) for v in (distance_m, grasped, lift_m))
    return float(pick_lift_reward(*values)[0])


def test_each_stage_pays_more_than_every_state_of_the_stages_before():
    far, near = reward(0.3, False, 0.0), reward(0.03, False, 0.0)
    assert 0.0 < far < near < 1.0
    best_reach = reward(0.0, False, 0.0)
    assert best_reach == pytest.approx(1.0)
    # Lifting without a grasp (the cube knocked up) pays nothing for the lift.
    assert reward(0.01, False, 0.03) == pytest.approx(reward(0.01, False, 0.0))
    grasped = reward(0.03, True, 0.0)
    assert best_reach < grasped
    half_lifted = reward(0.03, True, LIFT_HEIGHT_M / 2)
    almost = reward(0.0, True, 0.99 * LIFT_HEIGHT_M)
    assert grasped < half_lifted < almost < 3.0
    assert reward(0.03, True, LIFT_HEIGHT_M) == MAX_REWARD  # success is the maximum


def test_success_needs_the_grasp_and_the_height():
    grasped = torch.tensor([True, True, False, True])
    lift = torch.tensor([LIFT_HEIGHT_M, 0.01, 0.1, 0.2])
    assert pick_lift_success(grasped, lift).tolist() == [True, False, False, True]


@pytest.fixture(scope="module")
def pick_env():
    from fpo_sim.maniskill_adapter import simulator_unavailable

    reason = simulator_unavailable()
    if reason:
        pytest.skip(reason)
    import gymnasium as gym

    import fpo_sim.envs  # noqa: F401

    env = gym.make("SO100PickLift-v1")
    yield env
    env.close()


@pytest.mark.slow
def test_observation_layout_is_joints_then_the_stated_extras(pick_env):
    spec = pick_env.unwrapped.task_spec
    assert tasks.from_dict(spec).obs_dim == 36 == pick_env.observation_space.shape[0]
    pick_env.reset(seed=4)
    for _ in range(5):
        obs, *_ = pick_env.step(pick_env.action_space.sample())
    ms = pick_env.unwrapped.sim._env
    q = ms.agent.robot.get_qpos()[0].numpy()
    np.testing.assert_allclose(obs[:6], q, atol=1e-6)
    extras = obs[12:]
    cube, tcp = ms.cube.pose.p[0].numpy(), ms.agent.tcp_pose.p[0].numpy()
    assert extras[0] == 0.0  # is_grasped: the jaws are nowhere near the cube yet
    np.testing.assert_allclose(extras[1:4], tcp, atol=1e-6)
    # The stated base pose: our forward kinematics, carried to the world frame, is ManiSkill's TCP.
    from fpo_sim.maniskill_pick import base_from_world, world_from_base
    from so100_common.core.kinematics import tcp_position

    np.testing.assert_allclose(world_from_base(tcp_position(q.astype(np.float64))), tcp, atol=2e-4)
    np.testing.assert_allclose(base_from_world(world_from_base(cube)), cube, atol=1e-12)
    np.testing.assert_allclose(
        extras[8:11], [*ms.goal_site.pose.p[0, :2].numpy(), 0.0125 + LIFT_HEIGHT_M], atol=1e-6
    )
    np.testing.assert_allclose(extras[11:14], cube, atol=1e-6)
    np.testing.assert_allclose(extras[18:21], cube - tcp, atol=1e-5)
    np.testing.assert_allclose(extras[21:24], extras[8:11] - cube, atol=1e-5)


@pytest.mark.slow
def test_episodes_start_inside_the_limits_with_the_cube_on_the_table_and_run_their_length(pick_env):
    ms = pick_env.unwrapped.sim._env
    starts = []
    for seed in range(12):
        pick_env.reset(seed=seed)
        q = ms.agent.robot.get_qpos()[0].numpy().astype(np.float64)
        assert not outside_limits(q).any()
        cube = ms.cube.pose.p[0].numpy()
        assert abs(cube[0] + 0.46) <= 0.05 + 1e-6
        assert abs(cube[1]) <= 0.05 + 1e-6
        assert cube[2] == pytest.approx(0.0125, abs=1e-4)
        starts.append(cube.copy())
    assert len({tuple(np.round(s, 4)) for s in starts}) == 12
    pick_env.reset(seed=3)
    again = ms.cube.pose.p[0].numpy()
    np.testing.assert_array_equal(again, starts[3])  # the seed decides the episode
    steps, done = 0, False
    while not done:
        _, r, terminated, truncated, _ = pick_env.step(pick_env.action_space.sample())
        steps += 1
        done = terminated or truncated
        assert 0.0 <= r <= 1.0  # the normalised dense reward
        assert not terminated  # no early end
    assert steps == 100


@pytest.mark.slow
def test_the_table_and_the_cube_are_in_the_camera_image(maniskill_env):
    from mani_skill.utils.structs.pose import Pose

    def red_and_wood(image):
        r, g, b = (image[..., c].astype(int) for c in range(3))
        red = (r > 150) & (g < 50) & (b < 50)
        wood = (r > g + 20) & (g > b) & (r > 80) & ~red
        return int(red.sum()), float(wood.mean())

    env = maniskill_env("SO100PickLift-v1", obs_mode="rgb")
    obs, _ = env.reset(seed=0)
    # With the camera on, the policy's observation is the one it was trained on without it (the
    # sim node renders for make run TASK=pick; a shorter goal would leave the policy waiting).
    state_obs, _ = maniskill_env("SO100PickLift-v1").reset(seed=0)
    np.testing.assert_allclose(obs["state"], state_obs, atol=1e-5)
    red, wood = red_and_wood(obs["rgb"])
    assert red >= 8, "the red cube is not in the image"
    assert wood > 0.5, "the table does not fill most of the view"
    # The red pixels are the cube's: lifted 6 cm, they move up the image (the camera sees height);
    # moved off the table, they are gone.
    ms = env.unwrapped.sim._env

    def cube_row(image):
        r, g, b = (image[..., c].astype(int) for c in range(3))
        return float(np.nonzero((r > 150) & (g < 50) & (b < 50))[0].mean())

    on_table = ms.cube.pose.p.clone()
    ms.cube.set_pose(Pose.create_from_pq(on_table + torch.tensor([[0.0, 0.0, 0.06]])))
    lifted, *_ = env.step(np.zeros(6, np.float32))
    assert cube_row(lifted["rgb"]) < cube_row(obs["rgb"]) - 8
    ms.cube.set_pose(Pose.create_from_pq(torch.tensor([[5.0, 5.0, 0.0125]])))
    obs, *_ = env.step(np.zeros(6, np.float32))
    assert red_and_wood(obs["rgb"])[0] == 0


@pytest.mark.slow
def test_a_pre_grasp_start_has_the_open_jaw_around_the_cube_and_a_close_and_raise_lifts_it(maniskill_env):
    from fpo_sim.maniskill_pick import world_from_base
    from so100_common.core.kinematics import jaw_tip_positions

    env = maniskill_env("SO100PickLift-v1", pre_grasp_start_fraction=1.0)
    sim = env.unwrapped.sim
    ms = sim._env
    for seed in (0, 1, 2):
        env.reset(seed=seed)
        q = sim.joint_positions[0]
        assert not outside_limits(q).any()
        fixed, moving = jaw_tip_positions(q)
        cube = ms.cube.pose.p[0].numpy()
        gap = np.linalg.norm(world_from_base(fixed) - world_from_base(moving))
        assert 0.03 < gap < 0.06  # open wider than the 2.5 cm cube
        midpoint = (world_from_base(fixed) + world_from_base(moving)) / 2
        assert np.linalg.norm(midpoint[:2] - cube[:2]) < 0.012  # the cube between the tips
        held = []
        for _ in range(20):
            env.step(np.array([0, 0, 0, 0, 0, -1.0], np.float32))  # close at full speed
            held.append(bool(ms.evaluate()["is_grasped"][0]))
        assert all(held[5:]), f"the grasp did not last: {held}"  # the jaw's torque limit holds it
        for _ in range(15):
            env.step(np.array([0, -0.3, 0, 0, 0, -1.0], np.float32))  # raise the shoulder
        assert bool(ms.evaluate()["success"][0])
    plain = maniskill_env("SO100PickLift-v1")
    plain.reset(seed=0)
    np.testing.assert_allclose(plain.unwrapped.sim.joint_positions[0][3:5], [np.pi / 2, np.pi / 2], atol=0.1)


def test_the_jaw_drive_is_capped_at_the_jaw_torque_limit(maniskill_env):
    from fpo_sim.maniskill_pick import JAW_TORQUE_LIMIT_NM

    env = maniskill_env("SO100PickLift-v1")
    env.reset(seed=0)
    joints = env.unwrapped.sim._env.agent.robot.active_joints_map
    assert float(joints["gripper"].force_limit[0]) == pytest.approx(JAW_TORQUE_LIMIT_NM)
    assert float(joints["elbow_flex"].force_limit[0]) > 10 * JAW_TORQUE_LIMIT_NM  # the arm's untouched
    with pytest.raises(ValueError, match="jaw_torque_limit_nm"):
        maniskill_env("SO100PickLift-v1", jaw_torque_limit_nm=0.0)


@pytest.mark.slow
def test_a_tick_renders_nothing_and_the_image_of_its_state_renders_once(maniskill_env):
    """The sim node publishes a tick's joint states before its camera image: the step must not
    render (20 ms on lavapipe), or a policy ticking in that window acts on a stale state."""
    from fpo_sim.core.sim_loop import SimLoop, SimNodeConfig

    sim = maniskill_env("SO100PickLift-v1", obs_mode="rgb").unwrapped.sim
    renders = []
    render = sim._env.get_sensor_images
    sim._env.get_sensor_images = lambda: renders.append(1) or render()
    loop = SimLoop(sim, SimNodeConfig(env_id="SO100PickLift-v1", obs_mode="rgb", auto_reset=False))
    before = loop.image()
    loop.command(sim.joint_positions[0] + np.array([0.6, 0.0, 0.0, 0.0, 0.0, 0.0]))
    renders.clear()
    for _ in range(5):
        loop.tick()
    assert renders == []
    after = loop.image()
    assert renders == [1]
    np.testing.assert_array_equal(loop.image(), after)
    assert renders == [1]  # one render per state
    assert np.abs(after.astype(int) - before.astype(int)).max() > 50  # the image of the new state
