"""Time database-to-database copies against a raw bulk load of the same rows.

    .venv/bin/python benchmarks/sql_pairs.py                      # generate a store, run both pairs
    .venv/bin/python benchmarks/sql_pairs.py --experiments 20 --json-out out.json

The generated FileStore is first copied into SQLite (setup, not timed). Then:

* ``mlmigrate copy sqlite -> postgresql``: ``python -m mlmigrate copy … --json`` (a child
  process: planning, reading in helper processes, writing, journal, verify);
* ``raw load -> postgresql``: the rows that copy wrote, read back into memory beforehand
  and loaded into a fresh database with MLflow's schema by the same ``COPY FROM STDIN``
  statements, in one transaction, with nothing else (no reading, journal or verify);
* ``mlmigrate copy postgresql -> mysql`` and ``raw load -> mysql`` the same way
  (``LOAD DATA LOCAL INFILE``), on a private MariaDB.

The ratio mlmigrate seconds / raw seconds is printed per pair (the target is 2x or less).
The servers are the test suite's private ones (tests/servers.py, tests/servers_mysql.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))


def _copy(source: str, destination: str, state: Path) -> tuple[float, dict[str, Any]]:
    env = dict(os.environ, MLMIGRATE_STATE_DIR=str(state), MLFLOW_ALLOW_FILE_STORE="true")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlmigrate", "copy", source, destination, "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlmigrate copy failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def _rows_of(uri: str) -> list[tuple[str, Any]]:
    """Every row of a database, per table in load order, as record batches in memory."""
    from mlmigrate.stores import open_store

    store = open_store(uri)
    try:
        batches = [item for unit in store.units() for item in store.read_unit(unit)]
    finally:
        store.close()
    return [(table, batch) for table, batch in batches if batch.num_rows]


def _raw_load(uri: str, batches: list[tuple[str, Any]]) -> float:
    """Seconds to load ``batches`` into the fresh database ``uri`` in one transaction."""
    from mlmigrate.stores import open_store

    store = open_store(uri)
    try:
        store.prepare()
        bulk = store._bulk
        started = time.perf_counter()
        with bulk.transaction() as connection:
            # the schema's own row: the copied rows bring it again
            bulk.execute(connection, 'DELETE FROM "workspaces" WHERE name = :unit', "default")
            for table, batch in batches:
                bulk.insert(connection, table, batch)
        return time.perf_counter() - started
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--runs", type=int, default=25, help="runs per experiment")
    parser.add_argument("--metric-points", type=int, default=200, help="points per metric key")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    from servers import start_postgres
    from servers_mysql import start_mariadb

    with (
        tempfile.TemporaryDirectory(prefix="mlmigrate-bench-pairs-") as folder,
        contextlib.ExitStack() as stack,
    ):
        work = Path(folder)
        store = work / "mlruns"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate_store.py"),
                "--out",
                str(store),
                "--experiments",
                str(args.experiments),
                "--runs",
                str(args.runs),
                "--metric-points",
                str(args.metric_points),
                "--json",
            ],
            check=True,
            capture_output=True,
        )
        postgres = stack.enter_context(start_postgres())
        mariadb = stack.enter_context(start_mariadb())
        sqlite = f"sqlite:///{work / 'source.db'}"
        _copy(str(store), sqlite, work / "state")
        figures: dict[str, Any] = {}
        pg_copy = postgres.create_database()
        seconds, report = _copy(sqlite, pg_copy, work / "state")
        rows = _rows_of(pg_copy)
        raw = _raw_load(postgres.create_database(), rows)
        figures["sqlite -> postgresql"] = {"mlmigrate": seconds, "raw": raw, "rows": report["rows_written"]}
        mysql_warm = mariadb.create_database()  # MLflow's migrations run once per server, not timed
        _raw_load(mysql_warm, [])
        mysql_copy = mariadb.create_database()
        seconds, report = _copy(pg_copy, mysql_copy, work / "state")
        rows = _rows_of(mysql_copy)
        raw = _raw_load(mariadb.create_database(), rows)
        figures["postgresql -> mysql"] = {"mlmigrate": seconds, "raw": raw, "rows": report["rows_written"]}
    print(f"{'pair':24} {'rows':>10} {'mlmigrate s':>12} {'raw load s':>11} {'ratio':>7}")
    for pair, figure in figures.items():
        figure["ratio"] = figure["mlmigrate"] / figure["raw"]
        print(
            f"{pair:24} {figure['rows']:>10,} {figure['mlmigrate']:>12.2f} {figure['raw']:>11.2f} "
            f"{figure['ratio']:>7.2f}"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
