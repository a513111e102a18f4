"""Which family of data a database holds, told from the names of its tables.

Kinds that share a URI scheme (MLflow's SQL store and plain tables on one SQLite file, say)
claim a store by what it holds: MLflow's schema, another family's tables (a registry's
``mr_*``), or, for plain tables, any table at all. Nothing is created: a missing SQLite file
or an unreachable server holds no tables (the store opened then says what is wrong).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mlmigrate.uris import sqlite_path

#: tables that mark MLflow's schema
MLFLOW_MARKERS = frozenset({"alembic_version", "experiments", "runs"})


def table_names(uri: str) -> frozenset[str]:
    """The tables of the database at ``uri`` (empty when it is not there or cannot be read)."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
    try:
        if scheme == "sqlite":
            return _sqlite_tables(uri)
        if scheme in ("postgresql", "postgres", "mysql"):
            return _server_tables(uri, scheme)
    except Exception:  # noqa: BLE001 - an unreachable store holds nothing we can see here
        return frozenset()
    return frozenset()


def _sqlite_tables(uri: str) -> frozenset[str]:
    path = sqlite_path(uri).expanduser()
    if not path.is_file() or path.stat().st_size == 0:
        return frozenset()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        connection.close()
    return frozenset(name for (name,) in rows)


def _server_tables(uri: str, scheme: str) -> frozenset[str]:
    import sqlalchemy

    driver = "postgresql+psycopg" if scheme in ("postgresql", "postgres") else "mysql+pymysql"
    url = sqlalchemy.make_url(driver + "://" + uri.split("://", 1)[1])
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        return frozenset(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def holds_mlflow(uri: str) -> bool:
    """Whether the database holds MLflow's schema."""
    names = table_names(uri)
    return "alembic_version" in names and "experiments" in names


def holds_tables(names: Callable[[str], bool]) -> Callable[[str], bool]:
    """A ``claims`` test: the database holds a table for which ``names`` is true (a family
    that keeps its data in tables of known names, such as a registry's ``mr_*``)."""

    def claims(uri: str) -> bool:
        return any(names(name) for name in table_names(uri))

    return claims


def holds_any_table(uri: str) -> bool:
    """Whether the database holds any table (plain tables: the fallback claim)."""
    return bool(table_names(uri))
