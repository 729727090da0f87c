"""Training metrics: one row per update into ``metrics.csv`` (and TensorBoard), and ``curve.png``.

``fpo-train`` (:class:`fpo_policy.core.trainer.Trainer`) and the trainer node
(:class:`fpo_policy.core.online_trainer.OnlineTrainer`) log through the same :class:`MetricsLogger`,
so the two files read alike. A run writes the columns of :data:`COLUMNS` it has, in that order; an
empty cell means "not measured at this update" (no episode finished, no evaluation). Floats are
written with 6 significant digits.

Column meanings: ``global_step`` env steps so far (summed over envs or sources), ``update`` updates
so far, ``episodic_return``/``episode_length``/``success_rate`` of the training episodes that ended
during the update's rollout (the trainer node: of its recent episodes), ``eval_return`` and
``eval_success_rate`` of a zero-noise evaluation, then the update's diagnostics
(:func:`fpo_policy.core.update.update`), the learning rate, env steps per second, the update's and
the run's time in s, and what only training over ROS has (stale transitions, rejected chunks,
sources).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS: tuple[str, ...] = (
    "global_step",
    "update",
    "episodic_return",
    "episode_length",
    "success_rate",
    "eval_return",
    "eval_success_rate",
    "stored_cfm_loss",
    "cfm_loss",
    "pg_loss",
    "v_loss",
    "entropy",
    "approx_kl",
    "clipfrac",
    "first_rho_max_dev",
    "explained_variance",
    "grad_norm",
    "learning_rate",
    "sps",
    "update_time_s",
    "time_s",
    "transitions_stale",
    "chunks_rejected",
    "sources",
)
"""Every column a run may write, in file order."""

SUCCESS_COLUMNS = ("success_rate", "eval_success_rate")
"""Written only by runs whose env reports success."""
EVAL_COLUMNS = ("eval_return", "eval_success_rate")
"""Written only by runs that evaluate (fpo-train)."""
ROS_COLUMNS = ("transitions_stale", "chunks_rejected", "sources")
"""Written only by the trainer node."""
_COUNTERS = ("global_step", "update")


def columns(success: bool, evaluation: bool = True, ros: bool = False) -> list[str]:
    """The columns of a run: success rates when its env reports success, the evaluation columns
    when it evaluates, the ROS columns for the trainer node."""
    left_out = set()
    if not success:
        left_out |= set(SUCCESS_COLUMNS)
    if not evaluation:
        left_out |= set(EVAL_COLUMNS)
    if not ros:
        left_out |= set(ROS_COLUMNS)
    return [c for c in COLUMNS if c not in left_out]


def format_cell(value) -> str:
    """A metrics.csv cell: floats to 6 significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


class MetricsLogger:
    """Writes metrics.csv rows (and TensorBoard scalars) under ``out``.

    The CSV opens at the first row, with ``columns`` (or, when ``append`` finds the file of a run
    being resumed, with that file's header, and the rows continue it). TensorBoard scalars go to
    ``out/tb``: the update's diagnostics under ``losses/``, everything else under ``charts/``.
    """

    def __init__(self, out: str | Path, *, tensorboard: bool = False, append: bool = False) -> None:
        self.out = Path(out)
        self.path = self.out / "metrics.csv"
        self._append = append
        self._file = None
        self._writer: csv.DictWriter | None = None
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tb"))

    @property
    def opened(self) -> bool:
        return self._writer is not None

    def open(self, columns: list[str]) -> None:
        """Start the file (no-op once open)."""
        if self._writer is not None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        if self._append and self.path.exists():
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            if header:
                self._file = open(self.path, "a", newline="")  # noqa: SIM115 (kept open for the run)
                self._writer = csv.DictWriter(self._file, fieldnames=header)
                return
        self._file = open(self.path, "w", newline="")  # noqa: SIM115 (kept open for the run)
        self._writer = csv.DictWriter(self._file, fieldnames=list(columns))
        self._writer.writeheader()

    def log(self, row: dict, diagnostics: dict, columns: list[str]) -> dict:
        """Write one update's row: ``row`` plus the ``diagnostics`` that are columns. Returns it."""
        self.open(columns)
        fieldnames = self._writer.fieldnames
        full = {**row, **{k: v for k, v in diagnostics.items() if k in COLUMNS}}
        self._writer.writerow({k: format_cell(full.get(k)) for k in fieldnames})
        self._file.flush()
        if self._tb is not None:
            step = int(full["global_step"])
            for k, v in full.items():
                if isinstance(v, (int, float, np.floating)) and k not in _COUNTERS:
                    group = "losses" if k in diagnostics else "charts"
                    self._tb.add_scalar(f"{group}/{k}", float(v), step)
        return full

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(path: str | Path) -> list[dict]:
    """metrics.csv as a list of dicts of floats (None for empty cells)."""
    with open(path, newline="") as f:
        return [
            {k: float(v) if v not in ("", None) else None for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def plot_curve(out: str | Path, title: str) -> Path:
    """Write ``out/curve.png`` from ``out/metrics.csv``: returns (training and zero-noise
    evaluation) and the mean stored CFM loss (FPO) or the approximate KL (PPO)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    rows = read_metrics(out / "metrics.csv")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in (("episodic_return", "training episodes"), ("eval_return", "zero-noise eval")):
        pts = [(r["global_step"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            axes[0].plot(*zip(*pts), label=label, marker="o" if key == "eval_return" else None)
    axes[0].set_xlabel("env steps")
    axes[0].set_ylabel("episodic return")
    axes[0].set_title(title)
    if axes[0].lines:
        axes[0].legend()
    pts = [(r["global_step"], r["stored_cfm_loss"]) for r in rows if r.get("stored_cfm_loss") is not None]
    if pts:
        axes[1].plot(*zip(*pts))
        axes[1].set_title("mean stored CFM loss")
    else:
        pts = [(r["global_step"], r["approx_kl"]) for r in rows if r.get("approx_kl") is not None]
        axes[1].plot(*zip(*pts))
        axes[1].set_title("approx KL")
    axes[1].set_xlabel("env steps")
    fig.tight_layout()
    path = out / "curve.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
