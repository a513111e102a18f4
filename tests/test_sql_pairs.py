"""Every ordered pair of MLflow SQL stores (SQLite, PostgreSQL, MySQL/MariaDB): the edge store,
first copied into the source kind, is copied again into the destination kind and read back
through the real MlflowClient with 0 differences (beyond each destination's documented mapping)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import sqlite_uri
from mlflow_compare import SQL_DESTINATION_TOLERANCES, SQLITE_DESTINATION_TOLERANCES, compare_stores

import mlmigrate

KINDS = ("sqlite", "postgresql", "mysql")

#: what each destination kind cannot hold exactly (docs/semantics.md)
TOLERANCES = {
    "sqlite": SQLITE_DESTINATION_TOLERANCES - {"inf-as-max-float"},
    "postgresql": SQL_DESTINATION_TOLERANCES - {"inf-as-max-float"},
    "mysql": SQL_DESTINATION_TOLERANCES | {"negative-zero", "nan-as-null"},
}


@pytest.fixture(scope="module")
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """Make an empty database of a kind (module scope: the servers are shared)."""
    made: list[tuple[Any, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return sqlite_uri(tmp_path_factory.mktemp("pairs") / "store.db")
        handle = request.getfixturevalue(
            "postgres_server_handle" if kind == "postgresql" else "mariadb_server_handle"
        )
        url = handle.create_database()
        made.append((handle, url))
        return url

    yield make
    for handle, url in made:
        handle.drop_database(url)


@pytest.fixture(scope="module")
def sources(edge_store: Path, new_database: Callable[[str], str]) -> dict[str, str]:
    """The edge store copied once into a database of each kind (the pair sources)."""
    found = {}
    for kind in KINDS:
        uri = new_database(kind)
        report = mlmigrate.copy(str(edge_store), uri, read_in_processes=False)
        assert report.status == "done", report.as_dict()
        found[kind] = uri
    return found


@pytest.mark.parametrize("destination_kind", KINDS)
@pytest.mark.parametrize("source_kind", KINDS)
def test_sql_pair_round_trips_through_mlflow(
    source_kind: str, destination_kind: str, sources: dict[str, str], new_database: Callable[[str], str]
) -> None:
    source = sources[source_kind]
    destination = new_database(destination_kind)

    report = mlmigrate.copy(source, destination).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    assert report["rows_written"] > 1000
    differences = compare_stores(source, destination, tolerate=TOLERANCES[destination_kind])
    assert differences == []
