"""so100_common.node_main.run_node, the main() of every node, in child processes with a toy node.

The toy node has no timers and no subscriptions, so nothing but the signal itself can wake its
executor: a stop within a second shows the wake-up path works. Its constructor and destroy_node
can be made slow, to signal it while it starts and again while it stops.
"""

from __future__ import annotations

import signal
import time

import pytest
from ros_testing import child_process

pytestmark = pytest.mark.ros

TOY = """
import sys, time
from rclpy.node import Node
from so100_common.node_main import run_node

construct_s, destroy_s, bad = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "bad"

class Toy(Node):
    def __init__(self, **kwargs):
        super().__init__("toy", **kwargs)
        print("constructing", flush=True)
        time.sleep(construct_s)
        if bad:
            raise ValueError("toy.yaml: rate_hz must be positive, got -1")
        print("spinning", flush=True)

    def destroy_node(self):
        print("destroying", flush=True)
        time.sleep(destroy_s)
        print("destroyed", flush=True)
        super().destroy_node()

run_node(Toy)
print("main returned", flush=True)
"""


def toy(construct_s: float = 0.0, destroy_s: float = 0.0, bad: bool = False) -> list[str]:
    return ["-c", TOY, str(construct_s), str(destroy_s), "bad" if bad else "good"]


def read_until(proc, line: str, timeout_s: float = 30.0) -> list[str]:
    """Lines of ``proc``'s output up to and including ``line`` (fails on EOF or timeout)."""
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = proc.stdout.readline()
        assert out, f"output ended before {line!r}: {seen}"
        seen.append(out.rstrip("\n"))
        if seen[-1] == line:
            return seen
    pytest.fail(f"no {line!r} within {timeout_s} s: {seen}")


def finish(proc, timeout_s: float) -> str:
    output, _ = proc.communicate(timeout=timeout_s)
    return output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_wakes_an_idle_node_and_stops_it_cleanly(sig):
    with child_process(toy()) as proc:
        read_until(proc, "spinning")
        time.sleep(0.5)  # let it block in the executor's wait: no timer would ever wake it
        start = time.monotonic()
        proc.send_signal(sig)
        output = finish(proc, 10.0)
        took = time.monotonic() - start
    assert proc.returncode == 0, output
    assert took < 1.5, f"took {took:.2f} s"
    assert f"[toy]: {sig.name}: shutting down" in output
    assert output.index("shutting down") < output.index("destroyed") < output.index("main returned")
    assert "Traceback" not in output


def test_a_signal_while_starting_stops_the_node_once_it_is_built():
    with child_process(toy(construct_s=1.0)) as proc:
        read_until(proc, "constructing")
        proc.send_signal(signal.SIGTERM)
        output = finish(proc, 20.0)
    assert proc.returncode == 0, output
    assert output.index("spinning") < output.index("SIGTERM: shutting down") < output.index("destroyed")
    assert "Traceback" not in output


def test_signals_while_stopping_are_ignored():
    """A second SIGINT and a SIGTERM during destroy_node (a driver parking the arm) change nothing."""
    with child_process(toy(destroy_s=1.0)) as proc:
        read_until(proc, "spinning")
        proc.send_signal(signal.SIGINT)
        read_until(proc, "destroying")
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGTERM)
        output = finish(proc, 20.0)
    assert proc.returncode == 0, output
    assert "destroyed" in output
    assert "main returned" in output
    assert "Traceback" not in output


def test_a_bad_start_is_one_line_and_exit_code_2():
    with child_process(toy(bad=True)) as proc:
        output = finish(proc, 30.0)
    assert proc.returncode == 2, output
    assert "toy.yaml: rate_hz must be positive, got -1" in output
    assert "Traceback" not in output
    assert "destroyed" in output  # the half-built node is torn down too
