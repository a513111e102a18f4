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

Each copy is also timed with ``--no-verify`` (no read-back of the destination, which the
raw load does not do either). Each is run ``--repeat`` times, alternating, and the medians
are compared: the ratio mlmigrate seconds / raw seconds is printed per pair (the target is
2x or less). MLflow's
migrations run once per server and MLflow version, before timing: later destinations get
the recorded schema replayed, as a user's second copy does.
The servers are the test suite's private ones (tests/servers.py, tests/servers_mysql.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
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


def _copy(source: str, destination: str, state: Path, *options: str) -> tuple[float, dict[str, Any]]:
    env = dict(os.environ, MLMIGRATE_STATE_DIR=str(state), MLFLOW_ALLOW_FILE_STORE="true")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlmigrate", "copy", source, destination, "--json", *options],
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians are printed")
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
        # MLflow's migrations run once per server version and MLflow version (then their
        # schema is replayed from the user cache folder): not timed
        for server in (postgres, mariadb):
            _raw_load(server.create_database(), [])
        pairs = (("sqlite -> postgresql", sqlite, postgres), ("postgresql -> mysql", None, mariadb))
        for pair, source, server in pairs:
            source = source or figures["sqlite -> postgresql"]["destination"]
            copies, unverified, raws = [], [], []
            for _ in range(args.repeat):  # alternated, so all three see the same machine
                destination = server.create_database()
                seconds, report = _copy(source, destination, work / "state")
                copies.append(seconds)
                unverified.append(_copy(source, server.create_database(), work / "state", "--no-verify")[0])
                rows = _rows_of(destination)
                raws.append(_raw_load(server.create_database(), rows))
            figures[pair] = {
                "destination": destination,
                "mlmigrate": statistics.median(copies),
                "mlmigrate_no_verify": statistics.median(unverified),
                "raw": statistics.median(raws),
                "mlmigrate_runs": copies,
                "mlmigrate_no_verify_runs": unverified,
                "raw_runs": raws,
                "rows": report["rows_written"],
            }
    print(f"medians of {args.repeat} runs each; ratios are mlmigrate seconds / raw load seconds")
    print(
        f"{'pair':22} {'rows':>9} {'raw load s':>11} {'mlmigrate s':>12} {'ratio':>6} "
        f"{'--no-verify s':>14} {'ratio':>6}"
    )
    for pair, figure in figures.items():
        del figure["destination"]
        figure["ratio"] = figure["mlmigrate"] / figure["raw"]
        figure["ratio_no_verify"] = figure["mlmigrate_no_verify"] / figure["raw"]
        print(
            f"{pair:22} {figure['rows']:>9,} {figure['raw']:>11.2f} {figure['mlmigrate']:>12.2f} "
            f"{figure['ratio']:>6.2f} {figure['mlmigrate_no_verify']:>14.2f} "
            f"{figure['ratio_no_verify']:>6.2f}"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
