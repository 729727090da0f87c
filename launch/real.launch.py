"""The real SO-100 driven by a flow policy: driver node + policy node (+ robot_state_publisher, RViz).

ros2 launch fpo_policy real.launch.py serial_port:=/dev/ttyACM0 calibration_file:=~/my_arm.json
ros2 launch fpo_policy real.launch.py fake_hardware:=true     # the bus emulator, no arm needed
"""

from fpo_policy.launch_support import generate


def generate_launch_description():
    return generate(
        "real",
        (
            "checkpoint",
            "control_rate_hz",
            "namespace",
            "rviz",
            "robot_state_publisher",
            "serial_port",
            "calibration_file",
            "fake_hardware",
        ),
    )
