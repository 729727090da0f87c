"""metrics.csv and TensorBoard through the one logger of fpo-train and the trainer node."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from fpo_policy.core import metrics
from fpo_policy.core.metrics import MetricsLogger, read_metrics


def test_each_kind_of_run_writes_its_columns_in_one_order():
    plain = metrics.columns(success=False)
    with_success = metrics.columns(success=True)
    trainer_node = metrics.columns(success=True, evaluation=False, ros=True)
    for cols in (plain, with_success, trainer_node):
        assert cols == [c for c in metrics.COLUMNS if c in cols]
        assert cols[:2] == ["global_step", "update"]
    assert "success_rate" not in plain
    assert "eval_return" in plain
    assert with_success[4:7] == ["success_rate", "eval_return", "eval_success_rate"]
    assert "eval_return" not in trainer_node
    assert trainer_node[-3:] == ["transitions_stale", "chunks_rejected", "sources"]


def test_rows_round_trip_with_empty_cells_for_what_was_not_measured(tmp_path):
    logger = MetricsLogger(tmp_path)
    cols = metrics.columns(success=False)
    row = logger.log(
        {"global_step": 64, "update": 1, "episodic_return": np.float64(-1234.56789)},
        {"pg_loss": 0.25, "not_a_column": 3.0},
        cols,
    )
    assert row["pg_loss"] == 0.25
    logger.log({"global_step": 128, "update": 2, "episodic_return": None}, {}, cols)
    logger.close()
    with open(tmp_path / "metrics.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == cols
    first, second = read_metrics(tmp_path / "metrics.csv")
    assert first["episodic_return"] == -1234.57  # 6 significant digits
    assert first["pg_loss"] == 0.25
    assert "not_a_column" not in first
    assert second["episodic_return"] is None
    assert second["global_step"] == 128


def test_a_resumed_run_continues_the_file_it_finds(tmp_path):
    first = MetricsLogger(tmp_path)
    first.log({"global_step": 1, "update": 1, "success_rate": 0.5}, {}, metrics.columns(success=True))
    first.close()
    resumed = MetricsLogger(tmp_path, append=True)
    # Columns of the resumed run are those of the file, even if this run has not seen success yet.
    resumed.log({"global_step": 2, "update": 2}, {}, metrics.columns(success=False))
    resumed.close()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert [r["global_step"] for r in rows] == [1, 2]
    assert [r["success_rate"] for r in rows] == [0.5, None]
    fresh = MetricsLogger(tmp_path)
    fresh.log({"global_step": 3, "update": 1}, {}, metrics.columns(success=False))
    fresh.close()
    assert [r["global_step"] for r in read_metrics(tmp_path / "metrics.csv")] == [3]


def test_tensorboard_gets_the_diagnostics_as_losses_and_the_rest_as_charts(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logger = MetricsLogger(tmp_path, tensorboard=True)
    logger.log(
        {"global_step": 64, "update": 1, "sps": 100.0, "episodic_return": None},
        {"v_loss": 2.0},
        metrics.columns(success=False),
    )
    logger.close()
    events = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"charts/sps", "losses/v_loss"}
    [point] = events.Scalars("losses/v_loss")
    assert (point.step, point.value) == (64, 2.0)
