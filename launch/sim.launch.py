"""The simulated SO-100 driven by a flow policy: sim node + policy node (+ robot_state_publisher, RViz).

ros2 launch fpo_policy sim.launch.py rviz:=true
ros2 launch fpo_policy sim.launch.py task:=pick      # the shipped pick-and-lift policy
ros2 launch fpo_policy sim.launch.py use_sim_time:=true   # on the sim's /clock, faster than real time
"""

from fpo_policy.launch_support import generate


def generate_launch_description():
    return generate(
        "sim",
        (
            "checkpoint",
            "task",
            "control_rate_hz",
            "namespace",
            "rviz",
            "robot_state_publisher",
            "camera",
            "use_sim_time",
        ),
    )
