"""Config dataclasses describe themselves: each field of the node's configs has a docstring and a range."""

from __future__ import annotations

from dataclasses import fields

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
