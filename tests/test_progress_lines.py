"""Progress where stderr is a log (CI, cron, Kubernetes): a line every so often with units,
rows, rate and ETA, instead of silence until the end; ``-v`` a line per unit; MLflow's own
INFO lines are not printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import invoke, show, sqlite_uri


def test_a_copy_into_a_log_prints_progress_lines(minimal_store: Path, tmp_path: Path) -> None:
    result = invoke(
        "-v",
        "copy",
        str(minimal_store),
        sqlite_uri(tmp_path / "dst.db"),
        env={"MLMIGRATE_PROGRESS_INTERVAL": "0"},
    )

    assert result.returncode == 0, show(result)
    lines = [line for line in result.stderr.splitlines() if line.startswith("copying: ")]
    assert lines, show(result)
    assert all(" units, " in line and " rows/s" in line for line in lines)
    assert any(", ETA " in line for line in lines), lines
    assert "done experiment:" in result.stderr


def test_neither_the_cli_nor_the_library_prints_mlflows_info_lines(
    minimal_store: Path, tmp_path: Path
) -> None:
    """'INFO mlflow.store.db.utils: Creating initial MLflow database tables...' came with every
    copy into a new database, from the command and from a plain script using the library."""
    cold = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # MLflow's migrations run
    script = f"import mlmigrate; mlmigrate.copy({str(minimal_store)!r}, {sqlite_uri(tmp_path / 'lib.db')!r})"
    library = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=cold
    )
    command = subprocess.run(
        [sys.executable, "-m", "mlmigrate", "copy", str(minimal_store), sqlite_uri(tmp_path / "cli.db")],
        capture_output=True,
        text=True,
        check=False,
        env={**cold, "XDG_CACHE_HOME": str(tmp_path / "cache-2")},
    )

    for ran in (library, command):
        assert ran.returncode == 0, ran.stderr
        assert "Creating initial MLflow database tables" not in ran.stderr, ran.stderr
        assert "INFO mlflow" not in ran.stderr and "INFO  [alembic" not in ran.stderr, ran.stderr
