"""Shaping batches for a SQL destination: what its keys hold once is collapsed, nothing else."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from mlmigrate.engine.report import MERGED_BY_KEY
from mlmigrate.engine.transform import dedupe, for_destination
from mlmigrate.tables import batch_from_columns


def _metrics(values: list[float], keys: list[str] | None = None) -> pa.RecordBatch:
    n = len(values)
    return batch_from_columns(
        "metrics",
        {
            "key": keys or ["loss"] * n,
            "value": values,
            "timestamp": [1] * n,
            "run_uuid": ["r"] * n,
            "step": [0] * n,
            "is_nan": [False] * n,
        },
    )


def test_exact_duplicates_and_signed_zeros_collapse_to_one_point() -> None:
    # databases compare floats by value: -0.0 and 0.0 are one key there
    result, duplicates, merged = dedupe("metrics", _metrics([-0.0, 0.0, 1.5, 1.5, 2.0]))
    assert [str(v) for v in result.column("value").to_pylist()] == ["-0.0", "1.5", "2.0"]  # the first kept
    assert (duplicates, merged) == (1, 1)  # 1.5 twice is a duplicate; -0.0/0.0 differ and are merged


def test_distinct_points_are_all_kept_with_their_sign() -> None:
    batch = _metrics([-0.0, 0.0], keys=["a", "b"])
    assert dedupe("metrics", batch) == (batch, 0, 0)
    assert [str(v) for v in batch.column("value").to_pylist()] == ["-0.0", "0.0"]


def test_for_destination_rewrites_experiment_ids_and_counts_collapsed_points() -> None:
    collapsed: Counter[str] = Counter()
    runs = batch_from_columns("runs", {"run_uuid": ["r"], "experiment_id": [123456789012345678]})
    stream = iter([("runs", runs), ("metrics", _metrics([1.0, 1.0]))])

    shaped = dict(for_destination(stream, unit_kind="experiment", dest_id="7", collapsed=collapsed))

    assert shaped["runs"].column("experiment_id").to_pylist() == [7]
    assert shaped["metrics"].num_rows == 1
    assert collapsed == Counter({"metrics": 1})


def test_logged_model_points_of_two_datasets_at_one_step_are_one_row_of_mlflows_key() -> None:
    # MLflow's key of logged_model_metrics: model, name, timestamp, step, run (no dataset, no value)
    batch = batch_from_columns(
        "logged_model_metrics",
        {
            "model_id": ["m-1"] * 4,
            "metric_name": ["acc"] * 4,
            "metric_timestamp_ms": [1, 1, 1, 2],
            "metric_step": [1, 1, 1, 1],
            "metric_value": [0.5, 0.75, 0.5, 0.9],
            "run_id": ["r"] * 4,
            "dataset_name": ["eval-a", "eval-b", "eval-a", "eval-a"],
        },
    )
    left_out: dict[str, Counter[str]] = {}
    collapsed: Counter[str] = Counter()
    stream = iter([("logged_model_metrics", batch)])

    [(_, kept)] = for_destination(
        stream, unit_kind="experiment", dest_id="1", collapsed=collapsed, left_out=left_out
    )

    assert kept.column("dataset_name").to_pylist() == ["eval-a", "eval-a"]  # the first point of each key
    assert kept.column("metric_value").to_pylist() == [0.5, 0.9]
    assert collapsed == {"logged_model_metrics": 1}
    assert left_out == {MERGED_BY_KEY: {"logged_model_metrics": 1}}
