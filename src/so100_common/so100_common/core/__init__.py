"""ROS-free core of so100_common: imports neither rclpy nor mani_skill."""
