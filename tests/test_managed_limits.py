"""Managed-database limits on the role or database: mlmigrate's sessions set their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import invoke, query, show, sqlite_uri
from servers import PostgresServer


def _set(server: PostgresServer, database_url: str, setting: str) -> None:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{database_url.rsplit("/", 1)[1]}" SET {setting}')


@pytest.fixture
def second_db(postgres_server_handle: PostgresServer) -> Iterator[str]:
    url = postgres_server_handle.create_database()
    yield url
    postgres_server_handle.drop_database(url)


def test_an_idle_in_transaction_timeout_on_the_source_keeps_the_snapshot(
    tmp_path: Path,
    minimal_store: Path,
    postgres_server_handle: PostgresServer,
    postgres_db: str,
) -> None:
    """The transaction that exports a PostgreSQL source's snapshot idles while units are read;
    an idle_in_transaction_session_timeout of 50 ms ended it ('terminating connection due to
    idle-in-transaction timeout'). mlmigrate's sessions lift the limit."""
    filled = invoke("copy", str(minimal_store), postgres_db, "-q", "--state-dir", str(tmp_path / "s1"))
    assert filled.returncode == 0, show(filled)
    _set(postgres_server_handle, postgres_db, "idle_in_transaction_session_timeout = '50ms'")
    destination = sqlite_uri(tmp_path / "dst.db")

    result = invoke("copy", postgres_db, destination, "-q", "--state-dir", str(tmp_path / "s2"))

    assert result.returncode == 0, show(result)
    assert query(destination, "SELECT count(*) FROM runs") == query(postgres_db, "SELECT count(*) FROM runs")
    verified = invoke("verify", postgres_db, destination, "--state-dir", str(tmp_path / "s2"))
    assert verified.returncode == 0, show(verified)


def test_the_users_own_options_are_kept() -> None:
    """Options the user put in the URI stay, before mlmigrate's own."""
    from mlmigrate.stores.sql.session_limits import limited_conninfo

    given = limited_conninfo("postgresql://u@h/db?options=-c%20search_path%3Dmlflow")
    assert "search_path=mlflow" in given and "statement_timeout=0" in given


def test_a_statement_timeout_on_an_empty_destination_database_is_lifted(
    tmp_path: Path,
    minimal_store: Path,
    postgres_server_handle: PostgresServer,
    second_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A destination database with ``statement_timeout = '1ms'`` failed the copy: every
    connection mlmigrate opens, including those that create MLflow's schema, lifts it. An
    empty cache folder makes the copy run MLflow's own migrations, not replay their record."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _set(postgres_server_handle, second_db, "statement_timeout = '1ms'")

    result = invoke("copy", str(minimal_store), second_db, "-q", "--state-dir", str(tmp_path / "s"))

    assert result.returncode == 0, show(result)
    verified = invoke("verify", str(minimal_store), second_db, "--state-dir", str(tmp_path / "s"))
    assert verified.returncode == 0, show(verified)
    _set(postgres_server_handle, second_db, "statement_timeout = 0")
    assert query(second_db, "SELECT count(*) FROM runs") == [(2,)]
