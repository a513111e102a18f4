"""Private database servers for the test suite, started as direct child processes.

A server started here is a child of the pytest process (no ``pg_ctl`` daemon), so
``proc.wait()`` reaps it; PID 1 on the CI machines reaps orphans late.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


class ServerStartError(RuntimeError):
    """A test server could not be started (missing binaries, not root, or it did not come up)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.05, what: str
) -> None:
    """Call ``check`` until it returns a truthy value without raising, or time out."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ServerStartError:
            raise
        except Exception as exc:  # the server is not up yet; remember why
            last = exc
        time.sleep(interval)
    raise ServerStartError(f"{what} not ready after {timeout}s: {last!r}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send ``sig`` to a child process and reap it, killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class PostgresServer:
    """A running private PostgreSQL cluster that accepts ``postgres`` without a password."""

    port: int
    base: Path
    process: subprocess.Popen[bytes]
    command: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Shut the server down (fast shutdown: sessions are ended, as in a restart)."""
        stop_process(self.process, signal.SIGINT)

    def start(self) -> None:
        """Start the stopped server again on its port and data, and wait until it answers."""
        self.process = _spawn_postgres(self.command, self.base)
        wait_until(self._ready, what=f"PostgreSQL on port {self.port}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise ServerStartError(f"postgres exited with {self.process.returncode}:\n{self.log_tail()}")
        import psycopg

        psycopg.connect(self.url, connect_timeout=1).close()
        return True

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self) -> str:
        """Create a fresh empty database with a random name and return its URL."""
        import psycopg

        name = f"mm_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database behind ``url``, disconnecting its remaining sessions."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 20) -> str:
        log = self.base / "postgres.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _spawn_postgres(command: list[str], base: Path) -> subprocess.Popen[bytes]:
    """Start ``postgres`` as the OS user ``postgres``, its output appended to the cluster's log."""
    with open(base / "postgres.log", "ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            user="postgres",
            group="postgres",
            extra_groups=[],
            cwd=str(base),
        )


@contextlib.contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    """Run a throw-away PostgreSQL 15 on 127.0.0.1 (fsync off) for the duration of the block.

    Needs root: ``initdb`` and ``postgres`` refuse to run as root, so both run as the OS user
    ``postgres``. Raises :class:`ServerStartError` when the server cannot be started.
    """
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        raise ServerStartError(f"PostgreSQL binaries not found in {PG_BIN} (set PG_BIN)")
    if os.geteuid() != 0:
        raise ServerStartError("starting PostgreSQL as user 'postgres' needs root")
    base = Path(tempfile.mkdtemp(prefix="mlmigrate-pg-"))
    proc: subprocess.Popen[bytes] | None = None
    server: PostgresServer | None = None
    try:
        shutil.chown(base, "postgres", "postgres")
        as_postgres: dict[str, object] = {
            "user": "postgres",
            "group": "postgres",
            "extra_groups": [],
            "cwd": str(base),
        }
        data = base / "data"
        result = subprocess.run(
            [
                str(initdb),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            **as_postgres,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise ServerStartError(
                f"initdb failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
            )
        port = free_port()
        command = [
            str(PG_BIN / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        (base / "postgres.log").touch()
        shutil.chown(base / "postgres.log", "postgres", "postgres")
        proc = _spawn_postgres(command, base)
        server = PostgresServer(port=port, base=base, process=proc, command=command)
        wait_until(server._ready, what=f"PostgreSQL on port {port}")
        yield server
    finally:
        if server is not None:
            server.stop()
        elif proc is not None:
            stop_process(proc, signal.SIGINT)  # SIGINT = fast shutdown
        shutil.rmtree(base, ignore_errors=True)
