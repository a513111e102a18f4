"""Time a server → server copy over REST: mlmigrate against mlflow-migration, same servers, one run.

    .venv/bin/python benchmarks/rest_benchmark.py                         # a small store
    .venv/bin/python benchmarks/rest_benchmark.py --experiments 20 --runs 25 --metric-points 200
    .venv/bin/python benchmarks/rest_benchmark.py --latency 50     # servers 50 ms away (a proxy)

A FileStore is generated (benchmarks/generate_store.py) and copied into SQLite (setup, not
timed), and a real ``mlflow server`` serves it: the source, with the server's own ids. Two more
servers on new SQLite files are the destinations. Timed, one after the other:

* ``mlmigrate copy http://source http://dest-1 --json`` (a child process, verify included);
* mlflow-migration (PyPI ``mlflow-migration``, the peer tool): ``export-all`` (deleted runs
  too, threads) from the source into a folder, then ``import-all`` (threads) into dest-2, with
  ``MLFLOW_TRACKING_URI`` set to each server.
  It asks for Python 3.12 in its metadata; it runs here on 3.11 from a venv of its own
  (``--peer-venv``, made on first use: MLflow, then the tool with ``--ignore-requires-python``).

Printed: each tool's seconds and records per second, the ratio, and the rows each destination
server's database holds per table against the source's (MLflow's own SQL rows, counted directly).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

#: the tables compared between the source's database and each destination's
TABLES = (
    "experiments",
    "runs",
    "params",
    "tags",
    "metrics",
    "latest_metrics",
    "datasets",
    "inputs",
    "logged_models",
    "logged_model_params",
    "logged_model_tags",
    "registered_models",
    "model_versions",
    "registered_model_aliases",
)
PEER = "mlflow-migration==1.2.2"


def peer_venv(path: Path) -> Path:
    """The venv holding mlflow-migration (made on first use); its bin folder. Its metadata asks
    for Python 3.12, which would also pull dependencies that need it: MLflow and the two it
    imports come first, then the tool without its dependency list."""
    if not (path / "bin" / "mlflow-migration-export-all").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "mlflow==3.17.2", "tabulate", "databricks-cli", "wheel"], check=True)
        subprocess.run([*pip, "--no-deps", "--ignore-requires-python", PEER], check=True)
    return path / "bin"


def rows(database: Path) -> dict[str, int]:
    """Rows per table of an MLflow SQLite database (tags without mlmigrate's own)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        found = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        found["tags"] -= connection.execute(
            "SELECT count(*) FROM tags WHERE key LIKE 'mlmigrate.%'"
        ).fetchone()[0]
        found["logged_model_tags"] -= connection.execute(
            "SELECT count(*) FROM logged_model_tags WHERE tag_key LIKE 'mlmigrate.%'"
        ).fetchone()[0]
        found["model_versions"] = connection.execute(
            "SELECT count(*) FROM model_versions WHERE current_stage <> 'Deleted_Internal'"
        ).fetchone()[0]
    return found


def timed(command: list[str], **options: object) -> float:
    """Seconds ``command`` took (it must succeed)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **options)  # type: ignore[call-overload]
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10, help="runs per experiment")
    parser.add_argument("--metric-points", type=int, default=100, help="points per metric key")
    parser.add_argument("--models", type=int, default=3, help="registered models")
    parser.add_argument("--peer-venv", type=Path, default=HERE / ".venv-mlflow-migration")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="milliseconds each request waits in a proxy in front of every server (a remote server)",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    from servers_rest import start_mlflow_server

    peer = peer_venv(args.peer_venv.resolve())
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="rest-bench-") as scratch, contextlib.ExitStack() as stack:
        work = Path(scratch)
        store = work / "mlruns"
        generate = [python, str(HERE / "generate_store.py"), "--out", str(store), "--no-validate"]
        generate += ["--experiments", str(args.experiments), "--runs", str(args.runs)]
        generate += [
            "--metric-points",
            str(args.metric_points),
            "--models",
            str(args.models),
            "--traces",
            "0",
        ]
        timed(generate)
        folders = {name: work / name for name in ("source", "mlmigrate", "peer")}
        for folder in folders.values():
            folder.mkdir()
        state = ["--state-dir", str(work / "state")]
        database = folders["source"] / "mlflow.db"
        timed([python, "-m", "mlmigrate", "copy", str(store), f"sqlite:///{database}", "-q", *state])
        servers = {name: stack.enter_context(start_mlflow_server(folder)) for name, folder in folders.items()}
        urls = {name: server.url for name, server in servers.items()}
        if args.latency:
            from rest_proxy import Behaviour, misbehaving_proxy

            slow = Behaviour(delay=args.latency / 1000)
            urls = {name: stack.enter_context(misbehaving_proxy(url, slow)) for name, url in urls.items()}
        source = urls["source"]
        source_rows = rows(database)
        records = sum(source_rows.values())

        ours = timed([python, "-m", "mlmigrate", "copy", source, urls["mlmigrate"], "--json", "-q", *state])
        exported = work / "exported"
        environment = dict(os.environ, MLFLOW_TRACKING_URI=source)
        export = [str(peer / "mlflow-migration-export-all"), "--output-dir", str(exported)]
        export += ["--export-deleted-runs", "true", "--use-threads", "true"]  # its best: all runs, threads
        theirs_export = timed(export, env=environment)
        environment = dict(os.environ, MLFLOW_TRACKING_URI=urls["peer"])
        load = [
            str(peer / "mlflow-migration-import-all"),
            "--input-dir",
            str(exported),
            "--use-threads",
            "true",
        ]
        theirs_import = timed(load, env=environment)
        theirs = theirs_export + theirs_import

        result = {
            "records": records,
            "latency_ms": args.latency,
            "mlmigrate_seconds": round(ours, 2),
            "mlflow_migration_seconds": round(theirs, 2),
            "mlflow_migration_export_seconds": round(theirs_export, 2),
            "ratio": round(theirs / ours, 2),
            "rows": {
                "source": source_rows,
                "mlmigrate": rows(servers["mlmigrate"].database),
                "mlflow_migration": rows(servers["peer"].database),
            },
        }
    print(f"records in the source server: {records:,} (each request delayed {args.latency:g} ms)")
    print(f"mlmigrate copy (incl. verify):     {ours:8.2f} s  {records / ours:10,.0f} records/s")
    print(
        f"mlflow-migration export+import:   {theirs:8.2f} s  {records / theirs:10,.0f} records/s "
        f"(export {theirs_export:.2f} s)"
    )
    print(f"ratio (mlflow-migration / mlmigrate): {theirs / ours:.1f}x")
    print(f"{'table':<26}{'source':>10}{'mlmigrate':>11}{'mlflow-migration':>18}")
    for table in TABLES:
        line = [result["rows"][side][table] for side in ("source", "mlmigrate", "mlflow_migration")]
        print(f"{table:<26}{line[0]:>10}{line[1]:>11}{line[2]:>18}")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
