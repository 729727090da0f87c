"""ROS-free core of fpo_policy: imports neither rclpy nor mani_skill."""
