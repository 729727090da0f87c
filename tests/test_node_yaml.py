"""Defaults live once, in the config dataclasses: the nodes' YAML files hold only what differs.

A YAML value equal to its dataclass default would silently override a later change of that
default at every launch, so each key of each node's YAML must be a parameter the node declares
(``prefix + field`` of one of its config classes), hold a valid value, and differ from the default.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from fpo_policy.core.config import FpoConfig, PpoConfig
from fpo_policy.core.control_loop import ControlConfig, NodeConfig
from fpo_policy.core.online_trainer import TrainerNodeConfig
from fpo_policy.core.safety import SafetyConfig
from fpo_sim.core.sim_loop import SimNodeConfig
from so100_common.core.config_fields import default_of
from so100_driver.core.driver import DriverConfig

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]

# Each YAML file, and the (parameter prefix, config class) pairs its node declares parameters from.
NODE_CONFIGS: dict[str, tuple[tuple[str, type], ...]] = {
    "src/fpo_sim/config/sim_node.yaml": (("", SimNodeConfig),),
    "src/fpo_policy/config/policy_node.yaml": (
        ("", NodeConfig),
        ("", ControlConfig),
        ("safety.", SafetyConfig),
    ),
    "src/fpo_policy/config/trainer_node.yaml": (
        ("", TrainerNodeConfig),
        ("fpo.", FpoConfig),
        ("ppo.", PpoConfig),
    ),
    "src/so100_driver/config/so100_driver.yaml": (("", DriverConfig),),
}


def flatten(values: dict, prefix: str = "") -> dict[str, object]:
    """Nested YAML keys as ROS parameter names: ``safety: {max_step_rad: x}`` is ``safety.max_step_rad``."""
    flat: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def problems(values: dict[str, object], configs: tuple[tuple[str, type], ...]) -> list[str]:
    """What is wrong with parameter ``values`` for a node declaring ``configs``: unknown names,
    values equal to their default, values the config class refuses."""
    found = []
    by_class: dict[tuple[str, type], dict[str, object]] = {}
    for name, value in values.items():
        owner = next(
            ((prefix, cls, f) for prefix, cls in configs for f in fields(cls) if name == prefix + f.name),
            None,
        )
        if owner is None:
            found.append(f"{name}: not a parameter of the node")
            continue
        prefix, cls, f = owner
        if value == default_of(f):
            found.append(f"{name}: {value!r} is the default of {cls.__name__}.{f.name}; leave it out")
        by_class.setdefault((prefix, cls), {})[f.name] = value
    for (_, cls), kwargs in by_class.items():
        try:
            cls(**kwargs)
        except (ValueError, TypeError) as err:
            found.append(f"{cls.__name__}: {err}")
    return found


@pytest.mark.parametrize("path", sorted(NODE_CONFIGS))
def test_the_yaml_holds_only_parameters_that_differ_from_their_defaults(path):
    document = yaml.safe_load((ROOT / path).read_text())
    assert set(document) == {"/**"}, "one section, for whatever name and namespace the node runs under"
    values = flatten(document["/**"]["ros__parameters"] or {})
    assert problems(values, NODE_CONFIGS[path]) == []


def test_every_node_yaml_is_checked():
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "src").glob("*/config/*.yaml")} == set(NODE_CONFIGS)


def test_the_check_finds_defaults_unknown_names_and_bad_values():
    """The check can fail: what the old YAML files held (defaults), a typo, a value out of range."""
    configs = NODE_CONFIGS["src/fpo_policy/config/policy_node.yaml"]
    defaults = {"status_rate_hz": 2.0, "safety.position_margin_rad": 0.05}
    assert len(problems(defaults, configs)) == 2
    assert problems({"safety.max_step": 0.2}, configs) == ["safety.max_step: not a parameter of the node"]
    assert "SafetyConfig.max_step_rad must be in" in " ".join(
        problems({"safety.max_step_rad": -1.0}, configs)
    )
    assert problems(flatten({"safety": {"max_step_rad": 0.05}, "publish_commands": True}), configs) == []
