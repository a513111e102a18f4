"""A mistyped URI is refused instead of becoming a folder, read-only commands create nothing,
and a source must exist and hold an MLflow store (issue 12, items 2 and 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli, show, sqlite_uri

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.kinds import kind_of


@pytest.mark.parametrize(
    ("uri", "meant"),
    [
        ("postgresql//user:pw-secret-1@host/db", "postgresql://"),
        ("postgresql:/user:pw-secret-1@host/db", "postgresql://"),
        ("postgress://user:pw-secret-1@host/db", None),  # an unknown scheme, refused as before
        ("postgress//user:pw-secret-1@host/db", "postgres://"),
        ("mysql:/root:pw-secret-1@host:3306/db", "mysql://"),
        ("mongodb//user:pw-secret-1@host/db", "mongodb://"),
        ("sqlite:/mlflow.db", "sqlite://"),
        ("user:pw-secret-1@host/db", "without its scheme"),
    ],
)
def test_a_path_that_looks_like_a_mistyped_uri_is_refused_with_a_hint(uri: str, meant: str | None) -> None:
    with pytest.raises(UsageError) as raised:
        kind_of(uri)

    message = str(raised.value)
    assert "pw-secret-1" not in message
    if meant is not None:
        assert meant in message and "./" in message


def test_a_folder_written_as_a_path_or_existing_is_taken_as_a_folder(tmp_path: Path) -> None:
    existing = tmp_path / "postgresql:"
    existing.mkdir()

    assert kind_of("./postgresql//user@host/db").name == "filestore"
    assert kind_of(f"{existing}/x").name == "filestore"
    assert kind_of("mlruns").name == "filestore"


def test_copy_to_a_mistyped_uri_writes_no_folder(minimal_store: Path, tmp_path: Path) -> None:
    copied = run_cli("copy", str(minimal_store), "postgresql//user:pw-secret-1@host/db")

    assert copied.returncode == 2, show(copied)
    assert "did you mean 'postgresql://'" in copied.stderr, show(copied)
    assert "pw-secret-1" not in copied.stdout + copied.stderr
    assert not (Path.cwd() / "postgresql").exists()


def test_a_sqlite_destination_in_a_missing_folder_is_refused(minimal_store: Path, tmp_path: Path) -> None:
    destination = sqlite_uri(tmp_path / "missing" / "dir" / "x.db")

    copied = run_cli("copy", str(minimal_store), destination)
    planned = run_cli("plan", str(minimal_store), destination)

    assert copied.returncode == 2, show(copied)
    assert planned.returncode == 2, show(planned)
    assert "does not exist" in copied.stderr and "mkdir -p" in copied.stderr, show(copied)
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", ["plan", "verify", "check"])
def test_read_only_commands_create_no_sqlite_file(command: str, minimal_store: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    other = tmp_path / "other.db"

    as_source = run_cli(command, sqlite_uri(missing), sqlite_uri(other))
    as_destination = run_cli(command, str(minimal_store), sqlite_uri(missing))

    assert as_source.returncode != 0, show(as_source)
    assert "no such SQLite database" in as_source.stdout + as_source.stderr, show(as_source)
    if command == "verify":
        assert as_destination.returncode != 0, show(as_destination)
    assert not missing.exists() and not other.exists()


def test_backup_of_a_missing_or_empty_database_fails_without_a_manifest(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")

    missing = run_cli("backup", sqlite_uri(tmp_path / "missing.db"), str(tmp_path / "b1"))
    zero = run_cli("backup", sqlite_uri(empty), str(tmp_path / "b2"))

    assert missing.returncode == 2 and "no such SQLite database" in missing.stderr, show(missing)
    assert zero.returncode == 2 and "holds no MLflow store" in zero.stderr, show(zero)
    assert not (tmp_path / "missing.db").exists()
    assert (
        not (tmp_path / "b1" / "manifest.json").exists() and not (tmp_path / "b2" / "manifest.json").exists()
    )


def test_backup_of_an_empty_postgresql_database_fails(postgres_db: str, tmp_path: Path) -> None:
    backed = run_cli("backup", postgres_db, str(tmp_path / "b"))

    assert backed.returncode == 2, show(backed)
    assert "holds no MLflow store" in backed.stderr, show(backed)
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_a_sqlite_file_without_mlflow_tables_is_not_an_mlflow_source(tmp_path: Path) -> None:
    """It is a database of plain tables: planned as such, and refused for an MLflow destination."""
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")

    planned = run_cli("plan", sqlite_uri(other))
    assert planned.returncode == 0 and "Total records to migrate: 0" in planned.stdout, show(planned)
    copied = run_cli("copy", sqlite_uri(other), str(tmp_path / "mlruns"))
    assert copied.returncode == 2, show(copied)
    assert "'tables'" in copied.stderr and "'mlflow'" in copied.stderr, show(copied)


@pytest.mark.parametrize("command", ["copy", "plan"])
def test_an_empty_source_folder_is_an_error(command: str, tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.mkdir()

    result = run_cli(command, str(source), sqlite_uri(tmp_path / "d.db"))

    assert result.returncode == 2, show(result)
    assert "holds no MLflow store" in result.stderr, show(result)
    assert not (tmp_path / "d.db").exists()
