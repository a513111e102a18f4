"""Big tables without an integer key are split by their key's values (keyset ranges): a text
or composite primary key, on any engine, resumable after SIGKILL, each range read back alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_helpers import invoke, json_stdout, show
from kill_helpers import copy_killed_after_commit
from plain_tables import digests

from mlmigrate.stores import open_store

ROWS = 1200


def _keyed(path: Path) -> Path:
    """``pairs``: a composite text + integer primary key (no rowid: WITHOUT ROWID), names
    that sort apart byte by byte and by a language's collation (case, accents, quotes)."""
    names = ["apple", "Apple", "éclair", "zebra", "O'Brien", "Zoë", "a b", "ab"]
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE pairs (name TEXT NOT NULL, n INTEGER NOT NULL, value REAL, "
            "PRIMARY KEY (name, n)) WITHOUT ROWID"
        )
        connection.executemany(
            "INSERT INTO pairs VALUES (?, ?, ?)",
            [(names[i % len(names)], i, i / 3) for i in range(ROWS)],
        )
        connection.execute("CREATE TABLE words (word VARCHAR(40) PRIMARY KEY, n INTEGER)")
        connection.executemany(
            "INSERT INTO words VALUES (?, ?)", [(f"w{i:05d}-{i % 7}", i) for i in range(ROWS)]
        )
    return path


@pytest.fixture
def keyed_db(tmp_path: Path) -> Path:
    return _keyed(tmp_path / "keyed.db")


def test_text_and_composite_keys_split_into_ranges_and_resume_after_sigkill(
    keyed_db: Path, tmp_path: Path, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "500")
    source = f"sqlite:///{keyed_db}"
    store = open_store(source)
    try:
        units = [u.source_id for u in store.units()]
    finally:
        store.close()
    assert [u.split("#")[0] for u in units] == ["pairs"] * 3 + ["words"] * 3, units
    state = ["--state-dir", str(tmp_path / "state")]
    copy_killed_after_commit(source, postgres_db, *state, nth=2)  # pairs' 2nd range, not journaled
    resumed = invoke("copy", source, postgres_db, *state, "--json")
    assert resumed.returncode == 0, show(resumed)
    report = json_stdout(resumed)
    assert report["units"]["total"] == 6 and report["units"]["this_run"] == 5, report
    assert report["verify"]["ok"], report["verify"]
    assert digests(postgres_db) == digests(source)
    back = invoke("copy", postgres_db, f"duckdb:///{tmp_path / 'back.duckdb'}", *state, "--json")
    assert back.returncode == 0, show(back)  # PostgreSQL splits it alike: by the key, in bytes
    assert json_stdout(back)["units"]["total"] == 6 and json_stdout(back)["verify"]["ok"]
    assert digests(f"duckdb:///{tmp_path / 'back.duckdb'}") == digests(source)


def test_mysql_splits_a_text_key_byte_by_byte(
    keyed_db: Path, tmp_path: Path, mysql_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "500")
    state = ["--state-dir", str(tmp_path / "state")]
    copied = invoke("copy", f"sqlite:///{keyed_db}", mysql_db, *state, "--json")
    assert copied.returncode == 0, show(copied)
    back = invoke("copy", mysql_db, f"sqlite:///{tmp_path / 'back.db'}", *state, "--json")
    assert back.returncode == 0, show(back)
    assert json_stdout(back)["units"]["total"] == 6 and json_stdout(back)["verify"]["ok"], show(back)
    assert digests(f"sqlite:///{tmp_path / 'back.db'}") == digests(f"sqlite:///{keyed_db}")


def test_key_ranges_read_back_as_they_commit_row_order_ranges_and_sqlite_wait(
    keyed_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLMIGRATE_RANGE_ROWS", "500")
    with sqlite3.connect(keyed_db) as connection:  # no key: split by row order
        connection.execute("CREATE TABLE loose (x TEXT)")
        connection.executemany("INSERT INTO loose VALUES (?)", [(str(i),) for i in range(ROWS)])
    target = f"duckdb:///{tmp_path / 'ducks.duckdb'}"
    copied = invoke("copy", f"sqlite:///{keyed_db}", target, "--state-dir", str(tmp_path / "state"), "--json")
    assert copied.returncode == 0 and json_stdout(copied)["verify"]["ok"], show(copied)
    for uri, keyed_alone in ((target, True), (f"sqlite:///{keyed_db}", False)):
        store = open_store(uri)
        try:
            alone = {
                u.source_id.split("#")[0]: store.reads_back_alone(u)
                for u in store.units()
                if "#" in u.source_id
            }
        finally:
            store.close()
        assert alone == {"pairs": keyed_alone, "words": keyed_alone, "loose": False}, (uri, alone)
