"""fpo_policy: flow policies trained with FPO, the policy node and the trainer node.

ROS-free code lives in :mod:`fpo_policy.core`; the node modules are thin wrappers around it.
"""
