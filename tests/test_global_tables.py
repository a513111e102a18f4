"""Every table moves between databases: a SQLite store with webhooks, an evaluation dataset with
records linked to an experiment, and a trace with spans (made through the real mlflow APIs)
travels SQLite → PostgreSQL → MariaDB → SQLite and SQLite → MariaDB → PostgreSQL → SQLite, and all
64 tables hold the same rows, every column, at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import engine_for, query, sqlite_uri

import mlmigrate
from mlmigrate.engine.transform import remap_experiments
from mlmigrate.global_tables import global_tables


def _fill(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    import mlflow.genai.datasets
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # undone after the test, unlike set_tracking_uri
    mlflow.tracing.reset()  # traces go where the tracer was first set up: here, not an earlier test's store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("with-globals")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_metric("m", 1.5)
    client.create_webhook(
        "hook", "https://93.184.216.34/hook", events=["registered_model.created"], description="d"
    )
    dataset = mlflow.genai.datasets.create_dataset(name="eval", experiment_id=experiment_id, tags={"k": "v"})
    dataset.merge_records(
        [
            {"inputs": {"question": "2+2?"}, "expectations": {"answer": "4"}},
            {"inputs": {"question": "ünïcode ✓"}, "expectations": {"answer": "yes"}},
        ]
    )
    with mlflow.start_span(name="root") as span:
        span.set_inputs({"x": 1})
        with mlflow.start_span(name="child"):
            pass
    mlflow.flush_trace_async_logging()


def _normalized(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _contents(uri: str, table: str) -> list[tuple[Any, ...]]:
    import sqlalchemy

    engine = engine_for(uri)
    try:
        with engine.connect() as connection:
            result = connection.execute(sqlalchemy.text(f"SELECT * FROM {table}"))
            rows = [tuple(_normalized(value) for value in row) for row in result]
    finally:
        engine.dispose()
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Filled once, for both orders."""
    uri = sqlite_uri(tmp_path_factory.mktemp("globals") / "globals.db")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # MLflow writes trace artifacts to ./mlruns
        _fill(uri, monkeypatch)
    return uri


#: the tables of MLflow's SQL schema, per release of the supported range
TABLES_OF_MLFLOW = {"3.17": 64, "3.18": 70}


@pytest.mark.parametrize("order", ["postgresql-first", "mariadb-first"])
def test_every_table_travels_between_every_sql_pair(
    order: str, source: str, postgres_db: str, mysql_db: str, tmp_path: Path
) -> None:
    filled = {t: len(_contents(source, t)) for t in global_tables()}
    assert filled["webhooks"] == 1 and filled["evaluation_dataset_records"] == 2, filled
    assert filled["entity_associations"] >= 1 and filled["spans"] >= 2, filled
    # MLflow's writer counts span writes; a copy once wrote 0 here (the column was not canonical)
    assert query(source, "SELECT db_payload_generation FROM trace_info") != [(0,)]

    final = sqlite_uri(tmp_path / "final.db")
    middle = [postgres_db, mysql_db] if order == "postgresql-first" else [mysql_db, postgres_db]
    hops = [source, *middle, final]  # the two orders cover all six pairs of unlike databases
    for hop_source, hop_destination in zip(hops, hops[1:], strict=False):
        report = mlmigrate.copy(hop_source, hop_destination).as_dict()
        assert report["status"] == "done", report
        assert report["verify"]["ok"], report["verify"]["mismatches"]
        assert report["rows_not_held"] == {}

    tables = [row[0] for row in query(source, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    from mlmigrate.mlflow_cache import mlflow_version

    # MLflow 3.18 adds the skills tables and issue_categories
    assert len([t for t in tables if t != "alembic_version"]) == TABLES_OF_MLFLOW[str(mlflow_version())[:4]]
    differing = {
        t: (_contents(source, t), _contents(final, t))
        for t in tables
        if _contents(source, t) != _contents(final, t)
    }
    assert differing == {}
    # and MLflow reads the moved objects through its own API
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=final)
    assert [hook.name for hook in client.list_webhooks()] == ["hook"]


def test_global_references_to_remapped_experiments_are_rewritten() -> None:
    import pyarrow as pa

    batch = pa.RecordBatch.from_pydict(
        {
            "association_id": ["a", "b"],
            "source_type": ["evaluation_dataset", "evaluation_dataset"],
            "source_id": ["d1", "d2"],
            "destination_type": ["experiment", "trace"],
            "destination_id": ["123456789012345678", "123456789012345678"],
            "created_time": [1, 2],
        }
    )
    scorers = pa.RecordBatch.from_pydict(
        {"experiment_id": [123456789012345678, 5], "scorer_name": ["s", "t"]}
    )
    id_map = {"123456789012345678": "7"}

    remapped = remap_experiments("entity_associations", batch, id_map)
    assert remapped.column("destination_id").to_pylist() == ["7", "123456789012345678"]
    assert remap_experiments("scorers", scorers, id_map).column("experiment_id").to_pylist() == [7, 5]
