"""so100_driver: the SO-100 / SO-101 arm on its Feetech STS3215 bus.

ROS-free code (protocol, emulator, calibration) lives in :mod:`so100_driver.core`.
"""
