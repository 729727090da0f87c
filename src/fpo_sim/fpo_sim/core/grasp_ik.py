"""Pre-grasp arm configurations for the pick task: the jaw tips placed on either side of the cube.

A joint configuration (contract order, rad) whose fixed-jaw tip lies ``FIXED_GAP_M`` outside one
cube face and whose moving-jaw tip lies ``MOVING_GAP_M`` outside the opposite face, both at the
cube centre's height plus ``LIFT_M``, found by least squares on the forward kinematics of
:mod:`so100_common.core.kinematics` (positions in the robot's Base frame, m), within the targets
the action mapping allows. Closing the jaw from there grasps the cube and, with the task's jaw
torque limit, holds it through a lift (a test closes at full speed, then raises the shoulder).
The pick task starts some episodes here, so a policy meets the end of the skill before it can
find it on its own (a reverse curriculum).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from so100_common.core.joints import COMMAND_MARGIN_RAD, shrunk_limits
from so100_common.core.kinematics import jaw_tip_positions

FIXED_GAP_M = 0.004
MOVING_GAP_M = 0.015
LIFT_M = 0.002
TOLERANCE_M = 0.003
"""A solution is accepted when both tips are within this distance of their goals."""


def pre_grasp_configuration(
    cube_centre: np.ndarray, cube_yaw: float, half_size: float, start: np.ndarray, rng: np.random.Generator
) -> np.ndarray | None:
    """A configuration with the open jaw around the cube (module docstring), or None if none of
    the four face pairs is reachable. ``cube_centre`` (3,) m and ``cube_yaw`` rad in the Base
    frame; ``start`` (6,) the configuration the search starts from."""
    lower, upper = shrunk_limits(COMMAND_MARGIN_RAD)
    bounds = list(zip(lower, upper))
    best, best_cost = None, np.inf
    for k in rng.permutation(4):
        angle = cube_yaw + k * np.pi / 2
        normal = np.array([np.cos(angle), np.sin(angle), 0.0])
        fixed_goal = cube_centre - normal * (half_size + FIXED_GAP_M) + [0.0, 0.0, LIFT_M]
        moving_goal = cube_centre + normal * (half_size + MOVING_GAP_M) + [0.0, 0.0, LIFT_M]

        def cost(q, fixed_goal=fixed_goal, moving_goal=moving_goal):
            fixed, moving = jaw_tip_positions(q)
            return 1e4 * (np.sum((fixed - fixed_goal) ** 2) + np.sum((moving - moving_goal) ** 2))

        result = minimize(cost, np.clip(start, lower, upper), bounds=bounds, method="L-BFGS-B")
        if result.fun < best_cost:
            best, best_cost = result.x, result.fun
        if best_cost < 1e4 * (TOLERANCE_M**2):
            return best
    return best if best_cost < 2e4 * (TOLERANCE_M**2) else None
