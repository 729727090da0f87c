"""fpo_sim: the simulated SO-100 (ManiSkill3) and the sim node.

ROS-free code lives in :mod:`fpo_sim.core`; ManiSkill is imported lazily, only where a task is built.
"""
