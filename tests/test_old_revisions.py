"""SQL sources at older MLflow schema revisions (MLflow 2.0's onwards) are read as the head's
tables: the database is built with MLflow's own migrations stopped at the old revision, filled
with SQL, copied, and the copy is read through the real MlflowClient."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from cli_helpers import query, sqlite_uri

import mlmigrate
from mlmigrate.stores.sql.revisions import OLDEST_REVISION

T0 = 1_700_000_000_000
RUN = "r0123456789abcdef0123456789abcde"


def _database_at(revision: str, path: Path) -> str:
    """An MLflow SQLite database at schema ``revision``, made by MLflow's migrations."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    uri = sqlite_uri(path)
    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.NullPool)
    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(uri)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
    return uri


def _fill(uri: str) -> None:
    """One experiment, one run with params, tags and a metric history, one model version."""
    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.NullPool)
    statements = [
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time,"
        f" last_update_time) VALUES (1, 'old-exp', '/a/1', 'active', {T0}, {T0})",
        "INSERT INTO experiment_tags (key, value, experiment_id) VALUES ('team', 'x', 1)",
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
        " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
        f" VALUES ('r' || '0123456789abcdef0123456789abcde', 'old-run', 'LOCAL', 's', '', 'me', 'FINISHED',"
        f" {T0}, {T0 + 10}, 'v', 'active', '/a/1/r/artifacts', 1)",
        "INSERT INTO params (key, value, run_uuid) VALUES ('lr', '0.1', 'r0123456789abcdef0123456789abcde')",
        "INSERT INTO tags (key, value, run_uuid)"
        " VALUES ('mlflow.runName', 'old-run', 'r0123456789abcdef0123456789abcde')",
        *(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
            f" VALUES ('loss', {1.0 / (step + 1)}, {T0 + step}, '{RUN}', {step}, 0)"
            for step in range(5)
        ),
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
        f" VALUES ('loss', 0.2, {T0 + 4}, 4, 0, 'r0123456789abcdef0123456789abcde')",
        f"INSERT INTO registered_models (name, creation_time, last_updated_time, description)"
        f" VALUES ('old-model', {T0}, {T0}, 'd')",
        "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id,"
        " current_stage, source, run_id, status, status_message, run_link)"
        f" VALUES ('old-model', 1, {T0}, {T0}, '', 'me', 'None', '/a/1/r/artifacts/model',"
        " 'r0123456789abcdef0123456789abcde', 'READY', '', '')",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sqlalchemy.text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    "revision",
    [OLDEST_REVISION, "400f98739977"],
    ids=["mlflow-2.0", "logged-models-before-workspaces"],
)
def test_old_revision_source_is_copied_as_head(revision: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    source = _database_at(revision, tmp_path / "old.db")
    assert query(source, "SELECT version_num FROM alembic_version") == [(revision,)]
    _fill(source)
    destination = sqlite_uri(tmp_path / "new.db")

    report = mlmigrate.copy(source, destination).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    client = MlflowClient(tracking_uri=destination, registry_uri=destination)
    experiment = client.get_experiment_by_name("old-exp")
    assert experiment is not None and experiment.tags == {"team": "x"}
    run = client.get_run("r0123456789abcdef0123456789abcde")
    assert run.data.params == {"lr": "0.1"} and run.info.run_name == "old-run"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
    version = client.get_model_version("old-model", "1")
    assert version.run_id == run.info.run_id and version.status == "READY"
    # columns added by later migrations carry the value those migrations give existing rows
    assert query(destination, "SELECT DISTINCT workspace FROM experiments") == [("default",)]
    assert query(destination, "SELECT workspace FROM registered_models") == [("default",)]
