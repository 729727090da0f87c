"""The pick-and-lift task's rules without a simulator: stages, dense reward, success.

An episode of ``SO100PickLift-v1`` (:mod:`fpo_sim.maniskill_pick`) moves through four stages, in
this order; the dense reward pays each one on top of the ones before, so every stage pays more
than any state of an earlier one:

1. **reach**: 1 - tanh(10 d), d the distance from the gripper's TCP (the midpoint of the jaw
   tips) to the cube centre, m (in [0, 1]; 0.90 at 1 cm). Nothing pays for the jaw's opening:
   an earlier jaw term (open while far, closed within 2 cm) was a trap, a policy learned to hover
   just outside 2 cm with the jaw open and never grasped (benchmarks/README.md);
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
MAX_REWARD = 4.0
"""The dense reward of a success: above the 3 the other terms can reach together."""
STAGES = ("reach", "grasp", "lift", "success")


def pick_lift_success(is_grasped: torch.Tensor, lift_m: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the cube is held at least :data:`LIFT_HEIGHT_M` above the table."""
    return is_grasped.bool() & (lift_m >= LIFT_HEIGHT_M)


def pick_lift_reward(
    tcp_to_cube_m: torch.Tensor, is_grasped: torch.Tensor, lift_m: torch.Tensor
) -> torch.Tensor:
    """(N,) dense reward in [0, MAX_REWARD] (module docstring) from (N,) distances, grasp flags
    and lift heights."""
    grasped = is_grasped.to(torch.float32)
    reward = 1.0 - torch.tanh(REACH_SCALE_PER_M * tcp_to_cube_m.to(torch.float32))
    reward = reward + grasped
    reward = reward + grasped * torch.clamp(lift_m.to(torch.float32) / LIFT_HEIGHT_M, 0.0, 1.0)
    return torch.where(pick_lift_success(is_grasped, lift_m), torch.full_like(reward, MAX_REWARD), reward)
