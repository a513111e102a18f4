"""The plain-tables kinds of the contract suite (family ``tables``): one record each.

MLflow's contract (``MlflowClient`` reads, experiments and runs) has no meaning for a database's
plain tables; these kinds join the tables contract of ``test_contract_tables.py`` instead: copy,
a re-run that adds nothing, verify catching a changed value, SIGKILL after a unit's commit,
rollback. A record makes an empty destination, counts a table natively and changes one value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


def _sql(uri: str, sql: str) -> list[tuple[object, ...]]:
    if uri.startswith("duckdb:"):
        import duckdb

        connection = duckdb.connect(uri.split("://", 1)[1][1:])
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()
    from cli_helpers import query

    return query(uri, sql)


def _q(uri: str, name: str) -> str:
    return f"`{name}`" if uri.startswith("mysql:") else f'"{name}"'


def _count(uri: str, table: str) -> int:
    return int(_sql(uri, f"SELECT COUNT(*) FROM {_q(uri, table)}")[0][0])  # type: ignore[call-overload]


def _tamper(uri: str) -> None:
    from cli_helpers import execute

    sql = f"UPDATE {_q(uri, 'train')} SET {_q(uri, 'name')} = 'changed' WHERE {_q(uri, 'passenger')} = 1"
    if uri.startswith("duckdb:"):
        _sql(uri, sql)
    else:
        execute(uri, sql)


@dataclass(frozen=True)
class TablesKindFixture:
    """How the contract suite makes, counts and changes one plain-tables kind."""

    name: str
    make: Callable[[pytest.FixtureRequest, Path], str]
    count: Callable[[str, str], int] = _count
    tamper: Callable[[str], None] = _tamper


TABLES_KINDS: tuple[TablesKindFixture, ...] = (
    TablesKindFixture("duckdb", lambda request, tmp: f"duckdb:///{tmp}/destination.duckdb"),
    TablesKindFixture("sqlite-tables", lambda request, tmp: f"sqlite:///{tmp}/destination.db"),
    TablesKindFixture("postgresql-tables", lambda request, tmp: str(request.getfixturevalue("postgres_db"))),
    TablesKindFixture("mysql-tables", lambda request, tmp: str(request.getfixturevalue("mysql_db"))),
)
