"""FPO training over ROS: sim nodes publishing rollouts, their acting policy nodes, and the trainer.

ros2 launch fpo_policy train.launch.py num_sims:=2
"""

from fpo_policy.launch_support import generate


def generate_launch_description():
    return generate("train", ("checkpoint", "control_rate_hz", "namespace", "num_sims"))
