"""ROS-free core of fpo_sim: imports neither rclpy nor mani_skill at import time."""
