"""Crash safety: a copy killed with SIGKILL at any point resumes to an exact, duplicate-free copy."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cli_helpers import CLI, count, query, run_cli, show, sqlite_uri
from contract.kinds import tolerances
from mlflow_compare import compare_stores

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "benchmarks" / "generate_store.py"
#: tables whose destination row count must equal what the generator wrote
COUNTED_TABLES = ("experiments", "runs", "params", "tags", "metrics", "latest_metrics", "model_versions")


def _generate(folder: Path, experiments: int, runs: int, metric_points: int) -> tuple[Path, dict[str, int]]:
    out = folder / "mlruns"
    result = subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--out",
            str(out),
            "--experiments",
            str(experiments),
            "--runs",
            str(runs),
            "--metrics",
            "4",
            "--metric-points",
            str(metric_points),
            "--models",
            "3",
            "--versions",
            "2",
            "--traces",
            "4",
            "--seed",
            "11",
            "--no-validate",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out, json.loads(result.stdout)["counts"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A medium FileStore (12 experiments x 10 runs, 3 models) and the generator's row counts.

    Read-only: shared by every test of the module."""
    return _generate(tmp_path_factory.mktemp("generated"), 12, 10, 60)


def _journal(state_dir: Path) -> Path:
    return state_dir / "journal.sqlite"


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The journal file of this test's own state folder (the CLI finds it through the env)."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("MLMIGRATE_STATE_DIR", str(state_dir))
    return _journal(state_dir)


def _done_units(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute("SELECT count(*) FROM units WHERE state = 'done'").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.OperationalError:  # not created yet, or busy: try again
        return 0


def _journal_rows(journal: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(journal)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _copy_and_kill_after(
    args: list[str], journal: Path, units_done: int, log: Path, sig: signal.Signals = signal.SIGKILL
) -> int:
    """Start ``mlmigrate copy ARGS``, send ``sig`` once ``units_done`` units are journaled done;
    return how many were done at that moment."""
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*CLI, "copy", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            # a shell without job control starts background jobs with SIGINT ignored, and then
            # Python installs no Ctrl-C handler: give the copy what a terminal gives it
            preexec_fn=_default_sigint,
        )
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    pytest.fail(
                        f"copy ended (exit {process.returncode}) before {units_done} units were done; "
                        f"stderr:\n{log.read_text()}"
                    )
                done = _done_units(journal)
                if done >= units_done:
                    process.send_signal(sig)
                    returncode = process.wait(timeout=60)
                    if sig == signal.SIGINT:
                        assert returncode == 130, log.read_text()
                    return done
                time.sleep(0.003)
            pytest.fail(f"copy did not reach {units_done} done units in time")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    raise AssertionError("unreachable")


def _assert_resumed_exactly(
    source: Path, destination: str, counts: dict[str, int], journal: Path, kind: str, tmp_path: Path
) -> None:
    resumed = run_cli("copy", str(source), destination)
    assert resumed.returncode == 0, show(resumed)
    assert "resuming migration" in resumed.stderr, show(resumed)
    states = _journal_rows(journal, "SELECT state, count(*) FROM units GROUP BY state")
    # every unit done: one per experiment (Default and deleted ones included) and per model
    assert dict(states) == {"done": counts["experiments"] + counts["registered_models"]}

    verified = run_cli("verify", str(source), destination)
    assert verified.returncode == 0, show(verified)

    for table in COUNTED_TABLES:
        assert count(destination, table) == counts[table], table
    metric_columns = "key, value, timestamp, run_uuid, step, is_nan"
    distinct = query(
        destination, f"SELECT count(*) FROM (SELECT DISTINCT {metric_columns} FROM metrics) AS d"
    )[0][0]
    assert distinct == count(destination, "metrics")
    distinct_params = query(
        destination, "SELECT count(*) FROM (SELECT DISTINCT key, run_uuid FROM params) AS d"
    )[0][0]
    assert distinct_params == count(destination, "params")

    assert compare_stores(source.as_uri(), destination, tolerate=tolerances(destination)) == []


#: Runs the CLI, but SIGKILLs the process at an exact point: ``where`` is patched to kill.
_KILL_AT = """
import os, signal, sys
import mlflow.store.db.utils
import mlmigrate.engine.copy

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

module, name = sys.argv[1].rsplit(".", 1)
getattr(sys.modules[module], name)  # a name the code no longer calls would kill nothing
setattr(sys.modules[module], name, die)
from mlmigrate.cli import main
sys.argv = ["mlmigrate", *sys.argv[2:]]
main()
"""
#: after the destination schema is complete, before the journal holds the migration
AFTER_SCHEMA = "mlmigrate.engine.copy.plan_for"
#: inside MLflow's schema creation: initial tables committed, alembic migrations not yet run
INSIDE_MLFLOW_SCHEMA = "mlflow.store.db.utils._upgrade_db"


def _kill_at(where: str, source: Path, destination: str) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AT, where, "copy", str(source), destination, "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, show(killed)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_copy_killed_before_the_journal_exists_resumes(
    generated: tuple[Path, dict[str, int]], tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    source, counts = generated
    destination = (
        sqlite_uri(tmp_path / "dst.db") if backend == "sqlite" else request.getfixturevalue("postgres_db")
    )
    _kill_at(AFTER_SCHEMA, source, destination)

    resumed = run_cli("copy", str(source), destination, "-q")

    assert resumed.returncode == 0, show(resumed)
    assert count(destination, "runs") == counts["runs"]


def test_copy_killed_inside_schema_creation_resumes_on_postgresql(
    generated: tuple[Path, dict[str, int]], postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, counts = generated
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no recorded schema: migrations run
    _kill_at(INSIDE_MLFLOW_SCHEMA, source, postgres_db)

    resumed = run_cli("copy", str(source), postgres_db, "-q")

    assert resumed.returncode == 0, show(resumed)
    assert count(postgres_db, "runs") == counts["runs"]


def test_ctrl_c_exits_130_with_the_resume_command_and_resumes_exactly(
    generated: tuple[Path, dict[str, int]], tmp_path: Path, journal: Path
) -> None:
    source, counts = generated
    destination = sqlite_uri(tmp_path / "dst.db")
    log = tmp_path / "log"

    done = _copy_and_kill_after([str(source), destination], journal, 2, log, signal.SIGINT)

    message = log.read_text()
    assert f"resume with: mlmigrate copy {source} {destination}" in message
    assert "Traceback" not in message
    assert _journal_rows(journal, "SELECT state FROM migrations") == [("interrupted",)]
    assert done < 17
    _assert_resumed_exactly(source, destination, counts, journal, "sqlite", tmp_path)


def test_the_same_stores_spelled_differently_are_the_same_migration(
    minimal_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder path, its parent holding mlruns/, and a file:// URI; a relative and an absolute
    SQLite path: one migration, so the second spelling has nothing to do."""
    monkeypatch.chdir(tmp_path)
    first = run_cli("copy", str(minimal_store), "sqlite:///dst.db", "-q")
    assert first.returncode == 0, show(first)

    for source in (minimal_store.as_uri(), str(minimal_store.parent)):
        again = run_cli("copy", source, sqlite_uri(tmp_path / "dst.db"))
        assert again.returncode == 0, show(again)
        assert "nothing to do" in again.stderr, show(again)


def _kill_backends(
    postgres_db: str,
    *,
    kills: int,
    spacing: float,
    start: Callable[[], bool],
    stop: threading.Event,
    enough: int = 1_000,
) -> list[bool]:
    """Once ``start()`` holds, terminate the test database's server connections, up to ``kills``
    times or until ``enough`` of them were terminated."""
    database = postgres_db.rsplit("/", 1)[1]
    admin = postgres_db.rsplit("/", 1)[0] + "/postgres"
    terminated: list[bool] = []
    with psycopg.connect(admin, autocommit=True) as connection:
        while not start():
            if stop.wait(0.005):
                return terminated
        for _ in range(kills):
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
            terminated += [row[0] for row in rows]
            if sum(terminated) >= enough or stop.wait(spacing):
                break
    return terminated


def _copy_while_killing(source: Path, postgres_db: str, **kill: Any) -> tuple[Any, list[bool]]:
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        killer = pool.submit(_kill_backends, postgres_db, stop=stop, **kill)
        try:
            result = run_cli("copy", str(source), postgres_db, "-q")
        finally:
            stop.set()
        return result, killer.result()


def _assert_exact(source: Path, postgres_db: str, counts: dict[str, int]) -> None:
    verified = run_cli("verify", str(source), postgres_db)
    assert verified.returncode == 0, show(verified)
    for table in COUNTED_TABLES:
        assert count(postgres_db, table) == counts[table], table
    assert compare_stores(source.as_uri(), postgres_db, tolerate=tolerances(postgres_db)) == []


def test_connections_dropped_while_units_are_written_are_retried(
    generated: tuple[Path, dict[str, int]], postgres_db: str, journal: Path
) -> None:
    """The server kills our connections mid-copy (pg_terminate_backend); the units hit are
    retried and the same run ends with an exact copy."""
    source, counts = generated

    result, terminated = _copy_while_killing(
        source, postgres_db, kills=300, spacing=0.01, enough=2, start=lambda: _done_units(journal) >= 1
    )

    assert any(terminated), "the test must actually drop a connection of the copy"
    assert result.returncode == 0, show(result)
    _assert_exact(source, postgres_db, counts)
