"""Message time as integer nanoseconds, both ways (so100_common.stamps)."""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Duration, Time
from rclpy.time import Time as RclpyTime

from so100_common.stamps import duration_msg, nanoseconds, time_msg


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 1_733_561_234_567_890_123])
def test_time_round_trips_exactly(ns):
    msg = time_msg(ns)
    assert isinstance(msg, Time)
    assert nanoseconds(msg) == ns
    # The same split rclpy makes.
    assert msg == RclpyTime(nanoseconds=ns).to_msg()


def test_duration_rounds_down_to_the_nanosecond_like_a_timer_period():
    msg = duration_msg(0.05)
    assert isinstance(msg, Duration)
    assert (msg.sec, msg.nanosec) == (0, 50_000_000)
    assert nanoseconds(duration_msg(1.5)) == 1_500_000_000
    assert nanoseconds(duration_msg(1 / 30)) == int(1 / 30 * 1e9)
