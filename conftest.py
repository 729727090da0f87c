"""Session-wide test settings shared by every test folder.

Each test session gets its own ROS domain and keeps discovery on this host, so concurrent test
runs, leftover nodes and benchmarks on the same machine never hear each other's topics.
"""

import os

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Large images over best-effort QoS lose most frames with the default transports (measured).
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
