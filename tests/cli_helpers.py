"""Helpers shared by the mlmigrate test modules: run the CLI, read destination databases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlflow_compare import normalize_uri

CLI = [sys.executable, "-m", "mlmigrate"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlmigrate ARGS`` (inheriting the test's environment) and capture it."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def run_cli_here(*args: str) -> subprocess.CompletedProcess[str]:
    """``mlmigrate ARGS`` run in this process (no interpreter start, no imports again), with
    its stdout, stderr and exit code captured as :func:`run_cli` gives them. Not for a command
    that must be killed or interrupted: that needs :func:`run_cli`."""
    import contextlib
    import gc
    import io

    from mlmigrate.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    argv, code = sys.argv, 0
    sys.argv = ["mlmigrate", *args]
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        gc.unfreeze()  # main() freezes the heap for a quick interpreter exit; this one goes on
    return subprocess.CompletedProcess(["mlmigrate", *args], code, stdout.getvalue(), stderr.getvalue())


def show(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a failed assertion on a CLI run needs to show."""
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def squash(text: str) -> str:
    """``text`` without any whitespace: undoes the hard wrapping of rich's console output."""
    return re.sub(r"\s+", "", text)


def json_stdout(result: subprocess.CompletedProcess[str]) -> Any:
    """stdout parsed as one JSON document (fails loudly when it is not)."""
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not JSON ({exc}):\n{show(result)}") from exc


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


def engine_for(uri: str) -> Any:
    """A SQLAlchemy engine on a destination URI (``postgresql://`` goes through psycopg 3)."""
    import sqlalchemy

    return sqlalchemy.create_engine(normalize_uri(uri), poolclass=sqlalchemy.NullPool)


def query(uri: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    import sqlalchemy

    engine = engine_for(uri)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sqlalchemy.text(sql), params or {})]
    finally:
        engine.dispose()


def execute(uri: str, sql: str, params: dict[str, Any] | None = None) -> int:
    """Run one writing statement in its own transaction; return the affected row count."""
    import sqlalchemy

    engine = engine_for(uri)
    try:
        with engine.begin() as connection:
            return connection.execute(sqlalchemy.text(sql), params or {}).rowcount
    finally:
        engine.dispose()


def count(uri: str, table: str) -> int:
    return query(uri, f"SELECT count(*) FROM {table}")[0][0]


def row_counts(uri: str, tables: tuple[str, ...] = ("experiments", "runs", "metrics", "params")) -> dict:
    return {table: count(uri, table) for table in tables}
