"""ROS-free core of so100_driver: imports neither rclpy nor mani_skill."""
