"""The latest value of tied metric points (NaN and a number at one step and timestamp) follows
the source's rule on a FileStore destination, which derives it from the file: a SQL store
picks by its own rule as points are logged (NaN counting as 0), and the written files agree."""

from __future__ import annotations

import math
from pathlib import Path

from cli_helpers import sqlite_uri
from edge_store import T0
from mlflow_compare import compare_stores

import mlmigrate

#: metric -> values logged in this order at one step and timestamp
TIES = {
    "negative_then_nan": [-1.0, math.nan],  # SQL: NaN (0 > -1); a file in this order: -1.0
    "nan_then_negative": [math.nan, -1.0],  # SQL: NaN; file: NaN
    "number_then_nan": [1.0, math.nan],  # SQL: 1.0
    "nan_then_number": [math.nan, 1.0],  # SQL: 1.0 (1 > 0); file in this order: NaN
    "zero_then_nan": [0.0, math.nan],  # SQL: 0.0 (NaN as 0 is not greater)
}


def test_a_sql_stores_latest_of_ties_holds_in_a_filestore_copy(tmp_path: Path) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    source = sqlite_uri(tmp_path / "src.db")
    client = MlflowClient(tracking_uri=source)
    experiment = client.create_experiment("ties")
    run_id = client.create_run(experiment, start_time=T0).info.run_id
    for key, values in TIES.items():
        for value in values:  # one call per point: SQL keeps the first unless a later one wins
            client.log_batch(run_id, metrics=[Metric(key, value, T0 + 5, 2)])
        client.log_metric(run_id, key, 7.0, timestamp=T0 + 9, step=1)  # older step, newer time
    latest = client.get_run(run_id).data.metrics
    assert math.isnan(latest["negative_then_nan"]) and latest["nan_then_number"] == 1.0  # SQL's rule

    destination = str(tmp_path / "bundle")
    report = mlmigrate.copy(source, destination).as_dict()

    assert report["status"] == "done" and report["verify"]["ok"], report
    assert compare_stores(source, destination, tolerate={"negative-zero", "nan-as-null"}) == []
    again = mlmigrate.copy(destination, sqlite_uri(tmp_path / "back.db")).as_dict()
    assert again["verify"]["ok"]
    assert (
        compare_stores(source, sqlite_uri(tmp_path / "back.db"), tolerate={"negative-zero", "nan-as-null"})
        == []
    )
