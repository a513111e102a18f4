"""The "raw COPY" reference: bulk-load a FileStore's metrics, params and tags into PostgreSQL.

The store is parsed into memory first (not timed); then the rows are sent with psycopg's
binary ``COPY ... FROM STDIN`` into three plain tables with the same columns and types as
MLflow's ``metrics``, ``params`` and ``tags`` (no keys, no indexes), in one transaction.
The timed part ends after the commit. This is close to the fastest way Python can put
these rows into PostgreSQL, so ``mlmigrate``'s time is reported as a multiple of it.

    .venv/bin/python benchmarks/raw_copy.py STORE postgresql://postgres@127.0.0.1:PORT/bench

``--with-mlflow-keys`` adds MLflow's primary keys and indexes to those tables first, to show
what the database itself costs per row in MLflow's schema.

Prints one JSON object: seconds (COPY + commit), parse_seconds, rows per table.
NaN is stored as value 0 with ``is_nan`` true and +-inf as +-1.7976931348623157e308,
as MLflow's SQL store does.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

RESERVED = {"tags", "datasets", "traces", "models"}
MAX_DOUBLE = 1.7976931348623157e308

DDL = """
DROP TABLE IF EXISTS metrics, params, tags;
CREATE TABLE metrics (
    key VARCHAR(250) NOT NULL, value DOUBLE PRECISION NOT NULL, timestamp BIGINT NOT NULL,
    run_uuid VARCHAR(32) NOT NULL, step BIGINT NOT NULL DEFAULT 0,
    is_nan BOOLEAN NOT NULL DEFAULT false);
CREATE TABLE params (key VARCHAR(250) NOT NULL, value VARCHAR(8000) NOT NULL,
    run_uuid VARCHAR(32) NOT NULL);
CREATE TABLE tags (key VARCHAR(250) NOT NULL, value VARCHAR(8000), run_uuid VARCHAR(32) NOT NULL);
"""


#: MLflow's keys and indexes on these tables (``--with-mlflow-keys``): the same work the
#: database must do for every row mlmigrate writes into an MLflow schema.
MLFLOW_KEYS = """
ALTER TABLE metrics ADD PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan);
CREATE INDEX ON metrics (run_uuid);
CREATE INDEX ON metrics (run_uuid, key, step);
ALTER TABLE params ADD PRIMARY KEY (key, run_uuid);
CREATE INDEX ON params (run_uuid);
ALTER TABLE tags ADD PRIMARY KEY (key, run_uuid);
CREATE INDEX ON tags (run_uuid);
"""


def run_dirs(root: Path):
    """Every run folder of active and deleted experiments."""
    for base in (root, root / ".trash"):
        if not base.is_dir():
            continue
        for exp_dir in base.iterdir():
            if not exp_dir.name.isdigit() or not exp_dir.is_dir():
                continue
            for run_dir in exp_dir.iterdir():
                if run_dir.name not in RESERVED and (run_dir / "meta.yaml").is_file():
                    yield run_dir


def key_files(directory: Path):
    """(key, path) for each file below ``directory``; '/' in a key is a sub-folder."""
    if directory.is_dir():
        for path in directory.rglob("*"):
            if path.is_file():
                yield path.relative_to(directory).as_posix(), path


def parse(root: Path) -> dict[str, list[tuple]]:
    metrics: list[tuple] = []
    params: list[tuple] = []
    tags: list[tuple] = []
    for run_dir in run_dirs(root):
        run_id = run_dir.name
        for key, path in key_files(run_dir / "metrics"):
            for line in path.read_text().splitlines():
                parts = line.split(" ")
                value = float(parts[1])
                is_nan = math.isnan(value)
                if is_nan:
                    value = 0.0
                elif math.isinf(value):
                    value = MAX_DOUBLE if value > 0 else -MAX_DOUBLE
                step = int(parts[2]) if len(parts) >= 3 else 0
                metrics.append((key, value, int(parts[0]), run_id, step, is_nan))
        for key, path in key_files(run_dir / "params"):
            params.append((key, path.read_text(encoding="utf-8"), run_id))
        for key, path in key_files(run_dir / "tags"):
            tags.append((key, path.read_text(encoding="utf-8"), run_id))
    return {"metrics": metrics, "params": params, "tags": tags}


COLUMNS = {
    "metrics": (
        "key, value, timestamp, run_uuid, step, is_nan",
        ["varchar", "float8", "int8", "varchar", "int8", "bool"],
    ),
    "params": ("key, value, run_uuid", ["varchar", "varchar", "varchar"]),
    "tags": ("key, value, run_uuid", ["varchar", "varchar", "varchar"]),
}


def load(url: str, tables: dict[str, list[tuple]], *, mlflow_keys: bool = False) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        if mlflow_keys:
            conn.execute(MLFLOW_KEYS)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for table, rows in tables.items():
                columns, types = COLUMNS[table]
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        seconds = time.perf_counter() - started
        for table, rows in tables.items():  # not timed: make sure every row arrived
            (loaded,) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
            if loaded != len(rows):
                raise RuntimeError(f"{table}: {loaded} rows loaded, {len(rows)} sent")
        return seconds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    mlflow_keys = "--with-mlflow-keys" in argv
    argv = [arg for arg in argv if arg != "--with-mlflow-keys"]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root, url = Path(argv[0]), argv[1]
    started = time.perf_counter()
    tables = parse(root)
    parse_seconds = time.perf_counter() - started
    seconds = load(url, tables, mlflow_keys=mlflow_keys)
    rows = {name: len(rows) for name, rows in tables.items()}
    print(
        json.dumps(
            {
                "seconds": round(seconds, 4),
                "parse_seconds": round(parse_seconds, 4),
                "rows": sum(rows.values()),
                "tables": rows,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
