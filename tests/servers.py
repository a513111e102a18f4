"""Private servers for the test suite, and the one helper that starts, waits for and stops them.

Every server of the suite (PostgreSQL here, MariaDB, MongoDB wire-protocol servers, moto,
the GCS emulator and Azurite in the other ``servers_*`` modules) is run through :func:`serve`
(a server in a thread of this process) or :func:`serve_process` (a direct child process, so
``proc.wait()`` reaps it; PID 1 on the CI machines reaps orphans late). Each listens on a
free loopback port and is gone, folders included, when its block ends.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
Server = TypeVar("Server")


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


@contextlib.contextmanager
def serve(
    start: Callable[[], Server],
    *,
    ready: Callable[[Server], object],
    stop: Callable[[Server], None],
    what: str,
    timeout: float = 30.0,
    folders: Sequence[Path] = (),
) -> Iterator[Server]:
    """Start a server, wait until ``ready(server)`` holds, yield it; stop it and remove
    ``folders`` however the block ends. :class:`ServerStartError` when it does not come up."""
    try:
        server = start()
        try:
            wait_until(lambda: ready(server), timeout=timeout, what=what)
            yield server
        finally:
            stop(server)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def serve_process(
    command: Sequence[str],
    *,
    ready: Callable[[], object],
    what: str,
    log: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    timeout: float = 30.0,
    folders: Sequence[Path] = (),
    **popen: Any,
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`serve` for a server that is a child process running ``command`` (output to
    ``log``, or dropped). A child that exits while it is awaited fails at once, with the
    tail of its log."""

    def start() -> subprocess.Popen[bytes]:
        with contextlib.ExitStack() as files:
            output: Any = files.enter_context(log.open("ab")) if log else subprocess.DEVNULL
            return subprocess.Popen(list(command), stdout=output, stderr=subprocess.STDOUT, **popen)

    def up(process: subprocess.Popen[bytes]) -> object:
        if process.poll() is not None:
            raise ServerStartError(f"{what} exited with {process.returncode}:\n{log_tail(log)}")
        return ready()

    with serve(
        start,
        ready=up,
        stop=lambda process: stop_process(process, stop_signal),
        what=what,
        timeout=timeout,
        folders=folders,
    ) as process:
        yield process


def session_server(
    start: Callable[[], contextlib.AbstractContextManager[Server]], what: str
) -> Iterator[Server]:
    """The body of a session fixture around ``start()``: the server for the session; when it
    cannot start, the fixture's tests skip naming why (a failure under ``CI=true``)."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start())
        except ServerStartError as exc:
            if os.environ.get("CI", "").lower() == "true":
                raise
            pytest.skip(f"{what} not available: {exc}")
        yield server


def log_tail(log: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a server's log (empty when it has none)."""
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class PostgresServer:
    """A running private PostgreSQL cluster that accepts ``postgres`` without a password."""

    port: int
    base: Path
    process: subprocess.Popen[bytes]
    #: how the server process was started, so that it can be started again (a restart)
    command: list[str] = field(default_factory=list)
    popen: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def stop(self) -> None:
        """Shut the server down (fast shutdown: sessions are ended, as in a restart)."""
        stop_process(self.process, signal.SIGINT)

    def start(self) -> None:
        """Start the stopped server again on its port and data, and wait until it answers."""
        with (self.base / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, **self.popen)

        def ready() -> bool:
            import psycopg

            if self.process.poll() is not None:
                raise ServerStartError(f"postgres exited with {self.process.returncode}:\n{self.log_tail()}")
            psycopg.connect(self.url, connect_timeout=1).close()
            return True

        wait_until(ready, what=f"PostgreSQL on port {self.port}")

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
        return log_tail(self.base / "postgres.log", lines)


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
    as_postgres: dict[str, Any] = {
        "user": "postgres",
        "group": "postgres",
        "extra_groups": [],
        "cwd": str(base),
    }
    data, log, port = base / "data", base / "postgres.log", free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def ready() -> bool:
        import psycopg

        psycopg.connect(url, connect_timeout=1).close()
        return True

    def initialised() -> None:
        result = subprocess.run(
            [str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8", "--no-sync"],
            capture_output=True,
            **as_postgres,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerStartError(
                f"initdb failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
            )
        log.touch()
        shutil.chown(log, "postgres", "postgres")

    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        shutil.chown(base, "postgres", "postgres")
        initialised()
        command = [
            str(PG_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(base),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        process = cleanup.enter_context(
            serve_process(
                command,
                ready=ready,
                what=f"PostgreSQL on port {port}",
                log=log,
                stop_signal=signal.SIGINT,  # SIGINT = fast shutdown
                **as_postgres,
            )
        )
        server = PostgresServer(port=port, base=base, process=process, command=command, popen=as_postgres)
        cleanup.callback(server.stop)  # the process running at the end, if a test restarted it
        yield server
