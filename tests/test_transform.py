"""Shaping batches for a SQL destination: what its keys hold once is collapsed, nothing else."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

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
    result = dedupe(_metrics([-0.0, 0.0, 1.5, 1.5, 2.0]))
    assert sorted(result.column("value").to_pylist()) == [0.0, 1.5, 2.0]


def test_distinct_points_are_all_kept_with_their_sign() -> None:
    batch = _metrics([-0.0, 0.0], keys=["a", "b"])
    assert dedupe(batch) is batch
    assert [str(v) for v in batch.column("value").to_pylist()] == ["-0.0", "0.0"]


def test_for_destination_rewrites_experiment_ids_and_counts_collapsed_points() -> None:
    collapsed: Counter[str] = Counter()
    runs = batch_from_columns("runs", {"run_uuid": ["r"], "experiment_id": [123456789012345678]})
    stream = iter([("runs", runs), ("metrics", _metrics([1.0, 1.0]))])

    shaped = dict(for_destination(stream, unit_kind="experiment", dest_id="7", collapsed=collapsed))

    assert shaped["runs"].column("experiment_id").to_pylist() == [7]
    assert shaped["metrics"].num_rows == 1
    assert collapsed == Counter({"metrics": 1})
