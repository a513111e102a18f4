"""``verify`` names what differs: the run, metric key and step, or the param key, of a table
whose digests disagree (issue 12 item 11), found by comparing row hashes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
from cli_helpers import json_stdout, run_cli, show, sqlite_uri

from mlmigrate.engine.differences import differing_places


def test_a_changed_metric_and_param_are_named_by_run_key_and_step(
    minimal_store: Path, tmp_path: Path
) -> None:
    database = tmp_path / "dst.db"
    copied = run_cli("copy", str(minimal_store), sqlite_uri(database), "-q")
    assert copied.returncode == 0, show(copied)
    with sqlite3.connect(database) as connection:
        run_id = connection.execute(
            "SELECT run_uuid FROM metrics WHERE key = 'loss' AND step = 1 LIMIT 1"
        ).fetchone()[0]
        connection.execute(
            "UPDATE metrics SET value = 42.0 WHERE run_uuid = ? AND key = 'loss' AND step = 1", (run_id,)
        )
        connection.execute("UPDATE params SET value = '0.5' WHERE run_uuid = ? AND key = 'lr'", (run_id,))

    verified = run_cli("verify", str(minimal_store), sqlite_uri(database), "--json")

    assert verified.returncode == 3, show(verified)
    mismatches = {m["table"]: m for m in json_stdout(verified)["mismatches"]}
    metric = [p for p in mismatches["metrics"]["places"]]
    assert metric == [
        {
            "run_uuid": run_id,
            "key": "loss",
            "timestamp": metric[0]["timestamp"],
            "step": 1,
            "problem": "values differ",
        }
    ]
    assert mismatches["params"]["places"] == [{"run_uuid": run_id, "key": "lr", "problem": "values differ"}]
    assert run_id in mismatches["metrics"]["problem"] and "'loss'" in mismatches["metrics"]["problem"]
    human = run_cli("verify", str(minimal_store), sqlite_uri(database))
    assert run_id in human.stderr and "key='lr'" in human.stderr, show(human)


def test_rows_on_one_side_only_and_duplicates_are_named() -> None:
    source = pa.table({"key": ["a", "b", "b"], "value": ["1", "2", "2"], "run_uuid": ["r", "r", "r"]})
    destination = pa.table({"key": ["a", "b", "c"], "value": ["1", "2", "3"], "run_uuid": ["r", "r", "r"]})

    found = differing_places("params", source, destination)

    assert found == {
        "places": [
            {"run_uuid": "r", "key": "b", "problem": "a row held a different number of times"},
            {"run_uuid": "r", "key": "c", "problem": "only in the destination"},
        ],
        "more": 0,
    }


def test_a_large_table_is_narrowed_to_the_one_differing_step() -> None:
    steps = pa.array(range(30_000), pa.int64())
    source = pa.table(
        {
            "key": pa.array(["loss"] * 30_000),
            "value": pa.array([float(i) for i in range(30_000)]),
            "timestamp": steps,
            "step": steps,
            "is_nan": pa.array([False] * 30_000),
            "run_uuid": pa.array(["r1", "r2"] * 15_000),
        }
    )
    changed = source.column("value").to_pylist()
    changed[12_345] = -1.0
    destination = source.set_column(1, "value", pa.array(changed))

    found = differing_places("metrics", source, destination)

    assert [(p["run_uuid"], p["step"], p["problem"]) for p in found["places"]] == [
        ("r2", 12_345, "values differ")
    ]
