"""The one ``main()`` of every node executable: start a node, spin it, and stop cleanly on SIGINT or SIGTERM.

``run_node(SimNode, args)`` is the whole ``main()`` of sim_node, policy_node, trainer_node and
driver_node. A SIGINT or SIGTERM, at any moment after the executable's imports, ends the process
with exit code 0, one log line naming the signal, and nothing else on stderr; each node releases
what it holds (bus thread and shutdown mode, simulator, worker threads) in its ``destroy_node``.

**Why not rclpy's own signal handlers.** rclpy's handlers shut the context down at once, from a
thread of their own, whatever the main thread is doing. A timer callback that publishes at that
moment raises RCLError ("publisher's context is invalid"), a node still in its constructor fails
to create its publishers, the executor fails to build its next wait set, and log lines meant for
``/rosout`` fail; all of that races the signal, so it shows up only sometimes. Here a signal only
*asks* to stop (:class:`StopSignals`): a small thread wakes the executor through a guard
condition, the executor finishes the callback it is in and returns, and then everything is torn
down in order while the context is still valid: executor, node, context. A signal during the
node's construction is honoured as soon as the constructor returns. Repeated signals while
stopping are ignored, so a driver always completes its shutdown mode.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import rclpy
from rclpy.context import Context
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

N = TypeVar("N", bound=Node)

BAD_START = (ValueError, InvalidParameterValueException, InvalidParameterTypeException)
"""What a node's constructor raises for bad parameters or files: reported in one line, exit code 2."""


class StopSignals:
    """Records the first SIGINT or SIGTERM instead of interrupting whatever runs.

    Use as a context manager (:meth:`installed`); ``requested`` then tells whether to stop.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    @property
    def requested(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return self.received.name if self.received is not None else ""

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)

    @contextmanager
    def installed(self):
        """Record SIGINT and SIGTERM (main thread only) in the block; ignore them after it.

        Leaving the block means the process is ending. Python's finalisation would restore the
        default actions, so a second signal (Ctrl-C reaches a process group, and a supervisor
        signals again) would kill a process that had already stopped cleanly, with exit code
        -2 or -15; ignored, it cannot.
        """
        for s in STOP_SIGNALS:
            signal.signal(s, self._handle)
        try:
            yield self
        finally:
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_IGN)


class _SignalWaker:
    """Triggers ``wake`` from a thread whenever a signal arrives (via ``signal.set_wakeup_fd``).

    Python runs signal handlers in the main thread only between bytecodes, so a main thread
    blocked in the executor's wait would not notice a signal until some timer fired; the C-level
    handler writes the signal number to the wakeup fd at once, and this thread turns that into a
    guard-condition trigger, which ends the wait.
    """

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._closing = False
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._run, name="signal-waker")
        self._thread.start()

    def _run(self) -> None:
        while self._reader.recv(64) and not self._closing:
            self._wake()

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        self._closing = True
        self._writer.send(b"\0")
        self._thread.join()
        self._reader.close()
        self._writer.close()


STOP_POLL_S = 0.05
"""With the events executor (no guard conditions), how often the spin checks for a stop signal, s."""


def _events_executor(context: Context):
    """rclpy's EventsExecutor (rclpy.experimental), or None where this rclpy lacks it."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return None
    return EventsExecutor(context=context)


def spin_until_stopped(node: Node, stop: StopSignals, events_executor: bool = False) -> None:
    """Spin ``node`` on its own executor until ``stop`` is requested or its context shuts down.

    ``events_executor``: use rclpy's EventsExecutor where it exists. It dispatches ready entities
    without rebuilding a wait set over all of them on every wait, which is most of the standard
    executor's cost per callback at high rates. It takes no guard conditions, so the spin returns
    every :data:`STOP_POLL_S` to look for a stop signal instead of being woken by one.
    """
    executor = _events_executor(node.context) if events_executor else None
    wake = waker = None
    if executor is None:
        executor = SingleThreadedExecutor(context=node.context)
        wake = node.create_guard_condition(lambda: None)  # its callback makes spin_once return
        waker = _SignalWaker(wake.trigger)
    timeout_s = None if waker is not None else STOP_POLL_S
    executor.add_node(node)
    try:
        while not stop.requested and node.context.ok():
            executor.spin_once(timeout_sec=timeout_s)
    except ExternalShutdownException:
        pass
    finally:
        if waker is not None:
            waker.close()
        executor.shutdown()
        if wake is not None:
            node.destroy_guard_condition(wake)


def run_node(
    make_node: Callable[..., N], args: list[str] | None = None, events_executor: bool = False
) -> None:
    """Init rclpy, build ``make_node(context=...)``, spin it until SIGINT/SIGTERM, tear down in order.

    ``events_executor``: spin on rclpy's EventsExecutor where it exists (see
    :func:`spin_until_stopped`); the sim node does, to keep up with the raw simulator.

    A :data:`BAD_START` error from the constructor (bad parameters or files) is printed as one line
    naming the executable and exits with code 2, starting nothing. Tearing down calls
    ``destroy_node`` even on a node whose constructor failed (the context destroys the nodes it
    tracks), so overrides release only what was built.
    """
    stop = StopSignals()
    with stop.installed():
        context = Context()
        rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
        node = None
        try:
            try:
                node = make_node(context=context)
            except BAD_START as exc:
                print(f"{Path(sys.argv[0]).stem}: {exc}", file=sys.stderr)
                raise SystemExit(2) from exc
            spin_until_stopped(node, stop, events_executor)
            if stop.requested:
                node.get_logger().info(f"{stop.name}: shutting down")
        finally:
            if node is not None:
                node.destroy_node()
            context.try_shutdown()
            context.destroy()
