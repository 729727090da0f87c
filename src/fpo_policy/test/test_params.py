"""Config dataclasses describe themselves: each field of the node's configs has a docstring and a range."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from fpo_policy.core.control_loop import ControlConfig, NodeConfig
from fpo_policy.core.safety import SafetyConfig
from so100_common.core.config_fields import field_docs, value_range


@pytest.mark.parametrize("cls", [SafetyConfig, ControlConfig, NodeConfig])
def test_every_field_has_a_description(cls):
    docs = field_docs(cls)
    assert set(docs) == {f.name for f in fields(cls)}
    assert all(len(d) > 10 for d in docs.values())


@pytest.mark.parametrize("cls", [SafetyConfig, ControlConfig, NodeConfig])
def test_defaults_lie_inside_their_ranges(cls):
    config = cls()
    for f in fields(cls):
        bounds = value_range(f)
        if bounds is not None:
            assert bounds[0] <= getattr(config, f.name) <= bounds[1], f.name


def test_the_yaml_sets_only_declared_parameters_within_their_ranges():
    """config/policy_node.yaml: every key is a parameter of the node, every value a valid config."""
    yaml = pytest.importorskip("yaml")
    path = Path(__file__).resolve().parents[1] / "config" / "policy_node.yaml"
    values = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    safety = values.pop("safety")
    assert set(safety) <= {f.name for f in fields(SafetyConfig)}
    SafetyConfig(**safety)
    node_fields = {f.name for f in fields(NodeConfig)}
    control_fields = {f.name for f in fields(ControlConfig)}
    assert set(values) <= node_fields | control_fields
    NodeConfig(**{k: v for k, v in values.items() if k in node_fields})
    ControlConfig(**{k: v for k, v in values.items() if k in control_fields})
