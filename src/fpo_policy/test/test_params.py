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


def test_the_trainer_node_declares_the_algorithm_hyperparameters_from_its_config(tmp_path):
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    from fpo_policy.trainer_node import TrainerNode

    context = Context()
    rclpy.init(context=context)
    out = Parameter("out", value=str(tmp_path / "run"))
    try:
        node = TrainerNode(context=context, parameter_overrides=[out, Parameter("fpo.gamma", value=0.97)])
        [gamma] = node.describe_parameters(["fpo.gamma"])
        assert gamma.description == "Discount factor."
        assert gamma.read_only
        assert (gamma.floating_point_range[0].from_value, gamma.floating_point_range[0].to_value) == (
            0.0,
            1.0,
        )
        [form] = node.describe_parameters(["fpo.loss_form"])
        assert "(one of: velocity, eps)" in form.description
        assert node.trainer.learner.cfg.gamma == 0.97
        assert not node.has_parameter("fpo.actor_hidden")
        node.destroy_node()
        with pytest.raises(InvalidParameterValueException, match=r"fpo\.clip_eps"):
            TrainerNode(context=context, parameter_overrides=[out, Parameter("fpo.clip_eps", value=2.0)])
        with pytest.raises(ValueError, match=r"FpoConfig\.loss_form"):
            TrainerNode(context=context, parameter_overrides=[out, Parameter("fpo.loss_form", value="mse")])
    finally:
        context.try_shutdown()
