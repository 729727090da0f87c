"""ROS-free core of fpo_policy: imports neither rclpy nor mani_skill.

Public API used by the nodes: :func:`load_policy`, :class:`Policy`, :class:`PolicyMetadata`,
:class:`CheckpointError`; the sampling code in :mod:`fpo_policy.core.sampling`; the update step in
:mod:`fpo_policy.core.update`.
"""

from fpo_policy.core.checkpoint import CheckpointError
from fpo_policy.core.policy import Policy, PolicyMetadata, load_policy

__all__ = ["CheckpointError", "Policy", "PolicyMetadata", "load_policy"]
