"""plan and check speak of tables and rows for plain tables, and check finds a table the
destination already holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cli_helpers import invoke, show


def _database(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(50)])
        connection.execute("CREATE TABLE u (k TEXT PRIMARY KEY)")
    return path


def test_plan_and_check_of_plain_tables_name_tables_not_experiments(tmp_path: Path) -> None:
    source = f"sqlite:///{_database(tmp_path / 'a.db')}"
    target = f"duckdb:///{tmp_path / 'b.duckdb'}"
    planned = invoke("plan", source, target)
    assert planned.returncode == 0, show(planned)
    assert "Total records to migrate: 50 (2 tables)" in planned.stdout + planned.stderr, show(planned)
    checked = invoke("check", source, target)
    assert checked.returncode == 0, show(checked)
    words = " ".join((checked.stdout + checked.stderr).split())
    assert "2 tables" in words and "read a sample of 2 tables" in words, show(checked)
    assert "each table will be created as the source defines it" in words, show(checked)
    assert "experiment" not in words and "MLflow" not in words, show(checked)


def test_check_is_no_go_for_a_table_the_destination_holds(tmp_path: Path) -> None:
    source = f"sqlite:///{_database(tmp_path / 'a.db')}"
    held = tmp_path / "b.db"
    with sqlite3.connect(held) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    checked = invoke("check", source, f"sqlite:///{held}")
    assert checked.returncode == 1, show(checked)
    assert "table 't' already exists in the destination" in " ".join(checked.stderr.split()), show(checked)
