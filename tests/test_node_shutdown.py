"""Every node executable stops cleanly on SIGINT and SIGTERM, whenever the signal comes.

Each case starts several copies of one executable at once (each in its own namespace), signals
some while their node is still starting (as soon as it shows in the ROS graph) and the others at
a random moment after their first message, and asserts for every copy: exit code 0 within a
deadline, the shutdown line naming the signal, and nothing in its output (stdout and stderr)
that speaks of a failure (a traceback, an RCLError, a C++ abort, a failed rosout publish). The
races this guards against show up only sometimes, hence the copies and the random moments.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ros_testing import ROOT, python_env, ros_node, spin_until

pytestmark = pytest.mark.ros

CHECKPOINT = ROOT / "src" / "fpo_policy" / "checkpoints" / "so100_reach_fpo.safetensors"
CALIBRATION = ROOT / "src" / "so100_driver" / "test" / "data" / "lerobot_so100_follower.json"

FAILURE_MARKERS = (
    "Traceback",
    "terminate called",
    "RCLError",
    "Failed to",
    "Exception ignored",
    "core dumped",
    "Segmentation fault",
)
"""Text that must never be in a node's output after a signal."""

RUNNING_EXIT_S = 10.0
"""Deadline from the signal to the exit of a node that was up and spinning (s; generous for a
loaded 2-core machine: a clean stop takes well under a second here)."""
STARTING_EXIT_S = 45.0
"""The same for a node signalled while its constructor runs: it stops once that returns."""

# (moment, signal) of each copy started per executable.
COPIES = (
    ("starting", signal.SIGTERM),
    ("running", signal.SIGTERM),
    ("running", signal.SIGINT),
)


@dataclass(frozen=True)
class Executable:
    module: str
    node_name: str
    topic: str
    """Relative topic whose first message shows the node is up and working."""
    msg_type: str
    params: tuple[str, ...] = ()
    remaps: tuple[str, ...] = ()
    closing_line: str = ""
    """A further line the node must log when it stops (empty: none)."""

    def args(self, namespace: str, tmp_path: Path) -> list[str]:
        args = ["-m", self.module, "--ros-args", "-r", f"__ns:=/{namespace}"]
        for p in self.params:
            args += ["-p", p.format(tmp=tmp_path / namespace)]
        for r in self.remaps:
            args += ["-r", r]
        return args

    def message_class(self):
        package, _, name = self.msg_type.rpartition(".")
        return getattr(__import__(package, fromlist=[name]), name)


EXECUTABLES = {
    "sim_node": Executable("fpo_sim.sim_node", "sim_node", "joint_states", "sensor_msgs.msg.JointState"),
    # Acting (joint states and a goal from this test), so ticks publish commands when the signal comes.
    "policy_node": Executable(
        "fpo_policy.policy_node",
        "policy_node",
        "joint_trajectory",
        "trajectory_msgs.msg.JointTrajectory",
        params=(f"checkpoint:={CHECKPOINT}", "control_rate_hz:=100.0", "status_rate_hz:=20.0"),
        remaps=("joint_states:=/joint_states", "task/state:=/task/state"),
    ),
    "trainer_node": Executable(
        "fpo_policy.trainer_node",
        "trainer_node",
        "trainer_status",
        "fpo_msgs.msg.TrainerStatus",
        params=("out:={tmp}",),
    ),
    "driver_node": Executable(
        "so100_driver.driver_node",
        "so100_driver",
        "joint_states",
        "sensor_msgs.msg.JointState",
        params=("fake_hardware:=true", f"calibration_file:={CALIBRATION}"),
        closing_line="shutdown (hold): holding the present pose with torque on",
    ),
}


@dataclass
class Copy:
    namespace: str
    moment: str
    sig: signal.Signals
    proc: subprocess.Popen
    received: int = 0
    signal_at: float | None = None
    signalled_at: float | None = None
    exited_at: float | None = None


def _feed_the_policy(node) -> None:
    """Joint states at 100 Hz and a reach goal, on the absolute topics the policy copies read."""
    from policy_node_testing import Arm

    arm = Arm(node)
    arm.publish_goal()


def _in_graph(node, copy: Copy, node_name: str) -> bool:
    return (node_name, f"/{copy.namespace}") in node.get_node_names_and_namespaces()


def _python(args: list[str], **kwargs) -> subprocess.Popen:
    """``python args...`` with the workspace importable, stdout and stderr together in one pipe."""
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen([sys.executable, *args], env=python_env(), **out, **kwargs)


def _start(args: list[str], namespace: str, moment: str, sig: signal.Signals) -> Copy:
    return Copy(namespace, moment, sig, _python(args))


def _signal_and_wait(node, copies: list[Copy], when, timeout_s: float = 120.0) -> None:
    """Spin until each copy got its signal at the moment ``when(copy, now)`` names (asked until it
    names one) and exited; kill what is left."""

    def step() -> bool:
        now = time.monotonic()
        for c in copies:
            if c.signal_at is None:
                c.signal_at = now if c.proc.poll() is not None else when(c, now)
            if c.signalled_at is None and c.signal_at is not None and now >= c.signal_at:
                c.proc.send_signal(c.sig)
                c.signalled_at = now
            elif c.signalled_at is not None and c.exited_at is None and c.proc.poll() is not None:
                c.exited_at = now
        return all(c.exited_at is not None for c in copies)

    try:
        spin_until(node, step, timeout_s)
    finally:
        for c in copies:
            if c.proc.poll() is None:
                c.proc.kill()


def _failures(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(m in line for m in FAILURE_MARKERS)]


def _assert_stopped_cleanly(c: Copy, label: str, deadline_s: float) -> str:
    """Exit code 0 within ``deadline_s`` of the signal, the shutdown line, no failure output."""
    output, _ = c.proc.communicate(timeout=30)
    assert c.signalled_at is not None, f"{label} never came up:\n{output}"
    assert c.exited_at is not None, f"{label} did not exit:\n{output}"
    assert c.proc.returncode == 0, f"{label} exited with {c.proc.returncode}:\n{output}"
    took = c.exited_at - c.signalled_at
    assert took < deadline_s, f"{label} took {took:.1f} s to exit"
    assert not _failures(output), f"{label} output:\n{output}"
    assert f"{c.sig.name}: shutting down" in output, f"{label} output:\n{output}"
    return output


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXECUTABLES))
def test_signals_stop_the_node_cleanly(name, tmp_path):
    exe = EXECUTABLES[name]
    msg_class = exe.message_class()
    from so100_common import topics

    by_topic = {"joint_states": topics.QOS_STATE, "joint_trajectory": topics.QOS_COMMAND}
    qos = by_topic.get(exe.topic, topics.QOS_STATUS)
    with ros_node(f"{name}_shutdown_test") as node:
        if name == "policy_node":
            _feed_the_policy(node)
        copies: list[Copy] = []
        for i, (moment, sig) in enumerate(COPIES):
            namespace = f"{name}_{i}"
            (tmp_path / namespace).mkdir()
            copy = _start(exe.args(namespace, tmp_path), namespace, moment, sig)
            node.create_subscription(
                msg_class,
                f"/{namespace}/{exe.topic}",
                lambda msg, c=copy: setattr(c, "received", c.received + 1),
                qos,
            )
            copies.append(copy)

        def when(c: Copy, now: float) -> float | None:
            if c.moment == "starting":
                return now if _in_graph(node, c, exe.node_name) else None
            # Running: at some random moment of its timers' cycle.
            return now + random.uniform(0.0, 0.2) if c.received else None

        _signal_and_wait(node, copies, when)
    for c in copies:
        deadline = RUNNING_EXIT_S if c.moment == "running" else STARTING_EXIT_S
        output = _assert_stopped_cleanly(c, f"{name} /{c.namespace} ({c.moment}, {c.sig.name})", deadline)
        if exe.closing_line:
            assert exe.closing_line in output, output


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "ctrl-c"])
def test_fpo_bringup_stops_its_nodes_cleanly(how, tmp_path):
    """`fpo-bringup real --fake-hardware`, stopped by SIGTERM to it alone or by Ctrl-C (SIGINT to its
    whole process group, the nodes included, as a terminal sends it): the runner and every node
    exit 0 without failure output, the driver holds the arm, and the summary says why it stopped."""
    import json
    import os

    from sensor_msgs.msg import JointState

    from fpo_msgs.msg import PolicyStatus
    from so100_common import topics

    bringup = ["-m", "fpo_policy.bringup_runner", "real", "--fake-hardware", "--out", str(tmp_path)]
    runner = _python(bringup, start_new_session=True)
    try:
        with ros_node("bringup_shutdown_test") as node:
            states, statuses = [], []
            node.create_subscription(JointState, topics.JOINT_STATES, states.append, topics.QOS_STATE)
            node.create_subscription(PolicyStatus, topics.POLICY_STATUS, statuses.append, topics.QOS_STATUS)
            spin_until(node, lambda: (states and statuses) or runner.poll() is not None, 60.0)
            assert states, "no joint_states from the bringup"
            assert statuses, "no policy_status from the bringup"
            assert runner.poll() is None, "fpo-bringup ended by itself"
            spin_until(node, lambda: False, random.uniform(0.0, 0.3))
        sig = signal.SIGINT if how == "ctrl-c" else signal.SIGTERM
        signalled = time.monotonic()
        if how == "ctrl-c":
            os.killpg(runner.pid, sig)
        else:
            runner.send_signal(sig)
        output, _ = runner.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    assert runner.returncode == 0, output
    assert took < RUNNING_EXIT_S, f"fpo-bringup took {took:.1f} s to stop"
    assert not _failures(output), output
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stopped"] == f"stopped by {sig.name}"
    assert summary["exit_codes"] == {"so100_driver": 0, "policy_node": 0}
    for log in run_dir.glob("*.log"):  # the runner stops its nodes with SIGINT
        text = log.read_text()
        assert not _failures(text), text
        assert "SIGINT: shutting down" in text, text
    assert "shutdown (hold): holding the present pose" in (run_dir / "so100_driver.log").read_text()


@pytest.mark.slow
def test_policy_node_stops_cleanly_while_a_checkpoint_loads(tmp_path):
    """A signal while a checkpoint loads in the background (a train bringup announces a policy
    every few seconds): the node waits for the load, then exits 0. It used to abort now and
    then ("terminate called without an active exception": the loader thread was torn down
    inside torch at exit). Each copy is asked to reload over and over, so a load is always
    running when its signal comes."""
    from policy_checkpoints import write_policy
    from std_srvs.srv import Trigger

    checkpoint = write_policy(tmp_path / "wide.safetensors", hidden=(1024,) * 6)
    with ros_node("policy_reload_shutdown_test") as node:
        copies, calls = [], {}
        for i, sig in enumerate((signal.SIGTERM, signal.SIGINT, signal.SIGTERM)):
            namespace = f"reloading_{i}"
            args = ["-m", "fpo_policy.policy_node", "--ros-args", "-r", f"__ns:=/{namespace}"]
            copies.append(_start([*args, "-p", f"checkpoint:={checkpoint}"], namespace, "reloading", sig))
            calls[namespace] = (node.create_client(Trigger, f"/{namespace}/policy_node/reload"), [])

        def when(c: Copy, now: float) -> float | None:
            client, futures = calls[c.namespace]
            if client.service_is_ready() and (not futures or futures[-1].done()):
                futures.append(client.call_async(Trigger.Request()))
            # A few reloads in, at a random moment of one.
            return now + random.uniform(0.0, 0.3) if sum(f.done() for f in futures) >= 3 else None

        _signal_and_wait(node, copies, when)
    for c in copies:
        _assert_stopped_cleanly(
            c, f"policy_node /{c.namespace} ({c.sig.name} while reloading)", RUNNING_EXIT_S
        )
