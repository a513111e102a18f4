"""Plain tables: mlmigrate against pandas read_sql/to_sql, DuckDB ATTACH + CREATE TABLE AS and
PostgreSQL COPY, on one generated dataset (a few tables of mixed types), in one run.

Pairs: SQLite → DuckDB, SQLite → PostgreSQL, DuckDB → PostgreSQL through ``mlmigrate copy``
(verify included), next to the references on the same rows. Each runs in a child process whose
wall time and peak RSS are measured; the ratios are printed.

    .venv/bin/python benchmarks/plain_tables.py --rows 5000000     # the issue's size
    .venv/bin/python benchmarks/plain_tables.py --rows 500000      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def generate(path: Path, rows: int) -> None:
    """``train`` (60% of the rows), ``test`` (30%) and ``train_features`` (10%), as MDM writes them."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    shares = {"train": 0.6, "test": 0.3, "train_features": 0.1}
    for table, share in shares.items():
        connection.execute(
            f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, label TEXT, score REAL, flag BOOLEAN, '
            "at TIMESTAMP, amount TEXT DECIMAL(12,2), category TEXT)"
        )
        count = int(rows * share)
        connection.execute(
            f"""INSERT INTO "{table}" WITH RECURSIVE n(i) AS
            (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
            SELECT i, 'label ' || (i % 1000), (i % 9973) / 7.0, i % 2,
                   datetime(1600000000 + i, 'unixepoch'), printf('%.2f', (i % 100000) / 100.0),
                   CASE WHEN i % 10 = 0 THEN NULL ELSE 'c' || (i % 17) END FROM n"""
        )
    connection.commit()
    connection.close()


_PANDAS = """
import sys, pandas, sqlalchemy
source, target = sys.argv[1], sys.argv[2]
read = sqlalchemy.create_engine(source)
write = sqlalchemy.create_engine(target)
for table in ("train", "test", "train_features"):
    for chunk in pandas.read_sql(f'SELECT * FROM "{table}"', read, chunksize=100000):
        chunk.to_sql(table, write, if_exists="append", index=False, chunksize=100000)
"""

# DuckDB's sqlite extension, from PyPI: a wheel built for one DuckDB version (1.5.5), so the
# reference runs in a venv of its own with that DuckDB (DuckDB downloads extensions at run
# time from its own site otherwise, which this machine cannot reach)
REFERENCE_DUCKDB = ("duckdb==1.5.5", "duckdb-extension-sqlite-scanner==1.5.5")
_ATTACH = """
import sys, pathlib, duckdb, duckdb_extension_sqlite_scanner as extension
connection = duckdb.connect(sys.argv[2])
found = next(pathlib.Path(extension.__file__).parent.rglob("*.duckdb_extension"))
connection.execute(f"LOAD '{found}'")
connection.execute(f"ATTACH '{sys.argv[1]}' AS source (TYPE sqlite)")
for table in ("train", "test", "train_features"):
    connection.execute(f'CREATE TABLE "{table}" AS SELECT * FROM source."{table}"')
"""

_COPY = """
import sys, io, sqlite3, psycopg, csv
source, target = sys.argv[1], sys.argv[2]
with psycopg.connect(target) as pg:
    for table in ("train", "test", "train_features"):
        pg.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, label TEXT, score DOUBLE PRECISION, '
                   'flag BOOLEAN, at TIMESTAMP, amount DECIMAL(12,2), category TEXT)')
        rows = sqlite3.connect(source).execute(f'SELECT * FROM "{table}"')
        with pg.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
"""


def _tree_rss(root: Any) -> int:
    """Resident bytes of a process and all its descendants now (0 once gone)."""
    import psutil

    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def measured(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command``; its wall time, peak RSS of the process itself and of its whole process
    tree (sampled every 0.1 s: helper processes included), in MiB, and whether it succeeded."""
    import threading

    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    root = psutil.Process(process.pid)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], _tree_rss(root))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    error = process.stderr.read().decode()[-400:] if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    ok = os.waitstatus_to_exitcode(status) == 0
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024),
            "tree_rss_mib": round(max(peak[0], usage.ru_maxrss * 1024) / 2**20), "ok": ok,
            **({} if ok else {"error": error.strip().splitlines()[-1:] })}  # fmt: skip


def reference_python(folder: Path) -> tuple[str | None, str]:
    """The Python of a venv with :data:`REFERENCE_DUCKDB` (made once in ``folder``), or None
    and why not."""
    python = folder / "bin" / "python"
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(folder)], capture_output=True, text=True)
        if made.returncode != 0:
            return None, made.stderr.strip()[-300:]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *REFERENCE_DUCKDB], capture_output=True, text=True
    )
    if installed.returncode != 0:
        return None, f"pip install {' '.join(REFERENCE_DUCKDB)}: {installed.stderr.strip()[-300:]}"
    return str(python), ""


def mlmigrate_copy(source: str, target: str, state: Path, *options: str) -> dict[str, Any]:
    """``mlmigrate copy`` (verify included unless ``--no-verify`` is given)."""
    command = [sys.executable, "-m", "mlmigrate", "copy", source, target, "--state-dir", str(state), "-q"]
    return measured([*command, *options])


def main(argv: list[str] | None = None) -> int:
    """Generate, run every row, print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--reference-venv",
        type=Path,
        default=Path.home() / ".cache" / "mlmigrate-bench" / "duckdb-1.5.5",
        help="venv for the DuckDB ATTACH reference (made when missing)",
    )
    parser.add_argument("--skip-pandas", action="store_true", help="leave out the pandas row (slow)")
    args = parser.parse_args(argv)
    from servers import start_postgres

    with tempfile.TemporaryDirectory(prefix="mlmigrate-bench-tables-") as folder, start_postgres() as server:
        work = Path(folder)
        os.chmod(work, 0o755)
        source = work / "dataset.sqlite"
        generate(source, args.rows)
        sqlite_uri = f"sqlite:///{source}"
        state = work / "state"
        results: dict[str, dict[str, Any]] = {}
        results["mlmigrate sqlite→duckdb"] = mlmigrate_copy(sqlite_uri, f"duckdb:///{work}/m.duckdb", state)
        python, why = reference_python(args.reference_venv)
        results["duckdb ATTACH + CTAS"] = (
            measured([python, "-c", _ATTACH, str(source), str(work / "ref.duckdb")])
            if python
            else {"seconds": 0.0, "peak_rss_mib": 0, "tree_rss_mib": 0, "ok": False, "error": why}
        )
        results["mlmigrate sqlite→postgresql"] = mlmigrate_copy(sqlite_uri, server.create_database(), state)
        results["mlmigrate sqlite→postgresql --no-verify"] = mlmigrate_copy(
            sqlite_uri, server.create_database(), state, "--no-verify"
        )
        results["postgresql COPY (psycopg rows)"] = measured(
            [sys.executable, "-c", _COPY, str(source), server.create_database()]
        )
        pg_for_pandas = server.create_database().replace("postgresql://", "postgresql+psycopg://")
        if not args.skip_pandas:
            results["pandas read_sql + to_sql → postgresql"] = measured(
                [sys.executable, "-c", _PANDAS, f"sqlite:///{source}", pg_for_pandas]
            )
        results["mlmigrate duckdb→postgresql"] = mlmigrate_copy(
            f"duckdb:///{work}/m.duckdb", server.create_database(), state
        )
    print(f"{args.rows:,} rows (3 tables, 7 columns of mixed types)")
    for name, result in results.items():
        state_text = "" if result["ok"] else f"  FAILED: {result.get('error')}"
        print(
            f"  {name:<42} {result['seconds']:>8.2f} s  peak RSS {result['peak_rss_mib']:>6} MiB"
            f"  (process tree {result['tree_rss_mib']:>6} MiB){state_text}"
        )
    ratios = {}

    def ratio(name: str, slow: str, fast: str) -> None:
        if slow in results and fast in results and results[slow]["ok"] and results[fast]["ok"]:
            ratios[name] = round(results[slow]["seconds"] / results[fast]["seconds"], 2)

    ratio(
        "pandas / mlmigrate (sqlite→postgresql)",
        "pandas read_sql + to_sql → postgresql",
        "mlmigrate sqlite→postgresql",
    )
    ratio(
        "mlmigrate / COPY (sqlite→postgresql)",
        "mlmigrate sqlite→postgresql",
        "postgresql COPY (psycopg rows)",
    )
    ratio("mlmigrate / ATTACH+CTAS (sqlite→duckdb)", "mlmigrate sqlite→duckdb", "duckdb ATTACH + CTAS")
    for name, value in ratios.items():
        print(f"  {name:<42} {value:>8.2f}×")
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"rows": args.rows, "results": results, "ratios": ratios}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
