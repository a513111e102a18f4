"""Time a home-made registry copied SQLite → PostgreSQL by mlmigrate against the seed guide's
own method (its ``migrate_sqlite_to_postgresql`` script: one ``INSERT … ON CONFLICT (id) DO
NOTHING`` per row, one transaction), on the same private PostgreSQL, in one run.

    .venv/bin/python benchmarks/registry_benchmark.py                    # 10,000 models × 10 × 5
    .venv/bin/python benchmarks/registry_benchmark.py --models 1000      # smaller

The registry is generated straight into SQLite with the application's DDL (setup, not timed).
The guide's method gets the same tables created beforehand (untimed; it has no DDL of its own);
mlmigrate's copy is a whole ``python -m mlmigrate copy`` process (planning, journal, one
transaction per model, id sequences, verify by read-back), and is also timed ``--no-verify``.
The ratio guide seconds / mlmigrate seconds is printed.
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
sys.path.insert(0, str(HERE.parent / "src"))


def generate(path: Path, models: int, versions: int, tags: int) -> int:
    """A registry of ``models`` × ``versions`` × ``tags`` in SQLite, as the app lays it out; rows."""
    from mlmigrate.stores.registry.layout import SQLITE_DDL

    db = sqlite3.connect(path)
    db.executescript(SQLITE_DDL)
    stamp = "2025-08-19T13:52:40.501616"
    db.executemany(
        "INSERT INTO mr_models (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        ((m + 1, f"model_{m}", stamp, stamp) for m in range(models)),
    )
    db.executemany(
        "INSERT INTO mr_model_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (m * versions + v + 1, m + 1, str(v + 1), "", f"model_{m}/v{v + 1}/model.pkl", 40, stamp)
            for m in range(models)
            for v in range(versions)
        ),
    )
    db.executemany(
        "INSERT INTO mr_model_tags VALUES (?, ?, ?, ?)",
        (
            ((i * tags) + t + 1, i + 1, f"tag_{t}", str(t * 0.5))
            for i in range(models * versions)
            for t in range(tags)
        ),
    )
    db.commit()
    db.close()
    return models + models * versions + models * versions * tags


def guide_method(sqlite_file: Path, url: str) -> float:
    """The guide's script, row by row (psycopg 3 in place of psycopg2); seconds."""
    import psycopg

    from mlmigrate.stores.registry.server_ddl import POSTGRESQL_DDL

    with psycopg.connect(url) as connection:  # its schema, untimed ("same schema" as SQLite's)
        for statement in POSTGRESQL_DDL:
            connection.execute(statement)
    started = time.perf_counter()
    source = sqlite3.connect(sqlite_file)
    source.row_factory = sqlite3.Row
    with psycopg.connect(url) as pg:
        cursor = pg.cursor()
        for row in source.execute("SELECT * FROM mr_models"):
            cursor.execute(
                "INSERT INTO mr_models (id, name, description, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (row["id"], row["name"], row["description"], row["created_at"], row["updated_at"]),
            )
        for row in source.execute("SELECT * FROM mr_model_versions"):
            cursor.execute(
                "INSERT INTO mr_model_versions (id, model_id, version, description, storage_path, "
                "file_size_bytes, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                tuple(row),
            )
        for row in source.execute("SELECT * FROM mr_model_tags"):
            cursor.execute(
                "INSERT INTO mr_model_tags (id, model_version_id, tag_key, tag_value) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                tuple(row),
            )
        pg.commit()
    source.close()
    return time.perf_counter() - started


def mlmigrate_copy(source: str, url: str, state: Path, *options: str) -> tuple[float, dict[str, Any]]:
    """``python -m mlmigrate copy`` as a user runs it; seconds and report."""
    env = dict(os.environ, MLMIGRATE_STATE_DIR=str(state))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlmigrate", "copy", source, url, "--json", *options],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mlmigrate copy failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the figures (and write them to ``--json-out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    from servers import start_postgres

    with (
        tempfile.TemporaryDirectory(prefix="mlmigrate-bench-registry-") as folder,
        start_postgres() as server,
    ):
        work = Path(folder)
        database = work / "registry.db"
        rows = generate(database, args.models, args.versions, args.tags)
        guide = guide_method(database, server.create_database())
        copied, report = mlmigrate_copy(f"sqlite:///{database}", server.create_database(), work / "state")
        assert report["verify"]["ok"], report["verify"]
        unverified, _ = mlmigrate_copy(
            f"sqlite:///{database}", server.create_database(), work / "state2", "--no-verify"
        )
        figures = {
            "models": args.models,
            "rows": rows,
            "guide_row_by_row_seconds": round(guide, 2),
            "mlmigrate_copy_seconds": round(copied, 2),
            "mlmigrate_copy_no_verify_seconds": round(unverified, 2),
            "ratio_guide_over_mlmigrate": round(guide / copied, 2),
            "ratio_guide_over_mlmigrate_no_verify": round(guide / unverified, 2),
        }
    print(json.dumps(figures, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
