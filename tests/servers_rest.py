"""A real ``mlflow server`` on loopback for the REST store's tests: one per session, on SQLite,
emptied between tests (``reset``) instead of started again (a start takes seconds)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import free_port, serve_process

#: tables whose rows the server made itself at its start, kept by ``reset``
_KEPT = {"alembic_version", "workspaces"}
#: url -> its server, for the contract fixture's counts and tampering
SERVERS: dict[str, MlflowServer] = {}


@dataclass
class MlflowServer:
    """A running ``mlflow server`` and the SQLite file behind it."""

    url: str
    database: Path
    artifacts: Path

    def connect(self) -> sqlite3.Connection:
        """A connection to the server's database (what the store itself holds)."""
        return sqlite3.connect(self.database, timeout=30)

    def reset(self) -> str:
        """Empty the server to what a new one holds (the empty ``Default`` experiment); its URL."""
        with contextlib.closing(self.connect()) as connection, connection:
            connection.execute("PRAGMA foreign_keys = OFF")
            tables = [
                name
                for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if name not in _KEPT and not name.startswith("sqlite_")
            ]
            for table in tables:
                if table == "experiments":
                    connection.execute("DELETE FROM experiments WHERE experiment_id <> 0")
                else:
                    connection.execute(f'DELETE FROM "{table}"')
            connection.execute(
                "UPDATE experiments SET name = 'Default', lifecycle_stage = 'active' WHERE experiment_id = 0"
            )
            if connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
                connection.execute("DELETE FROM sqlite_sequence")
        return self.url


@contextlib.contextmanager
def start_mlflow_server(workdir: Path, *, backend: str | None = None) -> Iterator[MlflowServer]:
    """``mlflow server`` on a new SQLite file (or ``backend``) in ``workdir``, artifacts proxied."""
    port, log = free_port(), workdir / "mlflow-server.log"
    url = f"http://127.0.0.1:{port}"
    database = workdir / "mlflow.db"
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", backend or f"sqlite:///{database}",
        "--artifacts-destination", (workdir / "artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip

    def healthy() -> bool:
        urllib.request.urlopen(f"{url}/health", timeout=2).close()
        return True

    # no job runner and its huey consumers (a dozen processes this suite has no use for)
    environment = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with serve_process(
        command, ready=healthy, what="mlflow server", log=log, timeout=120, cwd=workdir, env=environment
    ):
        server = MlflowServer(url, database, workdir / "artifacts")
        SERVERS[url] = server
        try:
            yield server
        finally:
            SERVERS.pop(url, None)
