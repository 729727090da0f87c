"""ROS parameters declared from a core config dataclass, for every node of the stack.

Defaults, descriptions, ranges and choices live in the dataclass
(:mod:`so100_common.core.config_fields`); this turns them into parameter descriptors, so
``ros2 param describe`` shows the same facts, and builds the dataclass from the values the node
was started with (the dataclass then rejects bad ones by name).
"""

from __future__ import annotations

from dataclasses import fields

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from so100_common.core.config_fields import default_of, describe, value_range


def declare_config(
    node: Node,
    cls: type,
    prefix: str = "",
    mutable: tuple[str, ...] = (),
    names: tuple[str, ...] | None = None,
):
    """Declare one parameter per field of ``cls`` (named ``prefix + field``) and build ``cls``.

    Fields not in ``mutable`` are read-only once the node runs. ``names``: declare only these
    fields (the others keep their defaults); None: all.
    """
    values = {}
    for f in fields(cls):
        if names is not None and f.name not in names:
            continue
        default = default_of(f)
        descriptor = ParameterDescriptor(description=describe(cls, f), read_only=f.name not in mutable)
        bounds = value_range(f)
        if bounds is not None and None not in bounds:
            lo, hi = bounds
            if isinstance(default, float):
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(lo), to_value=float(hi))
                ]
            elif isinstance(default, int) and not isinstance(default, bool):
                descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        values[f.name] = node.declare_parameter(prefix + f.name, default, descriptor).value
    return cls(**values)
