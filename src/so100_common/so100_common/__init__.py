"""so100_common: the contract every SO-100 package shares, at the bottom of the dependency graph.

ROS-free (:mod:`so100_common.core`): the joint contract (:mod:`~so100_common.core.joints`), forward
kinematics, the task specs with the one observation function and action mapping
(:mod:`~so100_common.core.tasks`), the rollout chunk type, config fields, tick statistics and
image conversion. Thin ROS helpers: the topic and QoS table (:mod:`so100_common.topics`), the one
``main()`` of every node (:mod:`so100_common.node_main`) and parameters declared from config
dataclasses (:mod:`so100_common.parameters`). ``so100_driver``, ``fpo_sim`` and ``fpo_policy``
depend on this package and not on each other.
"""
