"""ROS parameters declared from a core config dataclass, where defaults, descriptions and ranges live.

A field's metadata carries ``description`` and ``range`` (``(lo, hi)`` or ``(None, None)``), and
optionally ``choices``; the dataclass validates the values it is built with.
"""

from __future__ import annotations

from dataclasses import fields

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node


def declare_config(node: Node, cls: type):
    """Declare one read-only parameter per field of ``cls`` and build ``cls`` from their values."""
    values = {}
    for f in fields(cls):
        description = f.metadata["description"]
        if "choices" in f.metadata:
            description += f" (one of: {', '.join(str(c.value) for c in f.metadata['choices'])})"
        descriptor = ParameterDescriptor(description=description, read_only=True)
        lo, hi = f.metadata["range"]
        if lo is not None and isinstance(f.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)
            ]
        elif lo is not None:
            descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        values[f.name] = node.declare_parameter(f.name, f.default, descriptor).value
    return cls(**values)
