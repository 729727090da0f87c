"""`fpo-bringup`: run a bringup of :mod:`fpo_policy.bringup` as plain processes, without `launch`.

For machines without a ROS 2 distro (no ``ros2 launch``): starts the same nodes, with the same
parameter files, namespaces and remappings as the launch files, watches the run over ROS, and
prints what happened. ``make run`` is ``fpo-bringup sim --episodes 10``.

    fpo-bringup sim --episodes 10                 # sim node + policy node, shipped reach checkpoint
    fpo-bringup real --fake-hardware --seconds 20 # driver on the bus emulator + policy node

While it runs it counts episodes and successes from ``task/state``, measures the ``joint_states``
and command rates, keeps the policy node's last ``policy_status``, and saves a strip of camera
frames (when a camera is published) to the run folder: eight frames spread over the first episode
that succeeded (for the pick task, the cube is seen lifted), else over the latest that ended.

Ctrl-C or SIGTERM ends the run early, like its end: each node gets SIGINT (and is killed if it
has not stopped after 10 s), the summary is written and printed with every node's exit code, and
the exit code is 0 when all of them stopped cleanly (0) and none had exited by itself before.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from fpo_policy.bringup import BRINGUPS, BringupArgs, NodeSpec
from so100_common.node_main import StopSignals


@dataclass
class RunStats:
    """What the watcher saw. Times in seconds."""

    episodes: int = 0
    successes: int = 0
    joint_state_stamps: list[float] = field(default_factory=list)
    command_stamps: list[float] = field(default_factory=list)
    episode_success: bool = False
    last_status: object | None = None
    last_trainer_status: object | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    """Camera frames of the strip's episode: the first that succeeded, else the latest that ended."""
    strip_episode: int | None = None
    strip_success: bool = False
    episode_frames: list[np.ndarray] = field(default_factory=list)
    max_episode_frames: int = 1000

    def on_task_state(self, success: bool, ended: bool) -> None:
        """One ``task/state``: the episode's success so far, and whether the episode ended with it."""
        self.episode_success |= success
        if not ended:
            return
        self.episodes += 1
        self.successes += int(self.episode_success)
        if not self.strip_success and self.episode_frames:
            self.frames, self.strip_episode = self.episode_frames, self.episodes
            self.strip_success = self.episode_success
        self.episode_frames = []
        self.episode_success = False

    @property
    def wants_frames(self) -> bool:
        """Whether a frame can still reach the strip (no successful episode chosen yet)."""
        return not self.strip_success

    def on_frame(self, image: np.ndarray) -> None:
        if self.wants_frames and len(self.episode_frames) < self.max_episode_frames:
            self.episode_frames.append(image)

    def strip_frames(self) -> list[np.ndarray]:
        """The strip's frames; the unfinished episode's when none ended with frames."""
        return self.frames or self.episode_frames

    def rate_hz(self, stamps: list[float]) -> float:
        return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else 0.0

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": self.successes / self.episodes if self.episodes else None,
            "joint_states_hz": round(self.rate_hz(self.joint_state_stamps), 2),
            "commands_hz": round(self.rate_hz(self.command_stamps), 2),
        }
        if self.strip_episode is not None:
            out["image_strip_episode"] = {"episode": self.strip_episode, "success": self.strip_success}
        if len(self.command_stamps) > 2:
            periods = np.diff(self.command_stamps)
            out["command_period_p50_ms"] = round(1000 * float(np.percentile(periods, 50)), 2)
            out["command_period_p99_ms"] = round(1000 * float(np.percentile(periods, 99)), 2)
        s = self.last_status
        if s is not None:
            out["policy"] = {
                "policy_id": s.policy_id,
                "version": s.policy_version,
                "sha256": s.checkpoint_sha256[:12],
                "safety_state": s.safety_state_text,
                "tick_period_mean_ms": round(1000 * s.tick_period_mean_s, 3),
                "tick_period_p99_ms": round(1000 * s.tick_period_p99_s, 3),
                "inference_time_mean_ms": round(1000 * s.inference_time_mean_s, 3),
                "inference_time_p99_ms": round(1000 * s.inference_time_p99_s, 3),
                "ticks": s.ticks,
                "overruns": s.overruns,
                "commands_sent": s.commands_sent,
                "clamped_position": s.clamped_position,
                "clamped_step": s.clamped_step,
            }
        t = self.last_trainer_status
        if t is not None:
            out["trainer"] = {
                "policy_id": t.policy_id,
                "version": t.policy_version,
                "global_step": t.global_step,
                "episodes": t.episodes,
                "episodic_return": round(t.episodic_return, 3),
                "success_rate": round(t.success_rate, 3),
                "chunks_accepted": t.chunks_accepted,
                "chunks_stale": t.chunks_stale,
                "chunks_rejected": t.chunks_rejected,
                "steps_per_s": round(t.steps_per_s, 1),
                "checkpoint": t.checkpoint_path,
            }
        return out


def start_processes(specs: list[NodeSpec], namespace: str, log_dir: Path) -> list[subprocess.Popen]:
    """Start each node as a process with its launch-equivalent ``--ros-args``; logs to ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for spec in specs:
        label = spec.full_namespace(namespace).strip("/").replace("/", "_")
        cmd = [str(spec.executable_path()), *spec.ros_args(namespace)]
        # The child keeps its own copy of the file descriptor; ours can close.
        with open(log_dir / f"{label}_{spec.name}.log".lstrip("_"), "w") as log:
            log.write(" ".join(cmd) + "\n")
            log.flush()
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    return procs


def stop_processes(procs: list[subprocess.Popen], timeout_s: float = 10.0) -> list[int]:
    """SIGINT each process (nodes shut down cleanly), then kill what is left after ``timeout_s``.

    Returns the exit codes (0: stopped cleanly; negative: killed by that signal).
    """
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in procs]


def watch(
    namespace: str,
    stats: RunStats,
    episodes: int,
    seconds: float,
    procs: list[subprocess.Popen],
    stop: StopSignals,
) -> str:
    """Spin a watcher node until ``episodes`` episodes ended, ``seconds`` passed, a node exited or
    ``stop`` was requested (SIGINT, SIGTERM); return why it stopped."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory

    from fpo_msgs.msg import PolicyStatus, TaskState, TrainerStatus
    from so100_common import topics
    from so100_common.core.images import to_array

    # rclpy's own signal handlers would shut the context down under the watcher (see node_main).
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("fpo_bringup_watcher", namespace=namespace)
    now = time.monotonic

    def on_task(msg: TaskState) -> None:
        stats.on_task_state(msg.success, msg.terminated or msg.truncated)

    def on_image(msg: Image) -> None:
        if stats.wants_frames:  # once the strip's episode is chosen, frames are not even converted
            stats.on_frame(to_array(msg, "rgb8", copy=True))

    node.create_subscription(TaskState, topics.TASK_STATE, on_task, topics.QOS_STATE)
    node.create_subscription(
        JointState, topics.JOINT_STATES, lambda m: stats.joint_state_stamps.append(now()), topics.QOS_STATE
    )
    node.create_subscription(
        JointTrajectory,
        topics.JOINT_TRAJECTORY,
        lambda m: stats.command_stamps.append(now()),
        topics.QOS_COMMAND,
    )
    node.create_subscription(
        PolicyStatus, topics.POLICY_STATUS, lambda m: setattr(stats, "last_status", m), topics.QOS_STATUS
    )
    node.create_subscription(Image, topics.CAMERA_IMAGE, on_image, topics.QOS_IMAGE)
    # The trainer of the train bringup sits in the bringup's namespace (its sims in sim<i> below it).
    node.create_subscription(
        TrainerStatus,
        topics.TRAINER_STATUS,
        lambda m: setattr(stats, "last_trainer_status", m),
        topics.QOS_STATUS,
    )
    deadline = now() + seconds
    reason = "time limit"
    try:
        while True:
            rclpy.spin_once(node, timeout_sec=0.05)
            if stop.requested:
                reason = f"stopped by {stop.name}"
                break
            if episodes and stats.episodes >= episodes:
                reason = f"{episodes} episodes done"
                break
            if now() > deadline:
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                reason = f"a node exited with code {dead[0].returncode}: {dead[0].args[0]}"
                break
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return reason


def save_strip(frames: list[np.ndarray], path: Path, count: int = 8) -> Path | None:
    """Save ``count`` evenly spaced frames side by side as a PNG."""
    if not frames:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, min(count, len(frames))).astype(int)]
    height = min(f.shape[0] for f in picks)
    strip = np.concatenate([f[:height] for f in picks], axis=1)
    plt.imsave(path, strip)
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fpo-bringup", description=__doc__.split("\n\n")[0])
    p.add_argument("bringup", choices=sorted(BRINGUPS))
    p.add_argument(
        "--episodes", type=int, default=0, help="stop after this many episodes (sim); 0: run for --seconds"
    )
    p.add_argument("--seconds", type=float, default=300.0, help="stop after this long at the latest")
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for the run's logs and image strip")
    defaults = BringupArgs()
    for f in fields(BringupArgs):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        help_text = BringupArgs.description(f.name)
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=help_text)
        else:
            p.add_argument(flag, type=type(value), default=value, help=help_text)
    return p


def main(argv: list[str] | None = None) -> int:
    opts = _parser().parse_args(argv)
    try:
        args = BringupArgs(**{f.name: getattr(opts, f.name) for f in fields(BringupArgs)})
        specs = BRINGUPS[opts.bringup](args)
    except (ValueError, OSError) as err:  # a bad argument, a missing or refused checkpoint
        print(f"[fpo-bringup] {err}", file=sys.stderr)
        return 2
    run_dir = opts.out / f"{opts.bringup}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"[fpo-bringup] starting {', '.join(s.executable for s in specs)}; logs in {run_dir}", flush=True)
    stats = RunStats()
    # Ctrl-C or SIGTERM ends the watch; the nodes are then stopped as at the end of any run.
    with StopSignals().installed() as stop:
        procs = start_processes(specs, args.namespace, run_dir)
        try:
            reason = watch(args.namespace, stats, opts.episodes, opts.seconds, procs, stop)
        finally:
            codes = stop_processes(procs)
    exit_codes = {f"{s.full_namespace(args.namespace)}/{s.name}".lstrip("/"): c for s, c in zip(specs, codes)}
    summary = {"bringup": opts.bringup, "stopped": reason, "exit_codes": exit_codes, **stats.summary()}
    strip = save_strip(stats.strip_frames(), run_dir / "strip.png")
    if strip:
        summary["image_strip"] = str(strip)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if stats.episodes:
        print(f"[fpo-bringup] {stats.successes}/{stats.episodes} episodes succeeded; run folder {run_dir}")
    unclean = {name: code for name, code in exit_codes.items() if code != 0}
    if unclean:
        print(f"[fpo-bringup] nodes that did not stop cleanly: {unclean}; see their logs in {run_dir}")
    return 1 if unclean or reason.startswith("a node exited") else 0


if __name__ == "__main__":
    sys.exit(main())
