"""Config dataclasses that describe themselves, for every node and trainer of the stack.

Defaults, descriptions and allowed values of a node's settings live once, in a frozen dataclass of
its package's core; the node declares one ROS parameter per field from it
(:func:`so100_common.parameters.declare_config`), ``fpo-train`` parses the algorithm configs with
tyro, and the dataclass validates what it is given.

A field is declared one way: its **description** is the docstring under it (what tyro and
``ros2 param describe`` show), and a **range** or a closed set of **choices**, where it has one, goes
in :func:`setting`::

    rate_hz: float = setting(20.0, 1.0, 1000.0)
    \"\"\"Control rate, Hz.\"\"\"
    mode: str = setting("hold", choices=("hold", "release"))
    \"\"\"What the arm does on exit.\"\"\"
    frame_id: str = "Base"
    \"\"\"Frame of the goals.\"\"\"

``lo``/``hi`` make an inclusive numeric range (either may be None: unbounded on that side).
:func:`check_ranges`, called from the dataclass's ``__post_init__``, enforces both and names the
class and field in its error; hand-written checks there are for what a range cannot say (rules
across fields, task ids).
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import math
import textwrap
from dataclasses import MISSING, Field, field, fields

RANGE = "range"
CHOICES = "choices"


def setting(default, lo=None, hi=None, *, choices=None) -> Field:
    """A field with its default and an inclusive range [lo, hi] or a closed set of ``choices``.

    Describe the field in a docstring under it (see the module docstring).
    """
    metadata: dict[str, object] = {}
    if lo is not None or hi is not None:
        metadata[RANGE] = (lo, hi)
    if choices is not None:
        metadata[CHOICES] = tuple(choices)
    return field(default=default, metadata=metadata)


def value_range(f: Field) -> tuple[float, float] | None:
    """The inclusive range of a field, or None."""
    return f.metadata.get(RANGE)


def choices(f: Field) -> tuple | None:
    """The allowed values of a field, or None."""
    return f.metadata.get(CHOICES)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated field of a dataclass (and its bases), whitespace collapsed."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        body = ast.parse(textwrap.dedent(source)).body[0].body
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


def describe(cls: type, f: Field) -> str:
    """The field's description (its docstring), with its choices appended."""
    text = field_docs(cls).get(f.name, "")
    allowed = choices(f)
    if allowed:
        text += f" (one of: {', '.join(str(getattr(c, 'value', c)) for c in allowed)})"
    return text


def default_of(f: Field):
    """The field's default value (from ``default`` or ``default_factory``)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise ValueError(f"field {f.name} has no default")


def check_ranges(config) -> None:
    """Raise ValueError naming the class and field for a value outside its range or choices."""
    name = type(config).__name__
    for f in fields(config):
        value = getattr(config, f.name)
        allowed = choices(f)
        if allowed is not None and value not in allowed and getattr(value, "value", value) not in allowed:
            raise ValueError(f"{name}.{f.name} must be one of {list(allowed)}, got {value!r}")
        bounds = value_range(f)
        if bounds is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}.{f.name} must be a number, got {value!r}")
        lo, hi = bounds
        if isinstance(default_of(f), int) and int(value) != value:
            raise ValueError(f"{name}.{f.name} must be an integer, got {value!r}")
        if not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{name}.{f.name} must be in [{lo}, {hi}], got {value!r}")
