"""A private MariaDB server for the test suite, started as a direct child process (servers.md §2)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import ServerStartError, free_port, stop_process, wait_until


@dataclass
class MariaDbServer:
    """A running private MariaDB that accepts ``root`` without a password over TCP."""

    port: int
    base: Path
    process: subprocess.Popen[bytes]

    def database_url(self, name: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{name}"

    def _connect(self) -> object:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2)

    def create_database(self) -> str:
        """A fresh empty utf8mb4 database with a random name; its URL."""
        name = f"mm_{uuid.uuid4().hex[:12]}"
        connection = self._connect()
        try:
            with connection.cursor() as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        finally:
            connection.close()  # type: ignore[attr-defined]
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database behind ``url``."""
        name = url.rsplit("/", 1)[1]
        connection = self._connect()
        try:
            with connection.cursor() as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            connection.close()  # type: ignore[attr-defined]

    def log_tail(self, lines: int = 20) -> str:
        log = self.base / "error.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def start_mariadb() -> Iterator[MariaDbServer]:
    """Run a throw-away MariaDB on 127.0.0.1 (private datadir, no fsync) for the block."""
    install = shutil.which("mariadb-install-db")
    daemon = shutil.which("mariadbd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if install is None or daemon is None:
        raise ServerStartError("MariaDB not installed (apt-get install mariadb-server)")
    base = Path(tempfile.mkdtemp(prefix="mlmigrate-maria-"))
    data = base / "data"
    proc: subprocess.Popen[bytes] | None = None
    try:
        result = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
        )
        if result.returncode != 0:
            raise ServerStartError(f"mariadb-install-db failed: {result.stderr.decode(errors='replace')}")
        port = free_port()
        proc = subprocess.Popen(
            [
                daemon,
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                f"--socket={base}/mysqld.sock",
                f"--pid-file={base}/mysqld.pid",
                f"--log-error={base}/error.log",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--local-infile=1",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--max-allowed-packet=256M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = MariaDbServer(port=port, base=base, process=proc)

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServerStartError(f"mariadbd exited with {proc.returncode}:\n{server.log_tail()}")
            server._connect().close()  # type: ignore[attr-defined]
            return True

        wait_until(ready, what=f"MariaDB on port {port}")
        yield server
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(base, ignore_errors=True)
