"""Config dataclasses that describe themselves: field docstrings and value ranges, stated once.

A field's description is the docstring under it; its allowed range is ``bounded(default, lo, hi)``.
:func:`check_ranges` validates an instance against the ranges; the nodes turn the same facts into
ROS parameter descriptors, so defaults, descriptions and ranges live only in the dataclass.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import math
import textwrap
from dataclasses import Field, field, fields

RANGE = "range"


def bounded(default: float | int, lo: float | int, hi: float | int) -> Field:
    """A dataclass field with a default and an inclusive allowed range [lo, hi]."""
    return field(default=default, metadata={RANGE: (lo, hi)})


def value_range(f: Field) -> tuple[float, float] | None:
    """The inclusive range of a field made with :func:`bounded`, else None."""
    return f.metadata.get(RANGE)


def check_ranges(config) -> None:
    """Raise ValueError naming the class and field when a value is not finite or out of its range."""
    name = type(config).__name__
    for f in fields(config):
        bounds = value_range(f)
        if bounds is None:
            continue
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}.{f.name} must be a number, got {value!r}")
        if isinstance(bounds[0], int) and isinstance(bounds[1], int) and int(value) != value:
            raise ValueError(f"{name}.{f.name} must be an integer, got {value!r}")
        if not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
            raise ValueError(f"{name}.{f.name} must be in [{bounds[0]}, {bounds[1]}], got {value!r}")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated field of a dataclass, whitespace collapsed."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs
