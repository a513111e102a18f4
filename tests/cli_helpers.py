"""Helpers shared by the mlmigrate test modules: run the CLI, read destination databases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlflow_compare import normalize_uri

CLI = [sys.executable, "-m", "mlmigrate"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlmigrate ARGS`` (inheriting the test's environment) and capture it."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class CliResult:
    """One in-process run of the CLI, shaped like :class:`subprocess.CompletedProcess`."""

    returncode: int
    stdout: str
    stderr: str


class _Ran(Protocol):
    returncode: int
    stdout: str
    stderr: str


def invoke(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run ``mlmigrate ARGS`` in this process (typer's ``CliRunner``), its stdout and stderr
    captured apart; ``env`` is laid over the environment for the run. Use :func:`run_cli` only
    for what needs its own process (signals, kills, a fresh interpreter)."""
    from typer.testing import CliRunner

    from mlmigrate.cli import app

    result = CliRunner().invoke(app, list(args), env=env, prog_name="mlmigrate")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # what a child process would have printed: the traceback of the unexpected error
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return CliResult(result.exit_code, result.stdout, stderr)


#: the contract suite's name for :func:`invoke`
run_cli_here = invoke


def show(result: _Ran) -> str:
    """Everything a failed assertion on a CLI run needs to show."""
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def squash(text: str) -> str:
    """``text`` without any whitespace: undoes the hard wrapping of rich's console output."""
    return re.sub(r"\s+", "", text)


def json_stdout(result: _Ran) -> Any:
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
