"""What each bringup starts, declared once for the launch files and for `make run`.

The ROS 2 launch files in ``launch/`` (for users with a distro) and the process runner behind
``make run`` (for machines without ``launch``) both build their node lists from the functions here,
so there is no second, hand-kept copy of the launch configuration. Every node reads its parameters
from a YAML file in its package's ``config/`` folder; launch arguments override single values.

Imports neither ``launch`` nor ``rclpy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from so100_common.core.config_fields import field_docs


@dataclass(frozen=True)
class ConfigFile:
    """A file installed in a package's share directory."""

    package: str
    relative_path: str

    def resolve(self) -> Path:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(self.package)) / self.relative_path


@dataclass(frozen=True)
class NodeSpec:
    """One node of a bringup: what to run and how to configure it."""

    package: str
    executable: str
    name: str
    params_files: tuple[ConfigFile, ...] = ()
    parameters: dict[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    namespace: str = ""
    """Relative to the bringup's namespace argument."""

    def executable_path(self) -> Path:
        """The installed executable (``install/<pkg>/lib/<pkg>/<exe>``)."""
        from ament_index_python.packages import get_package_prefix

        return Path(get_package_prefix(self.package)) / "lib" / self.package / self.executable

    def full_namespace(self, namespace: str = "") -> str:
        """The node's namespace under the bringup's ``namespace`` argument ("" for the root)."""
        parts = [p.strip("/") for p in (namespace, self.namespace) if p.strip("/")]
        return "/" + "/".join(parts) if parts else ""

    def ros_args(self, namespace: str = "") -> list[str]:
        """The ``--ros-args`` a plain process needs to match what the launch file does."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.full_namespace(namespace):
            args += ["-r", f"__ns:={self.full_namespace(namespace)}"]
        for f in self.params_files:
            args += ["--params-file", str(f.resolve())]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={_param_literal(value)}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args


def _param_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class BringupArgs:
    """Launch arguments shared by the bringups. Each field is a launch argument of the same name
    (and an ``fpo-bringup`` option); the docstring under it is its description in both."""

    checkpoint: str = ""
    """Policy checkpoint (.safetensors). Empty: the checkpoint fpo_policy ships for ``task``. The sim
    runs the checkpoint's own task."""
    task: str = "reach"
    """The shipped policy to run when no checkpoint is given: reach or pick."""
    control_rate_hz: float = 0.0
    """Policy (and sim) control rate in Hz. 0: the rate the checkpoint's task was trained at."""
    namespace: str = ""
    """ROS namespace for every node of the bringup."""
    rviz: bool = False
    """Start RViz with the stack's configuration (needs rviz2)."""
    robot_state_publisher: bool = True
    """Start robot_state_publisher with the SO-100 URDF (needs a ROS distro)."""
    serial_port: str = "/dev/ttyACM0"
    """Real arm only: serial port of the Feetech servo bus."""
    calibration_file: str = ""
    """Real arm only: LeRobot calibration JSON of the arm. Empty: the driver's own setting (uncalibrated
    unless its YAML names a file)."""
    fake_hardware: bool = False
    """Real arm only: drive the built-in STS3215 bus emulator instead of a serial port."""
    num_sims: int = 1
    """Training only: how many sim nodes produce rollouts."""
    camera: bool = False
    """Simulation only: render the sim camera and publish camera/image_raw (slower)."""
    use_sim_time: bool = False
    """Simulation only: the sim node publishes simulated time on /clock (``publish_clock``) and steps
    as fast as the policy answers; every other node runs on it (``use_sim_time``)."""

    def __post_init__(self) -> None:
        if self.task not in SHIPPED_CHECKPOINTS:
            raise ValueError(
                f"launch argument task: expected one of {sorted(SHIPPED_CHECKPOINTS)}, got {self.task!r}"
            )

    @classmethod
    def from_strings(cls, values: dict[str, str]) -> BringupArgs:
        """Parse launch-argument strings by each field's type; raise ValueError naming a bad one."""
        defaults = cls()
        parsed: dict[str, object] = {}
        for name, text in values.items():
            kind = type(getattr(defaults, name))
            text = text.strip()
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"launch argument {name}: expected true or false, got {text!r}")
                parsed[name] = text.lower() in ("true", "1")
            else:
                try:
                    parsed[name] = kind(text)
                except ValueError as err:
                    raise ValueError(
                        f"launch argument {name}: expected {kind.__name__}, got {text!r}"
                    ) from err
        return replace(defaults, **parsed)

    @staticmethod
    def description(name: str) -> str:
        """The description of launch argument ``name``: the docstring under its field."""
        return field_docs(BringupArgs)[name]

    @staticmethod
    def default_string(name: str) -> str:
        """The default of field ``name`` as a launch-argument string."""
        value = getattr(BringupArgs(), name)
        return _param_literal(value)


SIM_CONFIG = ConfigFile("fpo_sim", "config/sim_node.yaml")
POLICY_CONFIG = ConfigFile("fpo_policy", "config/policy_node.yaml")
DRIVER_CONFIG = ConfigFile("so100_driver", "config/so100_driver.yaml")
TRAINER_CONFIG = ConfigFile("fpo_policy", "config/trainer_node.yaml")
URDF = ConfigFile("so100_common", "description/urdf/so100.urdf")
RVIZ_CONFIG = ConfigFile("fpo_policy", "config/so100.rviz")
SHIPPED_CHECKPOINTS = {
    "reach": ConfigFile("fpo_policy", "checkpoints/so100_reach_fpo.safetensors"),
    "pick": ConfigFile("fpo_policy", "checkpoints/so100_pick_fpo.safetensors"),
}


def checkpoint_of(args: BringupArgs) -> str:
    """The checkpoint the policy node loads: ``checkpoint``, or the one shipped for ``task``."""
    if args.checkpoint:
        return args.checkpoint
    path = SHIPPED_CHECKPOINTS[args.task].resolve()
    if not path.exists():
        raise FileNotFoundError(f"no {args.task} checkpoint is shipped at {path}; pass checkpoint:=<file>")
    return str(path)


def task_env_id(checkpoint: str) -> str:
    """The task id a checkpoint was trained on (its task spec), for the sim to run."""
    from fpo_policy.core.policy import read_policy_checkpoint

    return read_policy_checkpoint(checkpoint).metadata.task_spec(checkpoint).env_id


def _policy_node(args: BringupArgs, name: str = "policy_node", **extra: object) -> NodeSpec:
    parameters: dict[str, object] = {"checkpoint": checkpoint_of(args)}
    if args.control_rate_hz > 0:
        parameters["control_rate_hz"] = args.control_rate_hz
    parameters.update(extra)
    return NodeSpec("fpo_policy", "policy_node", name, (POLICY_CONFIG,), parameters)


def _sim_node(args: BringupArgs, name: str = "sim_node", **extra: object) -> NodeSpec:
    parameters: dict[str, object] = dict(extra)
    if args.control_rate_hz > 0:
        parameters["control_rate_hz"] = args.control_rate_hz
    return NodeSpec("fpo_sim", "sim_node", name, (SIM_CONFIG,), parameters)


def sim_loop(args: BringupArgs) -> list[NodeSpec]:
    """The simulated arm driven by the policy: sim node + policy node (on the sim's /clock with
    ``use_sim_time``: the sim keeps its own time, the policy node runs on it)."""
    sim_params: dict[str, object] = {"env_id": task_env_id(checkpoint_of(args))}
    if args.camera:
        sim_params["obs_mode"] = "rgb"
    policy_params: dict[str, object] = {}
    if args.use_sim_time:
        sim_params["publish_clock"] = True
        policy_params["use_sim_time"] = True
    return [_sim_node(args, **sim_params), _policy_node(args, **policy_params)]


def real_loop(args: BringupArgs) -> list[NodeSpec]:
    """The real arm (or its emulator) driven by the policy: driver node + policy node."""
    parameters: dict[str, object] = {"fake_hardware": args.fake_hardware, "port": args.serial_port}
    if args.calibration_file:
        parameters["calibration_file"] = args.calibration_file
    driver = NodeSpec("so100_driver", "driver_node", "so100_driver", (DRIVER_CONFIG,), parameters)
    return [driver, _policy_node(args)]


ACTING_RATE_HZ = 500.0
"""Timer rate of an acting policy node in training. It acts once per new joint state, so this only
bounds how soon it answers the lockstep sim (a tick without a new state does nothing)."""


def train_loop(args: BringupArgs) -> list[NodeSpec]:
    """Training over ROS: ``num_sims`` sim nodes, each with its acting policy node in namespace
    ``sim<i>``, and one trainer. Rollouts and policy updates are remapped to absolute names so the
    single trainer hears every sim and every acting policy hears the trainer.

    Each sim runs in lockstep (``publish_rollouts``) with its policy node, which samples from the
    flow (``deterministic:=false``) and reports each sample (``publish_actions``). The policy nodes
    load no checkpoint of their own: they run what the trainer announces, starting with the
    trainer's start policy (``checkpoint``, or a fresh one)."""
    shared = (("rollouts", "/rollouts"), ("policy_update", "/policy_update"))
    nodes: list[NodeSpec] = []
    acting = {"deterministic": False, "publish_actions": True, "control_rate_hz": ACTING_RATE_HZ}
    for i in range(args.num_sims):
        sim = _sim_node(args, publish_rollouts=True)
        policy = NodeSpec("fpo_policy", "policy_node", "policy_node", (POLICY_CONFIG,), acting)
        for spec in (sim, policy):
            nodes.append(replace(spec, namespace=f"sim{i}", remappings=spec.remappings + shared))
    start: dict[str, object] = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    nodes.append(NodeSpec("fpo_policy", "trainer_node", "trainer_node", (TRAINER_CONFIG,), start))
    return nodes


BRINGUPS = {"sim": sim_loop, "real": real_loop, "train": train_loop}
