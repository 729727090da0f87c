"""The pick-and-lift task's rules without a simulator: stages, dense reward, success.

An episode of ``SO100PickLift-v1`` (:mod:`fpo_sim.maniskill_pick`) moves through four stages, in
this order; the dense reward pays each one on top of the ones before, so every stage pays more
than any state of an earlier one:

1. **reach**: 1 - tanh(10 d), d the distance from the gripper's TCP (the midpoint of the jaw
   tips) to the cube centre, m (in [0, 1]; 0.76 at 1 cm), plus a jaw term of up to 0.5 that
   teaches the grasp's timing: 0.5 x openness while d >= :data:`NEAR_M`, 0.5 x closedness
   within it (closedness c = (0 - gripper) / 1.05 clipped to [0, 1]: 0 at the start pose's
   half-open jaw, 1 shut; openness 1 - c). Without it the jaw's random walk seldom closes on the
   cube in time: a 150k-step run learned to hover at the cube and never grasped;
2. **grasp**: + 1 while both jaws hold the cube (ManiSkill's ``is_grasping``: contact force at
   least 0.5 N on each jaw, pushing against its opening direction);
3. **lift**: + min(h / LIFT_HEIGHT_M, 1) while grasped, h the height of the cube's bottom above
   the table, m;
4. **success**: grasped with h >= LIFT_HEIGHT_M; the reward is then its maximum,
   :data:`MAX_REWARD`, whatever the other terms say.

Normalised dense reward: the dense reward / :data:`MAX_REWARD`, in [0, 1]. Episodes never end
early: a policy that succeeds keeps the cube up for the rest of the episode, and the episode
counts as a success if any of its steps does.
"""

from __future__ import annotations

import torch

LIFT_HEIGHT_M = 0.04
"""Height of the cube's bottom above the table that counts as lifted, m."""
REACH_SCALE_PER_M = 10.0
NEAR_M = 0.02
"""TCP-to-cube distance within which the jaw term pays for closing instead of opening, m."""
JAW_WEIGHT = 0.5
SHUT_GRIPPER_RAD = -1.05
"""The gripper joint's position with the jaw shut (rad; 0 is the start pose's half-open jaw)."""
MAX_REWARD = 4.0
STAGES = ("reach", "grasp", "lift", "success")


def pick_lift_success(is_grasped: torch.Tensor, lift_m: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the cube is held at least :data:`LIFT_HEIGHT_M` above the table."""
    return is_grasped.bool() & (lift_m >= LIFT_HEIGHT_M)


def jaw_closedness(gripper_rad: torch.Tensor) -> torch.Tensor:
    """(N,) in [0, 1]: 0 with the jaw half open (gripper joint at 0 rad) or wider, 1 shut."""
    return torch.clamp(gripper_rad.to(torch.float32) / SHUT_GRIPPER_RAD, 0.0, 1.0)


def pick_lift_reward(
    tcp_to_cube_m: torch.Tensor, is_grasped: torch.Tensor, lift_m: torch.Tensor, gripper_rad: torch.Tensor
) -> torch.Tensor:
    """(N,) dense reward in [0, MAX_REWARD] (module docstring) from (N,) distances, grasp flags,
    lift heights and gripper joint positions."""
    distance = tcp_to_cube_m.to(torch.float32)
    grasped = is_grasped.to(torch.float32)
    closed = jaw_closedness(gripper_rad)
    reward = 1.0 - torch.tanh(REACH_SCALE_PER_M * distance)
    reward = reward + JAW_WEIGHT * torch.where(distance < NEAR_M, closed, 1.0 - closed)
    reward = reward + grasped
    reward = reward + grasped * torch.clamp(lift_m.to(torch.float32) / LIFT_HEIGHT_M, 0.0, 1.0)
    return torch.where(pick_lift_success(is_grasped, lift_m), torch.full_like(reward, MAX_REWARD), reward)
