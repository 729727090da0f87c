"""ROS parameters declared from the core's config dataclasses (where defaults, docs and ranges live)."""

from __future__ import annotations

from dataclasses import fields

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from fpo_policy.core.params import field_docs, value_range


def declare_config(node: Node, cls: type, prefix: str = "", mutable: tuple[str, ...] = ()):
    """Declare one parameter per field of dataclass ``cls`` (named ``prefix + field``) and build it.

    Defaults, descriptions and ranges come from the dataclass (:mod:`fpo_policy.core.params`). Fields
    not in ``mutable`` are read-only after start. Raises ValueError (from the dataclass) on bad values.
    """
    docs = field_docs(cls)
    values = {}
    for f in fields(cls):
        descriptor = ParameterDescriptor(description=docs[f.name], read_only=f.name not in mutable)
        bounds = value_range(f)
        if bounds is not None and isinstance(f.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)
            ]
        elif bounds is not None:
            descriptor.integer_range = [
                IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)
            ]
        values[f.name] = node.declare_parameter(prefix + f.name, f.default, descriptor).value
    return cls(**values)
