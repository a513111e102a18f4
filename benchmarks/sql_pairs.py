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

With ``--from-filestore`` the generated FileStore is copied into each server instead, and
each pair prints the FileStore read alone (parsed to Arrow, nothing written), the best raw
load of the same rows (the big tables bare, then their keys and indexes built, as
mlmigrate's bulk load does), the keyed raw load, and ``mlmigrate copy`` with and without
verify; the target is the copy with verify within the read alone plus the best raw load.

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


def _read_alone(uri: str) -> float:
    """Seconds to read every unit of ``uri`` into Arrow batches, in this process, writing nothing."""
    from mlmigrate.stores import open_source

    store = open_source(uri)
    try:
        started = time.perf_counter()
        for unit in store.units():
            for _ in store.read_unit(unit):
                pass
        return time.perf_counter() - started
    finally:
        store.close()


def _best_raw_load(uri: str, batches: list[tuple[str, Any]]) -> float:
    """Seconds to load ``batches`` into the fresh database ``uri`` without the big tables' keys
    and indexes (one transaction), then build them (in parallel where the server can)."""
    from mlmigrate.stores import open_store

    store = open_store(uri)
    try:
        store.prepare()
        keys = store.key_plan()
        store.drop_keys(keys)
        bulk = store._bulk
        started = time.perf_counter()
        with bulk.transaction() as connection:
            bulk.execute(connection, 'DELETE FROM "workspaces" WHERE name = :unit', "default")
            for table, batch in batches:
                bulk.insert(connection, table, batch)
        store.build_keys(keys)
        return time.perf_counter() - started
    finally:
        store.close()


def _filestore_pairs(args: argparse.Namespace, store: Path, work: Path, servers: dict[str, Any]) -> int:
    """FileStore -> PostgreSQL and -> MySQL: the source read alone, the best raw load (bare, then
    the keys), the keyed raw load and mlmigrate copy with and without verify, in one run."""
    figures: dict[str, Any] = {}
    for family, server in servers.items():
        reads, best, keyed, copies, unverified = [], [], [], [], []
        for _ in range(args.repeat):
            reads.append(_read_alone(str(store)))
            destination = server.create_database()
            seconds, report = _copy(str(store), destination, work / "state")
            copies.append(seconds)
            unverified.append(_copy(str(store), server.create_database(), work / "state", "--no-verify")[0])
            rows = _rows_of(destination)
            best.append(_best_raw_load(server.create_database(), rows))
            keyed.append(_raw_load(server.create_database(), rows))
        figure = {
            "rows": report["rows_written"],
            "read_alone": statistics.median(reads),
            "best_raw": statistics.median(best),
            "keyed_raw": statistics.median(keyed),
            "mlmigrate": statistics.median(copies),
            "mlmigrate_no_verify": statistics.median(unverified),
        }
        figure["target"] = figure["read_alone"] + figure["best_raw"]
        figure["met"] = figure["mlmigrate"] <= figure["target"]
        figures[f"filestore -> {family}"] = figure
    print(f"medians of {args.repeat} runs each, seconds; target: mlmigrate <= read alone + best raw load")
    print(
        f"{'pair':22} {'rows':>9} {'read':>6} {'best raw':>9} {'keyed raw':>10} {'mlmigrate':>10} "
        f"{'no-verify':>10} {'target':>7} met"
    )
    for pair, f in figures.items():
        print(
            f"{pair:22} {f['rows']:>9,} {f['read_alone']:>6.2f} {f['best_raw']:>9.2f} "
            f"{f['keyed_raw']:>10.2f} "
            f"{f['mlmigrate']:>10.2f} {f['mlmigrate_no_verify']:>10.2f} {f['target']:>7.2f} {f['met']}"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--runs", type=int, default=25, help="runs per experiment")
    parser.add_argument("--metric-points", type=int, default=200, help="points per metric key")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians are printed")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--from-filestore",
        action="store_true",
        help="copy the generated FileStore into each server instead (read alone, raw loads, copies)",
    )
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
        # MLflow's migrations run once per server version and MLflow version (then their
        # schema is replayed from the user cache folder): not timed
        for server in (postgres, mariadb):
            _raw_load(server.create_database(), [])
        if args.from_filestore:
            return _filestore_pairs(args, store, work, {"postgresql": postgres, "mysql": mariadb})
        sqlite = f"sqlite:///{work / 'source.db'}"
        _copy(str(store), sqlite, work / "state")
        figures: dict[str, Any] = {}
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
