"""Timing of a fixed-rate loop: periods between tick starts and the work of each tick, over a window.

Shared by every node that runs a control timer (policy node, sim node). Times are monotonic seconds.
A tick counts as missed when the gap before it exceeds 1.5 periods (each whole period lost counts
once); an overrun is a tick whose work took longer than one period.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimingSummary:
    """Tick timing over the statistics window; ``ticks`` and ``overruns`` count since the start."""

    tick_period_mean_s: float
    tick_period_p99_s: float
    tick_period_max_s: float
    inference_time_mean_s: float
    inference_time_p99_s: float
    ticks: int
    overruns: int
    missed: int
    """Gaps between ticks longer than 1.5 periods (a tick that never ran), since the start."""


class TickStats:
    """Periods between tick starts and the work time of each tick."""

    def __init__(self, period_s: float, window: int = 1000) -> None:
        self.period_s = float(period_s)
        self._periods: deque[float] = deque(maxlen=window)
        self._work: deque[float] = deque(maxlen=window)
        self._last_start: float | None = None
        self.ticks = 0
        self.overruns = 0
        self.missed = 0

    def record(self, start_s: float, work_s: float) -> None:
        """One tick that started at ``start_s`` (monotonic s) and worked for ``work_s``."""
        if self._last_start is not None:
            period = start_s - self._last_start
            self._periods.append(period)
            self.missed += max(0, round(period / self.period_s) - 1) if period > 1.5 * self.period_s else 0
        self._last_start = start_s
        self._work.append(work_s)
        self.ticks += 1
        self.overruns += int(work_s > self.period_s)

    def summary(self) -> TimingSummary:
        periods = np.asarray(self._periods) if self._periods else np.zeros(1)
        work = np.asarray(self._work) if self._work else np.zeros(1)
        return TimingSummary(
            tick_period_mean_s=float(periods.mean()),
            tick_period_p99_s=float(np.percentile(periods, 99)),
            tick_period_max_s=float(periods.max()),
            inference_time_mean_s=float(work.mean()),
            inference_time_p99_s=float(np.percentile(work, 99)),
            ticks=self.ticks,
            overruns=self.overruns,
            missed=self.missed,
        )
