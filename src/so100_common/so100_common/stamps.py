"""Message time in integer nanoseconds: ``builtin_interfaces`` Time and Duration to and from ns.

Stamps are compared as ints (a float of seconds loses nanoseconds after about 100 days of epoch
time), so every node converts through these two functions.
"""

from __future__ import annotations

from builtin_interfaces.msg import Duration, Time

NS_PER_S = 1_000_000_000


def nanoseconds(stamp: Time | Duration) -> int:
    """A Time or Duration message as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def time_msg(ns: int) -> Time:
    """Integer nanoseconds (>= 0) as a Time message."""
    return Time(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


def duration_msg(seconds: float) -> Duration:
    """A duration in s as a Duration message, rounded down to the ns as rclpy rounds a timer period."""
    ns = int(seconds * 1e9)
    return Duration(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)
