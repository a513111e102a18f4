"""Rollback removes exactly what one migration wrote: not what was there before, not what others
wrote since; it refuses, listing them, when the migration's rows were changed since."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_helpers import count, invoke, json_stdout, query, show, sqlite_uri


def _others_write(uri: str) -> str:
    """Someone else logs an experiment with a run into the destination, through MLflow itself."""
    from mlflow import MlflowClient
    from mlflow_compare import normalize_uri

    client = MlflowClient(tracking_uri=normalize_uri(uri))
    experiment = client.create_experiment("written by others")
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "who", "someone else")
    client.log_metric(run.info.run_id, "m", 1.5, timestamp=1, step=0)
    return run.info.run_id


def _migration_ids(state_dir: Path) -> list[str]:
    connection = sqlite3.connect(state_dir / "journal.sqlite")
    try:
        return [row[0] for row in connection.execute("SELECT migration_id FROM migrations ORDER BY started")]
    finally:
        connection.close()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("MLMIGRATE_STATE_DIR", str(folder))
    return folder


def test_rollback_removes_exactly_one_migration(
    minimal_store: Path, edge_store: Path, tmp_path: Path, state_dir: Path
) -> None:
    destination = sqlite_uri(tmp_path / "dst.db")
    assert invoke("copy", str(minimal_store), destination, "-q").returncode == 0
    before = tmp_path / "before"
    assert invoke("backup", destination, str(before), "-q").returncode == 0
    copied = invoke("copy", str(edge_store), destination, "--json", "-q")
    assert copied.returncode == 0, show(copied)
    migration = json_stdout(copied)["migration_id"]
    others_run = _others_write(destination)
    runs_with_edge = count(destination, "runs")

    rolled = invoke("rollback", "--last", destination, "--json")

    assert rolled.returncode == 0, show(rolled)
    result = json_stdout(rolled)
    assert result["migration_id"] == migration
    assert result["verify"]["ok"] is True
    assert result["verify"]["units_checked"] == len(result["removed_units"])
    assert "verify: the destination is as before" in rolled.stderr
    # what was there before is exactly as it was (the edge store's Default replaced the empty one: back)
    assert result["restored_experiments"] == ["0"]
    assert invoke("verify", str(before), destination).returncode == 0
    # what others wrote since is still there; everything of the edge store is gone
    assert query(destination, "SELECT run_uuid FROM runs WHERE run_uuid = :r", {"r": others_run}) == [
        (others_run,)
    ]
    assert count(destination, "runs") == 2 + 1 < runs_with_edge
    assert count(destination, "registered_models") == 1  # the minimal store's model
    listed = {m["migration_id"]: m for m in json_stdout(invoke("status", "--json"))}
    assert listed[migration]["state"] == "rolled-back"
    assert {u["state"] for u in json_stdout(invoke("status", migration, "--json"))} == {"rolled-back"}
    again = invoke("rollback", migration)
    assert again.returncode == 0 and "already rolled back" in again.stderr, show(again)


def test_rollback_on_postgresql_asks_for_the_masked_destination(
    minimal_store: Path, postgres_db: str, state_dir: Path
) -> None:
    with_password = postgres_db.replace("postgres@", "postgres:rollback-secret@")
    copied = invoke("copy", str(minimal_store), with_password, "--json", "-q")
    assert copied.returncode == 0, show(copied)
    migration = json_stdout(copied)["migration_id"]

    needs_uri = invoke("rollback", migration)
    assert needs_uri.returncode == 2, show(needs_uri)
    assert "--destination" in needs_uri.stderr and "rollback-secret" not in needs_uri.stderr

    rolled = invoke("rollback", migration, "--destination", with_password)

    assert rolled.returncode == 0, show(rolled)
    assert "rollback-secret" not in rolled.stdout + rolled.stderr
    assert count(postgres_db, "runs") == 0
    assert count(postgres_db, "registered_models") == 0
    # the database was empty: it keeps MLflow's schema (made by the copy) and no rows of its own
    assert count(postgres_db, "experiments") == 0
