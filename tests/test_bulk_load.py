"""Bulk load into an empty database: the big tables loaded without their keys, the keys built
at the end, the schema as MLflow's migrations make it, and resume exact at every phase."""

from __future__ import annotations

import itertools
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from cli_helpers import engine_for, invoke, json_stdout, query, row_counts, show, sqlite_uri

from mlmigrate.engine.journal import Journal

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"

#: ``python -c`` body: run the CLI, SIGKILLed at the nth call of ``module:Class.method``
#: (argv[1], argv[2]), before that call does anything
_KILL_IN = """
import importlib, os, signal, sys
target, nth = sys.argv[1], int(sys.argv[2])
module, _, member = target.partition(":")
owner_name, method = member.split(".")
owner = getattr(importlib.import_module(module), owner_name)
original = getattr(owner, method)
seen = 0

def die_at_nth(*args, **kwargs):
    global seen
    seen += 1
    if seen == nth:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

setattr(owner, method, die_at_nth)
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[3:]]
main()
"""


def _copy_killed_at(target: str, nth: int, *args: str) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_IN, target, str(nth), "copy", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)


def _postgres_catalog(uri: str) -> list[str]:
    dumped = subprocess.run([PG_DUMP, "--schema-only", uri], capture_output=True, text=True, check=True)
    # pg_dump 15.14+ brackets its output with a random \restrict key
    lines = dumped.stdout.splitlines()
    return [line for line in lines if not line.startswith(("\\restrict", "\\unrestrict"))]


def _mysql_catalog(uri: str) -> list[list[str]]:
    """``SHOW CREATE TABLE`` of every table, its clauses sorted (MLflow's migrations add some
    indexes in no fixed order)."""
    tables = [row[0] for row in query(uri, "SHOW TABLES")]
    created = [query(uri, f"SHOW CREATE TABLE `{table}`")[0][1] for table in sorted(tables)]
    return [
        sorted(line.strip().rstrip(",") for line in re.sub(r" AUTO_INCREMENT=\d+", "", sql).splitlines())
        for sql in created
    ]


def _sqlite_catalog(uri: str) -> list[tuple[Any, ...]]:
    """Every table, index and constraint; a table's clauses sorted (MLflow's migrations emit
    CHECK constraints in no fixed order)."""
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as connection:
        rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        return [
            (kind, name, table, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
            for kind, name, table, sql in rows
        ]


CATALOGS: dict[str, Callable[[str], list[Any]]] = {
    "postgresql": _postgres_catalog,
    "mysql": _mysql_catalog,
    "sqlite": _sqlite_catalog,
}


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A maker of empty databases of one family."""
    made: list[str] = []
    if request.param == "sqlite":
        numbers = itertools.count()
        yield lambda: sqlite_uri(tmp_path / f"db{next(numbers)}.db")
        return
    server = request.getfixturevalue(
        "postgres_server_handle" if request.param == "postgresql" else "mariadb_server_handle"
    )

    def make() -> str:
        made.append(server.create_database())
        return made[-1]

    yield make
    for uri in made:
        server.drop_database(uri)


def _family(uri: str) -> str:
    return uri.split(":", 1)[0]


def _by_mlflow(uri: str) -> str:
    """``uri``'s database with MLflow's schema made by MLflow's own migrations."""
    from mlflow.store.db.utils import _initialize_tables

    engine = engine_for(uri)
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()
    return uri


def _phase(source: Path, destination: str) -> str | None:
    journal = Journal()
    try:
        latest = journal.latest(str(source), destination)
        assert latest is not None
        return journal.key_phase(latest["migration_id"]).get("phase")
    finally:
        journal.close()


def _metric_indexes(uri: str) -> int:
    """How many secondary indexes the metrics table has now."""
    engine = engine_for(uri)
    try:
        return len(sqlalchemy.inspect(engine).get_indexes("metrics"))
    finally:
        engine.dispose()


def test_bulk_load_ends_with_the_schema_mlflow_migrations_make(
    fresh: Callable[[], str], edge_store: Path
) -> None:
    destination = fresh()

    result = invoke("copy", str(edge_store), destination, "--json", "-q")

    assert result.returncode == 0, show(result)
    report = json_stdout(result)
    assert report["verify"]["ok"]
    assert _phase(edge_store, destination) == "keyed"
    assert CATALOGS[_family(destination)](destination) == CATALOGS[_family(destination)](_by_mlflow(fresh()))
    # the exact duplicate point the FileStore keeps twice is held once, and counted
    assert report["collapsed_duplicates"]["metrics"] >= 1
    assert invoke("verify", str(edge_store), destination).returncode == 0


def test_a_crash_before_the_build_resumes_the_load_then_builds(
    fresh: Callable[[], str], minimal_store: Path
) -> None:
    destination = fresh()
    # killed as the second unit is journaled: one unit in, the keys not built
    _copy_killed_at("mlmigrate.engine.journal:Journal.mark", 2, str(minimal_store), destination)
    assert _phase(minimal_store, destination) == "loading"
    assert _metric_indexes(destination) == 0

    result = invoke("copy", str(minimal_store), destination, "-q")

    assert result.returncode == 0, show(result)
    assert _phase(minimal_store, destination) == "keyed"
    assert CATALOGS[_family(destination)](destination) == CATALOGS[_family(destination)](_by_mlflow(fresh()))
    assert invoke("verify", str(minimal_store), destination).returncode == 0
    assert row_counts(destination)["runs"] == 2


def test_a_crash_during_the_build_is_finished_by_the_resume(
    fresh: Callable[[], str], minimal_store: Path
) -> None:
    destination = fresh()
    family = _family(destination)
    step = {
        "postgresql": "mlmigrate.stores.sql.postgres_keys:PostgresKeys._add",
        "mysql": "mlmigrate.stores.sql.mysql_keys:MysqlKeys._add",
        "sqlite": "mlmigrate.stores.sql.sqlite_keys:SqliteKeys._add",
    }[family]
    _copy_killed_at(step, 2, str(minimal_store), destination)  # one key built, the others not
    assert _phase(minimal_store, destination) == "building"

    result = invoke("copy", str(minimal_store), destination, "-q")

    assert result.returncode == 0, show(result)
    assert _phase(minimal_store, destination) == "keyed"
    assert CATALOGS[family](destination) == CATALOGS[family](_by_mlflow(fresh()))
    assert invoke("verify", str(minimal_store), destination).returncode == 0


def test_a_destination_that_holds_data_keeps_the_per_unit_path(
    fresh: Callable[[], str], minimal_store: Path, other_minimal_store: Path
) -> None:
    destination = fresh()
    assert invoke("copy", str(minimal_store), destination, "-q").returncode == 0

    result = invoke("copy", str(other_minimal_store), destination, "--on-conflict", "rename", "-q")

    assert result.returncode == 0, show(result)
    assert _phase(other_minimal_store, destination) is None  # never loaded without its keys
    assert _metric_indexes(destination) > 0
    assert row_counts(destination)["runs"] == 4
