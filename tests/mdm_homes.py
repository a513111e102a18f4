"""MDM homes generated from the field lists of seed-formats.md §3 (MDM itself is not installed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import yaml

SQLITE_BLOCK = {"journal_mode": "WAL", "synchronous": "NORMAL", "cache_size": -64000,
                "temp_store": "MEMORY", "mmap_size": 268435456}  # fmt: skip


def _info(name: str, database: dict[str, object], tables: dict[str, str]) -> dict[str, object]:
    """The dataset YAML's keys, in model order (§3.2)."""
    return {
        "name": name, "display_name": name, "description": "", "database": database, "tables": tables,
        "problem_type": "binary_classification", "target_column": "survived", "id_columns": ["id"],
        "time_column": None, "group_column": None,
        "feature_tables": {k: v for k, v in tables.items() if k.endswith("_features")},
        "registered_at": "2025-07-10T12:00:00+00:00", "last_updated_at": "2025-07-10T12:00:00+00:00",
        "tags": [], "source": "/data/" + name, "version": "1.0.0",
        "metadata": {"datetime_columns": ["boarded"], "statistics": {"row_count": 3}},
    }  # fmt: skip


def _write_dataset(home: Path, name: str, database: dict[str, object], tables: dict[str, str]) -> None:
    (home / "config" / "datasets" / f"{name}.yaml").write_text(
        yaml.safe_dump(_info(name, database, tables), sort_keys=False)
    )
    folder = home / "datasets" / name
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    info = _info(name, database, tables)
    info["registered_at"] = "2025-07-10 12:00:00+00:00"  # str(datetime) in the JSON
    (folder / "dataset_info.json").write_text(json.dumps(info, default=str))


DATA = """
CREATE TABLE {t} (id BIGINT, name TEXT, fare FLOAT, survived BIGINT, boarded TIMESTAMP, alone BOOLEAN);
INSERT INTO {t} VALUES (1, 'Ann', 7.25, 1, '1912-04-10 12:00:00', 1), (2, NULL, NULL, 0, NULL, 0),
                       (3, 'Zoë', 71.2833, NULL, '1912-04-10 14:30:00', NULL);
"""
META = """
CREATE TABLE _metadata (key VARCHAR(255) PRIMARY KEY, value JSON, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE _columns (table_name VARCHAR(255), column_name VARCHAR(255), dtype TEXT, nullable BOOLEAN,
                       sample_values JSON, PRIMARY KEY (table_name, column_name));
CREATE TABLE _statistics (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT, row_count INTEGER,
                          missing_values JSON, computed_at TIMESTAMP);
INSERT INTO _columns VALUES ('train', 'fare', 'float64', 1, '[7.25, 71.2833]');
INSERT INTO _statistics (table_name, row_count, missing_values, computed_at)
    VALUES ('data', 3, '{"name": 1}', '2025-07-10 12:00:00');
"""
KINDS = ("train", "test", "sample_submission")


def make_home(home: Path) -> Path:
    """A home with a SQLite dataset (every table kind, a live WAL), a DuckDB dataset, a SQLite
    dataset from before the ``_*`` tables (``<name>.db``), and a YAML whose database is missing."""
    (home / "config" / "datasets").mkdir(parents=True)
    (home / "mdm.yaml").write_text(
        yaml.safe_dump({"database": {"default_backend": "sqlite", "sqlite": SQLITE_BLOCK}})
    )
    (home / "config.yaml").write_text("backend: sqlite\nbatch_size: 1000\n")
    (home / "feature_flags.yaml").write_text("use_new_backend: false\n")
    tables = {kind: kind for kind in KINDS} | {f"{kind}_features": f"{kind}_features" for kind in KINDS}
    path = home / "datasets" / "titanic_like" / "titanic_like.sqlite"
    path.parent.mkdir(parents=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.executescript("".join(DATA.format(t=t) for t in tables) + META)
    connection.commit()
    connection.execute("INSERT INTO train VALUES (4, 'late', 1.0, 1, NULL, 1)")  # in the WAL only
    connection.commit()
    keep_open = connection  # the WAL stays (no checkpoint on close while this is open)
    _write_dataset(home, "titanic_like", {"backend": "sqlite", **SQLITE_BLOCK, "path": str(path)}, tables)
    old = home / "datasets" / "old_one" / "old_one.db"
    old.parent.mkdir(parents=True)
    sqlite3.connect(old).executescript(DATA.format(t="data"))
    _write_dataset(home, "old_one", {"backend": "sqlite", **SQLITE_BLOCK}, {"data": "data"})  # no path
    quack = home / "datasets" / "quack" / "quack.duckdb"
    quack.parent.mkdir(parents=True)
    ducks = duckdb.connect(str(quack))
    ducks.execute(DATA.format(t="train").replace("FLOAT", "DOUBLE"))
    ducks.close()
    _write_dataset(
        home, "quack", {"backend": "duckdb", "memory_limit": "8GB", "path": str(quack)}, {"train": "train"}
    )
    _write_dataset(
        home, "gone", {"backend": "sqlite", "path": str(home / "nowhere.sqlite")}, {"data": "data"}
    )
    make_home.open_connections.append(keep_open)  # type: ignore[attr-defined]
    return home


make_home.open_connections = []  # type: ignore[attr-defined]
