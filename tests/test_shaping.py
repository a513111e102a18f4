"""Shaping a unit's rows for its destination: held tables, skipped runs, renumbered versions."""

from __future__ import annotations

from collections import Counter

from mlmigrate.engine.transform import ALREADY_PRESENT, NOT_HELD, Shaping, for_destination
from mlmigrate.tables import batch_from_columns


def test_rows_of_tables_the_destination_cannot_hold_are_counted_not_dropped_silently() -> None:
    stream = [
        ("runs", batch_from_columns("runs", {"run_uuid": ["a", "b"], "experiment_id": [1, 1]})),
        (
            "params",
            batch_from_columns("params", {"key": ["k", "k"], "value": ["1", "2"], "run_uuid": ["a", "b"]}),
        ),
    ]
    left_out: dict[str, Counter[str]] = {}

    shaped = list(
        for_destination(
            iter(stream),
            unit_kind="experiment",
            dest_id="3",
            collapsed=Counter(),
            shaping=Shaping(held=frozenset({"runs"}), skip_runs=frozenset({"b"})),
            left_out=left_out,
        )
    )

    assert [(table, batch.num_rows) for table, batch in shaped] == [("runs", 1)]
    assert shaped[0][1].column("run_uuid").to_pylist() == ["a"]
    assert left_out == {NOT_HELD: Counter({"params": 2}), ALREADY_PRESENT: Counter({"runs": 1})}


def test_merged_model_versions_are_renumbered_and_its_own_rows_kept() -> None:
    stream = [
        ("registered_models", batch_from_columns("registered_models", {"name": ["m"]})),
        ("model_versions", batch_from_columns("model_versions", {"name": ["m", "m"], "version": [1, 2]})),
        (
            "registered_model_aliases",
            batch_from_columns("registered_model_aliases", {"alias": ["x"], "version": [1]}),
        ),
    ]
    left_out: dict[str, Counter[str]] = {}

    shaped = dict(
        for_destination(
            iter(stream),
            unit_kind="registered_model",
            dest_id="m",
            collapsed=Counter(),
            shaping=Shaping(into_existing=True, version_offset=4),
            left_out=left_out,
        )
    )

    assert list(shaped) == ["model_versions"]
    assert shaped["model_versions"].column("version").to_pylist() == [5, 6]
    assert sum(left_out.values(), Counter()) == Counter(
        {"registered_models": 1, "registered_model_aliases": 1}
    )
