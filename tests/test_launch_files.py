"""Launch files: everything in them that does not need the `launch` package is tested here.

They compile, declare only known arguments with descriptions and parseable defaults, and build their
node lists from fpo_policy.bringup; every file they name is installed. Where `launch` is
importable (a ROS 2 distro), the launch description itself is built too.
"""

import ast
import importlib.util
import py_compile
from pathlib import Path

import pytest

from fpo_policy import bringup

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_REACH = str(ROOT / "src" / "fpo_policy" / "checkpoints" / "so100_reach_fpo.safetensors")
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _generate_call(path: Path) -> tuple[str, tuple[str, ...]]:
    """The (bringup, arg_names) literal arguments of the file's generate(...) call."""
    tree = ast.parse(path.read_text())
    call = next(
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "generate"
    )
    return ast.literal_eval(call.args[0]), ast.literal_eval(call.args[1])


def test_the_three_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} == {"sim.launch.py", "real.launch.py", "train.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_declares_known_arguments(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)
    assert "def generate_launch_description" in path.read_text()
    name, arg_names = _generate_call(path)
    assert name in bringup.BRINGUPS
    assert arg_names
    for arg in arg_names:
        assert len(bringup.BringupArgs.description(arg)) > 10
        default = bringup.BringupArgs.default_string(arg)
        assert bringup.BringupArgs.from_strings({arg: default}) == bringup.BringupArgs()


def test_every_bringup_argument_is_described_once_for_launch_and_fpo_bringup():
    from fpo_policy.bringup_runner import _parser

    helps = {a.dest: a.help for a in _parser()._actions}
    for name in bringup.BringupArgs.__dataclass_fields__:
        assert len(bringup.BringupArgs.description(name)) > 10, name
        assert helps[name] == bringup.BringupArgs.description(name)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rviz": "maybe"}, "rviz: expected true or false"),
        ({"control_rate_hz": "fast"}, "control_rate_hz: expected float"),
        ({"num_sims": "2.5"}, "num_sims: expected int"),
    ],
)
def test_bad_launch_argument_is_refused_by_name(values, message):
    with pytest.raises(ValueError, match=message):
        bringup.BringupArgs.from_strings(values)


def test_argument_strings_parse_by_type():
    args = bringup.BringupArgs.from_strings(
        {"rviz": "true", "fake_hardware": "1", "control_rate_hz": "50", "num_sims": "3", "namespace": "arm"}
    )
    assert args.rviz is True
    assert args.fake_hardware is True
    assert args.control_rate_hz == 50.0
    assert args.num_sims == 3
    assert args.namespace == "arm"


def test_train_bringup_namespaces_pairs_and_shares_rollouts():
    nodes = bringup.train_loop(bringup.BringupArgs(num_sims=2, checkpoint=SHIPPED_REACH))
    assert [(n.executable, n.full_namespace("fleet")) for n in nodes] == [
        ("sim_node", "/fleet/sim0"),
        ("policy_node", "/fleet/sim0"),
        ("sim_node", "/fleet/sim1"),
        ("policy_node", "/fleet/sim1"),
        ("trainer_node", "/fleet"),
    ]
    for node in nodes[:4]:
        assert ("rollouts", "/rollouts") in node.remappings
        assert ("policy_update", "/policy_update") in node.remappings
    args = nodes[0].ros_args("fleet")
    assert args[:5] == ["--ros-args", "-r", "__node:=sim_node", "-r", "__ns:=/fleet/sim0"]
    assert "publish_rollouts:=true" in args


def test_sim_bringup_on_simulated_time_clocks_the_sim_and_runs_the_policy_on_it():
    from fpo_sim.core.sim_loop import SimNodeConfig

    sim, policy = bringup.sim_loop(bringup.BringupArgs(use_sim_time=True, checkpoint=SHIPPED_REACH))
    assert SimNodeConfig(**sim.parameters).publish_clock
    assert "use_sim_time" not in sim.parameters  # the sim keeps its own time: its timers stay on wall time
    assert policy.parameters["use_sim_time"] is True
    sim, policy = bringup.sim_loop(bringup.BringupArgs(checkpoint=SHIPPED_REACH))
    assert "publish_clock" not in sim.parameters
    assert "use_sim_time" not in policy.parameters
    assert bringup.BringupArgs.from_strings({"use_sim_time": "true"}).use_sim_time


def test_the_sim_runs_the_task_of_the_checkpoint_and_task_picks_a_shipped_one(tmp_path):
    from policy_checkpoints import write_policy

    from so100_common.core import tasks

    two_goals = write_policy(tmp_path / "two.safetensors", task=tasks.REACH_TWO_GOALS)
    sim, policy = bringup.sim_loop(bringup.BringupArgs(checkpoint=str(two_goals)))
    assert sim.parameters["env_id"] == "SO100ReachTwoGoals-v1"
    assert policy.parameters["checkpoint"] == str(two_goals)
    sim, policy = bringup.sim_loop(bringup.BringupArgs(checkpoint=SHIPPED_REACH))
    assert sim.parameters["env_id"] == "SO100Reach-v1"
    assert bringup.BringupArgs.from_strings({"task": "pick"}).task == "pick"
    with pytest.raises(ValueError, match="launch argument task: expected one of"):
        bringup.BringupArgs.from_strings({"task": "dance"})


@pytest.mark.parametrize("config", [bringup.URDF, bringup.RVIZ_CONFIG], ids=lambda c: c.relative_path)
def test_description_files_are_installed(config):
    pytest.importorskip("ament_index_python")
    assert config.resolve().is_file()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_description_builds_where_launch_is_installed(path):
    if importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None:
        pytest.skip("the launch and launch_ros packages come with a ROS 2 distro; not installable here")
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate_launch_description().entities


def _node_config_classes(executable: str) -> list[tuple[str, type]]:
    """(parameter prefix, config dataclass) pairs each node declares its parameters from."""
    if executable == "sim_node":
        from fpo_sim.core.sim_loop import SimNodeConfig

        return [("", SimNodeConfig)]
    if executable == "driver_node":
        from so100_driver.core.driver import DriverConfig

        return [("", DriverConfig)]
    if executable == "policy_node":
        from fpo_policy.core.control_loop import ControlConfig, NodeConfig
        from fpo_policy.core.safety import SafetyConfig

        return [("", NodeConfig), ("", ControlConfig), ("safety.", SafetyConfig)]
    if executable == "trainer_node":
        from fpo_policy.core.config import FpoConfig, PpoConfig
        from fpo_policy.core.online_trainer import TrainerNodeConfig

        return [("", TrainerNodeConfig), ("fpo.", FpoConfig), ("ppo.", PpoConfig)]
    raise AssertionError(f"no parameter dataclasses known for {executable}")


def _flatten(params: dict, prefix: str = "") -> dict[str, object]:
    """Nested YAML parameter groups as ROS names them: ``safety: {a: 1}`` is ``safety.a``."""
    flat: dict[str, object] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


ALL_SPECS = {
    (spec.executable, spec.params_files[0].relative_path): spec
    for make in bringup.BRINGUPS.values()
    for spec in make(bringup.BringupArgs(checkpoint=SHIPPED_REACH))
}


@pytest.mark.parametrize("spec", list(ALL_SPECS.values()), ids=lambda s: s.executable)
def test_node_yaml_parses_into_the_nodes_parameter_dataclasses(spec):
    """Every key of a node's YAML is a parameter the node declares, with a valid value; the bringup's
    own overrides are too."""
    import dataclasses

    import yaml

    (config,) = spec.params_files
    source = ROOT / "src" / config.package / config.relative_path
    document = yaml.safe_load(source.read_text())
    assert list(document) == ["/**"], "one `/**` section, so namespaced and renamed nodes read it"
    flat = _flatten(document["/**"]["ros__parameters"]) | {k: v for k, v in spec.parameters.items()}
    for prefix, cls in _node_config_classes(spec.executable):
        names = {f.name for f in dataclasses.fields(cls)}
        picked = {
            k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix) and k[len(prefix) :] in names
        }
        cls(**picked)  # the dataclass validates types and ranges
        for key in picked:
            flat.pop(prefix + key)
    assert not flat, f"{source.name}: parameters no node dataclass declares: {sorted(flat)}"


@pytest.mark.parametrize("spec", list(ALL_SPECS.values()), ids=lambda s: s.executable)
def test_every_executable_and_params_file_is_installed(spec):
    pytest.importorskip("ament_index_python")
    assert spec.executable_path().is_file()
    for config in spec.params_files:
        assert config.resolve().is_file()


def test_fpo_bringup_refuses_a_missing_or_corrupt_checkpoint_in_one_line(tmp_path, capsys, monkeypatch):
    from policy_checkpoints import corrupt, write_policy

    from fpo_policy import bringup_runner

    monkeypatch.setitem(
        bringup.SHIPPED_CHECKPOINTS, "pick", bringup.ConfigFile("fpo_policy", "checkpoints/none.safetensors")
    )
    assert bringup_runner.main(["sim", "--task", "pick", "--out", str(tmp_path)]) == 2
    assert "no pick checkpoint is shipped at" in capsys.readouterr().err
    bad = corrupt(write_policy(tmp_path / "bad.safetensors"))
    assert bringup_runner.main(["sim", "--checkpoint", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: corrupt" in err
    assert err.count("\n") == 1
    assert not list(tmp_path.glob("sim-*"))  # nothing was started
