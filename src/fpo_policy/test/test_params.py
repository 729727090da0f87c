"""Config dataclasses describe themselves: each field of the node's configs has a docstring and a range."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from fpo_policy.core.control import ControlConfig, NodeConfig
from fpo_policy.core.params import bounded, check_ranges, field_docs, value_range
from fpo_policy.core.safety import SafetyConfig


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


@dataclass(frozen=True)
class _Example:
    rate_hz: float = bounded(1.0, 0.5, 2.0)
    """Some rate."""
    count: int = bounded(3, 0, 10)
    """Some count."""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rate_hz": 0.1}, r"_Example.rate_hz must be in \[0.5, 2.0\], got 0.1"),
        ({"rate_hz": float("nan")}, "_Example.rate_hz must be in"),
        ({"rate_hz": True}, "_Example.rate_hz must be a number"),
        ({"count": 2.5}, "_Example.count must be an integer"),
        ({"count": 11}, r"_Example.count must be in \[0, 10\]"),
    ],
)
def test_check_ranges_names_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        check_ranges(_Example(**values))


def test_field_docs_reads_the_docstrings_under_fields():
    assert field_docs(_Example) == {"rate_hz": "Some rate.", "count": "Some count."}


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
