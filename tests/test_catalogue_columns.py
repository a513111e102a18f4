"""The canonical catalogue declares every column MLflow's SQLAlchemy models declare for its tables:
a column left out of it is dropped by every copy (``trace_info.db_payload_generation`` came
out 0 when MLflow's writer had counted 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmigrate.tables import TABLES


def _model_tables() -> dict[str, list[str]]:
    import mlflow.store.model_registry.dbmodels.models as registry
    import mlflow.store.tracking.dbmodels.models as tracking

    tables = {**tracking.Base.metadata.tables, **registry.Base.metadata.tables}
    return {name: [column.name for column in table.columns] for name, table in tables.items()}


def test_every_canonical_table_is_one_of_mlflows_tables() -> None:
    assert sorted(set(TABLES) - set(_model_tables())) == []


def test_every_column_mlflows_models_declare_is_in_the_canonical_table() -> None:
    declared = _model_tables()

    missing = {
        name: [column for column in declared[name] if column not in spec.columns]
        for name, spec in TABLES.items()
        if any(column not in spec.columns for column in declared[name])
    }

    assert missing == {}


#: columns MLflow's writer leaves at their default in the fill below: (table, column, SQL literal)
_SET_DIRECTLY = [
    ("inputs", "step", "2"),
    ("logged_models", "status_message", "'finalised by hand'"),
    ("logged_model_metrics", "dataset_uuid", "'dataset-uuid-1'"),
    ("trace_info", "cache_read_input_tokens", "5"),
    ("trace_info", "cache_creation_input_tokens", "6"),
    ("trace_info", "cache_creation_input_tokens_above_1hr", "7"),
    ("trace_info", "input_cost", "0.25"),
    ("trace_info", "output_cost", "0.5"),
    ("trace_info", "total_cost", "0.75"),
    ("assessments", "error", '\'{"error_code": "E", "error_message": "m"}\''),
    ("assessments", "is_numeric_value", "1"),
    ("assessments", "run_id", "'run-of-assessment'"),
    ("assessments", "span_id", "'span-1'"),
    ("assessments", "overrides", "'assessment-overridden'"),
    ("model_versions", "user_id", "'someone'"),
    ("model_versions", "status_message", "'ready by hand'"),
]
#: only the default workspace is migrated (semantics.md), so it holds its default value
_DEFAULT_ONLY = {"workspace"}


def _fill_every_table(uri: str) -> None:
    """One row or more in every canonical table, through MLflow's own writer."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities import AssessmentSource

    mlflow.tracing.reset()  # traces go where the tracer was first set up: here, not an earlier test's store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment("every-column", tags={"team": "a"})
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 0.5, step=3)
        dataset = mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2]}), source="s3://b/d.csv", name="train")
        mlflow.log_input(dataset, context="training", tags={"k": "v"})
        model = mlflow.initialize_logged_model(
            name="lm", source_run_id=run.info.run_id, params={"p": "1"}, tags={"t": "1"}, model_type="agent"
        )
        mlflow.log_metric("acc", 0.9, step=2, model_id=model.model_id, dataset=dataset)
        client.finalize_logged_model(model.model_id, "READY")
        with mlflow.start_span(name="root") as span:
            span.set_inputs({"x": 1})
            span.set_outputs({"y": 2})
            mlflow.update_current_trace(client_request_id="req-1", metadata={"mlflow.trace.session": "s-1"})
            span.set_attribute(
                "mlflow.chat.tokenUsage", {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
            )
    mlflow.flush_trace_async_logging()
    deleted = client.create_run(experiment_id)
    client.delete_run(deleted.info.run_id)
    mlflow.log_feedback(
        trace_id=span.trace_id,
        name="good",
        value=True,
        rationale="because",
        source=AssessmentSource("HUMAN", "me"),
        metadata={"m": "1"},
    )
    mlflow.log_expectation(trace_id=span.trace_id, name="expected", value="yes")
    client.create_registered_model("rm", tags={"a": "b"}, description="model")
    version = client.create_model_version(
        "rm",
        f"runs:/{run.info.run_id}/m",
        run_id=run.info.run_id,
        tags={"c": "d"},
        description="v",
        run_link="http://x",
    )
    client.set_registered_model_alias("rm", "champion", version.version)
    client.transition_model_version_stage("rm", version.version, "Staging")


def _at_default(uri: str) -> dict[str, list[str]]:
    """Per table, the declared columns holding only NULL or their server default."""
    import sqlalchemy
    from cli_helpers import engine_for

    declared = _model_tables()
    import mlflow.store.tracking.dbmodels.models as tracking

    found: dict[str, list[str]] = {}
    engine = engine_for(uri)
    with engine.connect() as connection:
        for name in TABLES:
            for column in tracking.Base.metadata.tables[name].columns:
                default = column.server_default.arg if column.server_default is not None else None  # type: ignore[union-attr]
                sql = f"SELECT COUNT(*) FROM {name} WHERE {column.name} IS NOT NULL"
                if default is not None:
                    sql += f" AND {column.name} != {default}"
                if not connection.execute(sqlalchemy.text(sql)).scalar():
                    found.setdefault(name, []).append(column.name)
    engine.dispose()
    assert set(found) <= set(declared)
    return found


def _declared_contents(uri: str) -> dict[str, list[tuple[object, ...]]]:
    """Every declared column of every canonical table, rows sorted (MLflow's own Table objects,
    so that each dialect quotes names like ``key`` its way)."""
    import mlflow.store.tracking.dbmodels.models as tracking
    import sqlalchemy
    from cli_helpers import engine_for

    engine = engine_for(uri)
    contents = {}
    with engine.connect() as connection:
        for name in TABLES:
            rows = connection.execute(sqlalchemy.select(*tracking.Base.metadata.tables[name].columns))
            contents[name] = sorted((tuple(_plain(value) for value in row) for row in rows), key=repr)
    engine.dispose()
    return contents


def _plain(value: object) -> object:
    import json

    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


@pytest.fixture(scope="module")
def every_column_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store MLflow's writer filled, with a non-default value in every declared column."""
    import sqlalchemy
    from cli_helpers import engine_for, sqlite_uri

    uri = sqlite_uri(tmp_path_factory.mktemp("every-column") / "source.db")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # MLflow writes trace artifacts to ./mlruns
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        _fill_every_table(uri)
    engine = engine_for(uri)
    with engine.begin() as connection:
        for table, column, literal in _SET_DIRECTLY:
            connection.execute(sqlalchemy.text(f"UPDATE {table} SET {column} = {literal}"))
    engine.dispose()
    return uri


@pytest.mark.parametrize("order", ["postgresql-first", "mariadb-first"])
def test_every_declared_column_arrives_between_every_sql_pair(
    order: str, every_column_source: str, postgres_db: str, mysql_db: str, tmp_path: Path
) -> None:
    from cli_helpers import sqlite_uri

    import mlmigrate

    left_default = {
        t: [c for c in cols if c not in _DEFAULT_ONLY] for t, cols in _at_default(every_column_source).items()
    }
    assert {t: cols for t, cols in left_default.items() if cols} == {}, (
        "the source must exercise every column"
    )

    middle = [postgres_db, mysql_db] if order == "postgresql-first" else [mysql_db, postgres_db]
    hops = [every_column_source, *middle, sqlite_uri(tmp_path / "final.db")]
    for hop_source, hop_destination in zip(hops, hops[1:], strict=False):
        report = mlmigrate.copy(hop_source, hop_destination).as_dict()
        assert report["status"] == "done", report
        expected, found = _declared_contents(hop_source), _declared_contents(hop_destination)
        assert {t: (expected[t], found[t]) for t in TABLES if expected[t] != found[t]} == {}, hop_destination


def test_a_filestore_destination_takes_the_columns_it_cannot_hold_as_their_default(tmp_path: Path) -> None:
    from cli_helpers import query, sqlite_uri

    import mlmigrate

    source = sqlite_uri(tmp_path / "source.db")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", source)
        _fill_every_table(source)
    assert query(source, "SELECT db_payload_generation FROM trace_info") != [(0,)]

    report = mlmigrate.copy(source, str(tmp_path / "mlruns")).as_dict()

    assert report["verify"]["mismatches"] == []  # was: trace_info contents differ
    assert report["status"] == "done", report
