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
from typing import Any

from servers import ServerStartError, free_port, log_tail, serve_process


def _connect(port: int) -> Any:
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)


@dataclass
class MariaDbServer:
    """A running private MariaDB that accepts ``root`` without a password over TCP."""

    port: int
    base: Path
    process: subprocess.Popen[bytes]

    def database_url(self, name: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{name}"

    def _connect(self) -> Any:
        return _connect(self.port)

    def create_database(self) -> str:
        """A fresh empty utf8mb4 database with a random name; its URL."""
        name = f"mm_{uuid.uuid4().hex[:12]}"
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        finally:
            connection.close()
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database behind ``url``."""
        name = url.rsplit("/", 1)[1]
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            connection.close()

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.base / "error.log", lines)


@contextlib.contextmanager
def start_mariadb() -> Iterator[MariaDbServer]:
    """Run a throw-away MariaDB on 127.0.0.1 (private datadir, no fsync) for the block."""
    install = shutil.which("mariadb-install-db")
    daemon = shutil.which("mariadbd", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if install is None or daemon is None:
        raise ServerStartError("MariaDB not installed (apt-get install mariadb-server)")
    base = Path(tempfile.mkdtemp(prefix="mlmigrate-maria-"))
    data, port = base / "data", free_port()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        result = subprocess.run(
            [install, "--no-defaults", f"--datadir={data}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerStartError(f"mariadb-install-db failed: {result.stderr.decode(errors='replace')}")
        command = [
            daemon, "--no-defaults", f"--datadir={data}", "--user=root", "--bind-address=127.0.0.1",
            f"--port={port}", f"--socket={base}/mysqld.sock", f"--pid-file={base}/mysqld.pid",
            f"--log-error={base}/error.log", "--skip-log-bin", "--skip-name-resolve", "--local-infile=1",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--max-allowed-packet=256M",
        ]  # fmt: skip

        def ready() -> bool:
            _connect(port).close()
            return True

        what, log = f"MariaDB on port {port}", base / "error.log"  # the server's own log; stdout joins it
        process = cleanup.enter_context(serve_process(command, ready=ready, what=what, log=log))
        yield MariaDbServer(port=port, base=base, process=process)
