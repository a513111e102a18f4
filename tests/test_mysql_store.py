"""MySQL/MariaDB as a destination: the edge store arrives equal (±inf as ±max float, as MLflow
stores it), the report counts the mapped values, verify accounts for them, clashes are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import query, run_cli, show

import mlmigrate

MAX_FLOAT = 1.7976931348623157e308


def test_edge_store_into_mysql_maps_inf_to_max_float_and_reports_it(edge_store: Path, mysql_db: str) -> None:
    """What MLflow reads back is compared by the contract suite (tests/contract); here: how."""
    report = mlmigrate.copy(str(edge_store), mysql_db).as_dict()

    assert report["status"] == "done", report
    assert report["verify"]["ok"], report["verify"]["mismatches"]
    # the edge store logs ±inf metric points: each is reported, per table
    assert report["floats_made_finite"].get("metrics", 0) >= 2, report["floats_made_finite"]
    inf_keys = "SELECT `key`, value FROM metrics WHERE `key` IN ('only_inf', 'only_neg_inf')"
    rows = dict(query(mysql_db, inf_keys))
    assert rows == {"only_inf": MAX_FLOAT, "only_neg_inf": -MAX_FLOAT}
    # standalone verify maps ±inf the same way: no mismatch
    verified = run_cli("verify", str(edge_store), mysql_db)
    assert verified.returncode == 0, show(verified)
    # AUTO_INCREMENT was advanced: MLflow can create experiments afterwards
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mysql_db.replace("mysql://", "mysql+pymysql://"))
    largest = max(int(row[0]) for row in query(mysql_db, "SELECT experiment_id FROM experiments"))
    assert int(client.create_experiment("after")) > largest


def test_replayed_schema_equals_the_migrated_one(mariadb_server_handle: object) -> None:
    """The first empty database gets MLflow's migrations, later ones the recorded DDL: same result."""
    from mlflow.store.db.utils import _verify_schema

    from mlmigrate.stores import open_store

    handle = mariadb_server_handle
    urls = [handle.create_database() for _ in range(2)]  # type: ignore[attr-defined]
    try:
        shapes = []
        for url in urls:
            store = open_store(url)
            try:
                store.prepare()
                _verify_schema(store.engine)
            finally:
                store.close()
            tables = [row[0] for row in query(url, "SHOW TABLES")]
            ddl = {t: query(url, f"SHOW CREATE TABLE `{t}`")[0][1] for t in tables}
            shapes.append(
                (
                    {t: re.sub(r" AUTO_INCREMENT=\d+", "", d) for t, d in ddl.items()},
                    query(url, "SELECT * FROM workspaces"),
                )
            )
        assert len(shapes[0][0]) >= 64
        assert shapes[0] == shapes[1]
        assert shapes[0][1] and shapes[0][1][0][0] == "default"
    finally:
        for url in urls:
            handle.drop_database(url)  # type: ignore[attr-defined]


def test_committed_reads_through_connectorx_equal_the_pymysql_reads(
    edge_store: Path, mysql_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read-back goes through connectorx (Arrow straight from the server): every unit, global
    tables included, reads the same as through PyMySQL's snapshot reads."""
    from mlmigrate.stores import open_store
    from mlmigrate.stores.sql.mysql_bulk import MysqlBulk

    mlmigrate.copy(str(edge_store), mysql_db)
    through: dict[str, int] = {"connectorx": 0, "pymysql": 0}
    fetch_arrow = MysqlBulk._fetch_arrow

    def counted(self: MysqlBulk, *args: object) -> object:
        table = fetch_arrow(self, *args)  # type: ignore[arg-type]
        through["pymysql" if table is None else "connectorx"] += 1
        return table

    monkeypatch.setattr(MysqlBulk, "_fetch_arrow", counted)
    monkeypatch.setattr("mlmigrate.stores.sql.mysql_bulk.ARROW_FROM_ROWS", 0)  # every read
    snapshot_reads, committed_reads = open_store(mysql_db), open_store(mysql_db)
    committed_reads.read_committed()
    try:
        units = snapshot_reads.units()
        assert len(units) > 3
        for unit in units:
            expected = list(snapshot_reads.read_unit(unit))
            found = list(committed_reads.read_unit(unit))
            assert [t for t, _ in found] == [t for t, _ in expected], unit
            for (table, want), (_, got) in zip(expected, found, strict=True):
                assert got.equals(want), (unit, table)
        # the canonical tables' types all map; some global tables (DECIMAL, dates) fall back
        assert through["connectorx"] > 10 * through["pymysql"], through
    finally:
        snapshot_reads.close()
        committed_reads.close()


def test_identifiers_are_backquoted_outside_string_literals() -> None:
    from mlmigrate.stores.sql.mysql_bulk import _backquoted

    sql = 'SELECT "key", "a""b" FROM "t" WHERE x = \'it"s\' AND "name" = :unit'
    assert _backquoted(sql) == "SELECT `key`, `a\"b` FROM `t` WHERE x = 'it\"s' AND `name` = :unit"


def test_merge_into_mysql_adds_runs_and_renumbers_versions(
    minimal_store: Path, mysql_db: str, tmp_path: Path
) -> None:
    """``--on-conflict merge`` into MariaDB cleared the merged runs with SQLite's ``json_each()``
    (MariaDB error 1064); the destination keeps its runs and gains the second store's."""
    from edge_store import make_minimal_store

    assert mlmigrate.copy(str(minimal_store), mysql_db).status == "done"
    other = make_minimal_store(tmp_path / "other")
    before = {row[0] for row in query(mysql_db, "SELECT run_uuid FROM runs")}

    result = run_cli("copy", str(other), mysql_db, "--on-conflict", "merge", "-q")

    assert result.returncode == 0, show(result)
    after = {row[0] for row in query(mysql_db, "SELECT run_uuid FROM runs")}
    assert before < after and len(after) == 4
    assert query(mysql_db, "SELECT version FROM model_versions ORDER BY version") == [(1,), (2,)]
    # a rewrite of the merged units (as after a crash) replaces them and nothing else
    again = run_cli("copy", str(other), mysql_db, "--on-conflict", "merge", "-q")
    assert again.returncode == 0, show(again)
    assert {row[0] for row in query(mysql_db, "SELECT run_uuid FROM runs")} == after
    verified = run_cli("verify", str(other), mysql_db)
    assert verified.returncode == 0, show(verified)
