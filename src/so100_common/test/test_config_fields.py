"""Self-describing config dataclasses: ranges, choices and descriptions, checked by name."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from so100_common.core.config_fields import check_ranges, describe, field_docs, setting


@dataclass(frozen=True)
class _Example:
    rate_hz: float = setting(1.0, 0.5, 2.0)
    """Some rate."""
    count: int = setting(3, 0, 10)
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


@dataclass(frozen=True)
class _Described:
    mode: str = setting("hold", choices=("hold", "release"))
    """What to do"""
    period_s: float = setting(1.0, 0.1, 10.0)
    """A period, s"""
    name: str = "x"
    """A free text"""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "drop"}, r"_Described.mode must be one of \['hold', 'release'\], got 'drop'"),
        ({"period_s": 0.0}, r"_Described.period_s must be in \[0.1, 10.0\]"),
        ({"period_s": "1"}, "_Described.period_s must be a number"),
    ],
)
def test_metadata_settings_are_checked_by_name(values, message):
    with pytest.raises(ValueError, match=message):
        check_ranges(_Described(**values))


def test_description_is_the_docstring_with_choices_appended():
    described = {f.name: describe(_Described, f) for f in fields(_Described)}
    assert described == {
        "mode": "What to do (one of: hold, release)",
        "period_s": "A period, s",
        "name": "A free text",
    }
    assert [describe(_Example, f) for f in fields(_Example)] == ["Some rate.", "Some count."]
    check_ranges(_Described())
