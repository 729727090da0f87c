"""Helpers for tests that use real rclpy over DDS between real processes.

Discovery here takes either ~30 ms or ~2 s: tests wait for matching (publisher and subscription
counts) or for the data itself, with a generous deadline, and never sleep a fixed time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROCS = Path(__file__).resolve().parent / "procs"


def spin_until(node, predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    """Spin ``node``'s executor until ``predicate()`` is true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        node.executor.spin_once(timeout_sec=0.05)
    return True


@contextmanager
def ros_node(name: str) -> Iterator:
    """A node in its own context, added to its own executor, shut down afterwards."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()


def python_env() -> dict[str, str]:
    """The environment for child Python processes: this one's, with the source packages importable."""
    env = dict(os.environ)
    paths = [str(ROOT / "src" / p) for p in ("so100_common", "fpo_policy", "fpo_sim", "so100_driver")] + [
        str(ROOT / "tests")
    ]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def child_process(args: Sequence[str], **kwargs) -> Iterator[subprocess.Popen]:
    """Run ``python args...`` as a child; terminate it (then kill) when the block ends."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=kwargs.pop("env", python_env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
