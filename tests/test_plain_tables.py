"""Plain tables (family ``tables``): SQLite, DuckDB, PostgreSQL and MySQL/MariaDB databases copied
table by table through the same Migration as MLflow's stores."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest
from cli_helpers import invoke, json_stdout, show
from kill_helpers import copy_killed_after_commit
from plain_tables import digests, make_database, schemas

import mlmigrate
from mlmigrate.stores.sql.tables.spec import spec_of


@pytest.fixture(scope="session")
def plain_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_database(tmp_path_factory.mktemp("plain") / "plain.db")


@pytest.fixture
def plain_db(plain_master: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "source.db"
    shutil.copy(plain_master, copy)
    return copy


def _definition(uri: str) -> dict[str, object]:
    """What must survive every engine: column types and nullability, keys, uniques, indexes, FKs."""
    found: dict[str, object] = {}
    for name, schema in schemas(uri).items():
        spec = spec_of(schema)
        assert spec is not None
        found[name] = {
            "columns": [(f.name, str(f.type), f.nullable) for f in schema],
            "primary_key": spec.primary_key,
            "uniques": sorted(map(sorted, spec.uniques + [i.columns for i in spec.indexes if i.unique])),
            "indexes": sorted(tuple(i.columns) for i in spec.indexes if not i.unique),
            "foreign_keys": [(f.columns, f.table, f.references) for f in spec.foreign_keys],
        }
    return found


def test_types_keys_and_indexes_round_trip_through_all_four_engines(
    plain_db: Path, tmp_path: Path, postgres_db: str, mysql_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite → DuckDB → PostgreSQL → SQLite keeps every value and definition exactly; MySQL holds
    them too, except ±inf (mapped to ±max float and counted in the report)."""
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "1000")
    state = tmp_path / "state"
    source = f"sqlite:///{plain_db}"
    chain = [source, f"duckdb:///{tmp_path}/a.duckdb", postgres_db, f"sqlite:///{tmp_path}/back.db"]
    for left, right in zip(chain, chain[1:], strict=False):
        report = mlmigrate.copy(left, right, state_dir=state).as_dict()
        assert report["status"] == "done" and report["verify"]["ok"], report
    assert digests(chain[-1]) == digests(source)
    assert _definition(chain[1]) == _definition(source)
    # PostgreSQL has no 1-byte integer: TINYINT is widened to SMALLINT there (docs/plain-tables.md)
    widened = json.loads(
        json.dumps(_definition(source)).replace('["tiny", "int8", true]', '["tiny", "int16", true]')
    )
    assert json.loads(json.dumps(_definition(chain[2]))) == widened
    assert json.loads(json.dumps(_definition(chain[-1]))) == widened
    on_duckdb = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    try:
        declared = dict(
            on_duckdb.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'typed'"
            ).fetchall()
        )
    finally:
        on_duckdb.close()
    assert declared["at_utc"] == "TIMESTAMP WITH TIME ZONE" and declared["price"] == "DECIMAL(12,3)"
    assert declared["doc"] == "JSON" and declared["tiny"] == "TINYINT" and declared["flag"] == "BOOLEAN"
    report = mlmigrate.copy(postgres_db, mysql_db, state_dir=state).as_dict()
    assert report["status"] == "done" and report["verify"]["ok"], report["verify"]
    assert report["floats_made_finite"] == {"typed": 2}, report
    on_mysql = digests(mysql_db)
    assert {t: rows for t, (rows, _) in on_mysql.items()} == {"parent": 2, "train": 2500, "typed": 3}
    assert on_mysql["parent"] == digests(source)["parent"]


def test_a_tables_pair_runs_the_whole_migration_journal_verify_status_rollback(
    plain_db: Path, tmp_path: Path
) -> None:
    source, destination = f"sqlite:///{plain_db}", f"duckdb:///{tmp_path}/out.duckdb"
    state = ["--state-dir", str(tmp_path / "state")]
    copied = invoke("copy", source, destination, *state, "--json")
    assert copied.returncode == 0, show(copied)
    report = json_stdout(copied)
    assert report["units"]["total"] == 3 and report["verify"]["ok"]
    again = invoke("copy", source, destination, *state, "--json")
    assert again.returncode == 0 and json_stdout(again)["status"] == "up-to-date", show(again)
    verified = invoke("verify", source, destination, *state)
    assert verified.returncode == 0, show(verified)
    status = invoke("status", *state)
    assert status.returncode == 0 and "duckdb" in status.stdout, show(status)
    changed = duckdb.connect(str(tmp_path / "out.duckdb"))
    changed.execute("UPDATE train SET fare = 0 WHERE passenger = 5")
    changed.close()
    mismatch = invoke("verify", source, destination, *state)
    assert mismatch.returncode == 3 and "train" in mismatch.stdout + mismatch.stderr, show(mismatch)
    refused = invoke("rollback", "--last", destination, *state)
    assert refused.returncode != 0 and "changed since" in refused.stdout + refused.stderr, show(refused)
    changed = duckdb.connect(str(tmp_path / "out.duckdb"))
    changed.execute("UPDATE train SET fare = 5 / 7 WHERE passenger = 5")
    changed.close()
    rolled = invoke("rollback", "--last", destination, *state)
    assert rolled.returncode == 0, show(rolled)
    left = duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True)
    assert left.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
    left.close()
    assert digests(source)["typed"][0] == 3  # the source untouched


def test_a_pair_of_two_families_is_refused_naming_both(
    plain_db: Path, minimal_store: Path, tmp_path: Path
) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    into_duckdb = invoke("copy", str(minimal_store), f"duckdb:///{tmp_path}/x.duckdb", *state)
    assert into_duckdb.returncode == 2, show(into_duckdb)
    assert "'mlflow'" in into_duckdb.stderr and "'tables'" in into_duckdb.stderr, show(into_duckdb)
    into_mlflow = invoke("copy", f"sqlite:///{plain_db}", str(tmp_path / "mlruns"), *state)
    assert into_mlflow.returncode == 2 and "'tables'" in into_mlflow.stderr, show(into_mlflow)
    assert not (tmp_path / "x.duckdb").exists()


def test_an_existing_table_is_a_clash_fail_lists_it_and_skip_leaves_it(
    plain_db: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    sqlite3.connect(target).executescript("CREATE TABLE train(x TEXT); INSERT INTO train VALUES ('mine');")
    state = ["--state-dir", str(tmp_path / "state")]
    failed = invoke("copy", f"sqlite:///{plain_db}", f"sqlite:///{target}", *state)
    assert failed.returncode == 1 and "table 'train' already exists" in failed.stderr, show(failed)
    skipped = invoke("copy", f"sqlite:///{plain_db}", f"sqlite:///{target}", *state, "--on-conflict", "skip")
    assert skipped.returncode == 0, show(skipped)
    rows = sqlite3.connect(target).execute("SELECT * FROM train").fetchall()
    assert rows == [("mine",)]
    merge = invoke("copy", f"sqlite:///{plain_db}", f"sqlite:///{target}", *state, "--on-conflict", "merge")
    assert merge.returncode == 2 and "merge" in merge.stderr, show(merge)


def test_sigkill_inside_a_big_table_resumes_at_its_range(
    plain_db: Path, tmp_path: Path, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the second range of ``train`` committed and before the journal knew: the
    resume writes the ranges left, neither doubling nor skipping one."""
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "500")
    source = f"sqlite:///{plain_db}"
    state = ["--state-dir", str(tmp_path / "state")]
    # units: parent, train#0..#4, typed (names in dependency order); the 3rd unit is train#1
    copy_killed_after_commit(source, postgres_db, *state, nth=3)
    resumed = invoke("copy", source, postgres_db, *state, "--json")
    assert resumed.returncode == 0, show(resumed)
    report = json_stdout(resumed)
    assert report["units"]["total"] == 7 and report["verify"]["ok"], report
    assert report["units"]["this_run"] == 5, report  # train#1 (committed, not journaled) to typed
    assert digests(postgres_db) == digests(source)
